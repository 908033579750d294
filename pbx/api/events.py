"""Live events for consoles and wallboards: `GET /api/events` as Server-Sent Events.

The daemon publishes what the cores report (call started/answered/ended, hotdesk logins and
logouts, PIN lockouts, agent status changes, queue joins/answers/abandons, call-backs) as small
JSON objects. Each subscriber has its own bounded queue: a console that stops reading loses the
oldest events (and is told how many), it never slows the PBX down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
from collections.abc import AsyncIterator
from typing import Any

QUEUE_SIZE = 1000

# effect class name -> event type on the wire
EVENT_TYPES = {
    "CallStarted": "call.started",
    "CallAnswered": "call.answered",
    "CallEnded": "call.ended",
    "CallRejected": "call.rejected",
    "SessionStarted": "hotdesk.login",
    "SessionEnded": "hotdesk.logout",
    "LockedOut": "hotdesk.lockout",
    "AgentChanged": "agent.status",
    "Queued": "queue.position",
    "CallerAnswered": "queue.answered",
    "CallerAbandoned": "queue.abandoned",
    "PersistCallback": "callback.changed",
}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def to_event(effect: object) -> dict[str, Any] | None:
    """The wire form of an effect worth publishing, or None."""
    kind = EVENT_TYPES.get(type(effect).__name__)
    if kind is None:
        return None
    if kind == "callback.changed":
        record = effect.callback.record()  # type: ignore[attr-defined]
        return {"type": kind, **record}
    body = _plain(effect)
    assert isinstance(body, dict)
    return {"type": kind, **body}


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.published = 0
        self.dropped = 0

    def publish(self, event: dict[str, Any]) -> None:
        self.published += 1
        for q in self._subscribers:
            if q.full():
                q.get_nowait()  # the oldest goes: a slow console must not hold the PBX back
                self.dropped += 1
            q.put_nowait(event)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def stream(self, types: set[str] | None, keepalive: float = 15.0) -> AsyncIterator[str]:
        """SSE lines: `event: <type>` + `data: <json>`; a comment every `keepalive` s of silence."""
        q = self.subscribe()
        try:
            yield ": connected\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(q.get(), keepalive)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                kind = str(event.get("type", ""))
                if types and not any(kind == t or kind.startswith(t + ".") for t in types):
                    continue
                yield f"event: {kind}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
        finally:
            self.unsubscribe(q)
