"""Call-backs (OP 3.6, VC 4.2): the book of requested call-backs, pure.

A waiting caller who presses the queue's call-back key (or an API request) gets a call-back that
keeps their place in the queue: the ACD engine keeps it as a waiting "caller" under the
call-back's id (with the original arrival time), so it is offered to an agent when it reaches the
head. The offer rings the agent first; when they answer the PBX dials the customer and joins them.
Rules kept here:
- one open call-back per caller number: a second request updates the first (queue, time);
- up to `max_attempts` attempts to reach the customer, `retry_spacing` seconds apart, then
  "failed" (a manual retry through the API reopens it);
- scheduled call-backs (`due_wall` in the future) join the queue at that time;
- every row is a record for the store and survives a restart.
States: open -> offered -> (done | open again after a failed attempt | failed); open -> cancelled.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

State = Literal["open", "offered", "done", "failed", "cancelled"]
RECORD_KIND = "callback"


@dataclass
class Callback:
    id: str
    number: str
    name: str
    queue: str
    requested_wall: float
    due_wall: float  # when it may be offered (now, or a scheduled time)
    entered_wall: float  # the caller's original arrival: their place in the queue
    state: State = "open"
    attempts: int = 0
    results: list[str] = field(default_factory=list)  # per attempt: answered, no_answer, busy, ...
    agent: str | None = None  # who handled (or is handling) it
    queued: bool = False  # in the ACD engine right now (not persisted: rebuilt after a restart)

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("queued")
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Callback:
        fields = {k: d[k] for k in ("id", "number", "name", "queue", "requested_wall", "due_wall",
                                     "entered_wall")}  # fmt: skip
        cb = cls(**fields)
        cb.state = d.get("state", "open")
        cb.attempts = int(d.get("attempts", 0))
        cb.results = list(d.get("results", []))
        cb.agent = d.get("agent")
        if cb.state == "offered":
            cb.state = "open"  # the daemon stopped during the offer: offer it again
        return cb


@dataclass(frozen=True)
class PersistCallback:
    callback: Callback
    kind: str = RECORD_KIND


class CallbackBook:
    def __init__(self, max_attempts: int = 3, retry_spacing: float = 300.0) -> None:
        self.max_attempts = max_attempts
        self.retry_spacing = retry_spacing
        self.items: dict[str, Callback] = {}
        self.counters = {"requested": 0, "completed": 0, "failed": 0, "cancelled": 0}

    def open_for(self, number: str) -> Callback | None:
        return next(
            (c for c in self.items.values() if c.number == number and c.state in ("open", "offered")), None
        )

    def request(self, number: str, name: str, queue: str, wall: float, entered_wall: float | None = None,
                due_wall: float | None = None) -> tuple[Callback, bool]:  # fmt: skip
        """(the call-back, True if new). One open call-back per number: a second one updates it."""
        cb = self.open_for(number)
        if cb is not None:
            cb.queue = queue
            cb.due_wall = due_wall if due_wall is not None else cb.due_wall
            if name:
                cb.name = name
            return cb, False
        cb = Callback("cb-" + secrets.token_hex(6), number, name, queue, wall,
                      due_wall if due_wall is not None else wall,
                      entered_wall if entered_wall is not None else wall)  # fmt: skip
        self.items[cb.id] = cb
        self.counters["requested"] += 1
        return cb, True

    def due(self, wall: float) -> list[Callback]:
        """Open call-backs that should be in the queue now and are not."""
        return [c for c in self.items.values() if c.state == "open" and not c.queued and c.due_wall <= wall]

    def next_due_wall(self) -> float | None:
        ds = [c.due_wall for c in self.items.values() if c.state == "open" and not c.queued]
        return min(ds) if ds else None

    def attempt_result(self, cb: Callback, result: str, wall: float) -> None:
        """The customer was dialled: answered -> done; else retry later, or failed."""
        cb.queued = False
        cb.attempts += 1
        cb.results.append(result)
        if result == "answered":
            cb.state = "done"
            self.counters["completed"] += 1
        elif cb.attempts >= self.max_attempts:
            cb.state = "failed"
            self.counters["failed"] += 1
        else:
            cb.state, cb.due_wall = "open", wall + self.retry_spacing

    def cancel(self, cb_id: str) -> Callback | None:
        cb = self.items.get(cb_id)
        if cb is None or cb.state in ("done", "cancelled"):
            return None
        cb.state = "cancelled"
        self.counters["cancelled"] += 1
        return cb

    def retry(self, cb_id: str, wall: float) -> Callback | None:
        """A manual retry of a failed call-back: open again, attempts start over."""
        cb = self.items.get(cb_id)
        if cb is None or cb.state != "failed":
            return None
        cb.state, cb.attempts, cb.due_wall = "open", 0, wall
        return cb

    def search(self, number: str | None = None) -> list[Callback]:
        rows = [c for c in self.items.values() if number is None or number in c.number]
        return sorted(rows, key=lambda c: c.requested_wall)

    def planning(self, wall: float, before: float = 4 * 3600, after: float = 12 * 3600) -> list[Callback]:
        """OP/VC planning view: call-backs due from 4 h ago to 12 h ahead."""
        return [c for c in self.search() if wall - before <= c.due_wall <= wall + after]

    def restore(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            try:
                cb = Callback.from_record(r)
            except (KeyError, TypeError, ValueError):
                continue
            self.items[cb.id] = cb
