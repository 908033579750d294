"""HistoryRecorder: call events in, `PersistHistory` rows out (and call metrics on the way).

How it works. CallStarted opens a record of the call (who called, whom the PBX rang); CallRinging
and CallAnswered fill it in; CallEnded closes it and yields the rows: one `out` row for a caller
who is a user, and `in` rows for the users rung: when the call was answered, only the user whose
device answered (a forked call's row names that device); when it was not, every user rung (a
missed call for each). A user who calls their own extension gets one `internal` row. CallRejected
(a call refused before any phone rang) yields the caller's row only.

The ACD's Disposition (an agent's *48*<code> or the API) goes into that agent's rows of the call:
kept for the row while the call is open, else a SetDisposition for the rows already stored.

Names come from a `Directory`: today the configured users, later the phonebooks too (SPEC
section 1), which only need another Directory. The recorder also feeds `CallStats`, so
`pbx_calls_total{result}` counts exactly the results history shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pbx.acd.effects import CallerAnswered, Disposition
from pbx.calls.call import CallAnswered, CallEnded, CallRejected, CallRinging, CallStarted
from pbx.config import Config
from pbx.history.model import Direction, HistoryRow, PersistHistory, SetDisposition, result_of
from pbx.stats import CallStats

CALL_EVENTS = (CallStarted, CallRinging, CallAnswered, CallEnded, CallRejected)  # a tuple: cheap isinstance


class Directory(Protocol):
    """Who is who: the seam where phonebooks (internal, external, personal) plug in later."""

    def is_user(self, number: str) -> bool: ...

    def name_of(self, number: str) -> str | None: ...

    def user_of_device(self, device: str) -> str | None: ...


class ConfigDirectory:
    """Users and devices from the config; reads it on each lookup so a reload is seen at once."""

    def __init__(self, config: Callable[[], Config]) -> None:
        self.config = config

    def is_user(self, number: str) -> bool:
        return self.config().user(number) is not None

    def name_of(self, number: str) -> str | None:
        user = self.config().user(number)
        return user.name or None if user is not None else None

    def user_of_device(self, device: str) -> str | None:
        cfg = self.config()
        d = cfg.device(device)
        if d is not None and d.user is not None:
            return d.user
        return device if cfg.user(device) is not None else None


@dataclass
class _Open:
    """What is known of a call between CallStarted and CallEnded."""

    started: CallStarted
    rang: bool = False
    answered: CallAnswered | None = None
    queue_wait: float | None = None  # seconds in queue before the answer (ACD calls)
    dispositions: dict[str, str] = field(default_factory=dict)  # agent -> code, set during the call


class HistoryRecorder:
    def __init__(self, directory: Directory, stats: CallStats | None = None) -> None:
        self.directory = directory
        self.stats = stats if stats is not None else CallStats()
        self._open: dict[str, _Open] = {}

    def open_calls(self) -> int:
        return len(self._open)

    def process(self, effects: Iterable[object]) -> list[object]:
        """The effects of one step with a PersistHistory after each event that closes a call."""
        out: list[object] = []
        for e in effects:
            out.append(e)
            if isinstance(e, CALL_EVENTS):
                out.extend(self.observe(e))
            elif isinstance(e, CallerAnswered):
                rec = self._open.get(e.call_id)
                if rec is not None:
                    rec.queue_wait = round(e.waited, 3)
            elif isinstance(e, Disposition):
                rec = self._open.get(e.call_id)
                if rec is not None:
                    rec.dispositions[e.agent] = e.code
                else:
                    out.append(SetDisposition(e.call_id, e.agent, e.code))
        return out

    def observe(
        self, event: CallStarted | CallRinging | CallAnswered | CallEnded | CallRejected
    ) -> list[PersistHistory]:
        match event:
            case CallStarted():
                self._open[event.call_id] = _Open(event)
            case CallRinging():
                rec = self._open.get(event.call_id)
                if rec is not None and not rec.rang:
                    rec.rang = True
                    self.stats.set_up("ringing", event.setup)
            case CallAnswered():
                rec = self._open.get(event.call_id)
                if rec is not None and rec.answered is None:
                    rec.answered = event
                    self.stats.set_up("answer", event.setup)
            case CallEnded():
                rec = self._open.pop(event.call_id, None)
                if rec is not None:
                    return self._close(rec, event)
            case CallRejected():
                return self._rejected(event)
        return []

    # --- rows --------------------------------------------------------------------------------
    def _close(self, rec: _Open, ended: CallEnded) -> list[PersistHistory]:
        s, ans = rec.started, rec.answered
        result = result_of(ended.reason, ans is not None, rec.rang)
        self.stats.ended(result)
        d = self.directory
        answer = ans.wall if ans is not None else None
        duration = max(0.0, ended.wall - ans.wall) if ans is not None else 0.0
        answered_by = d.user_of_device(ans.device) if ans is not None else None

        callees = list(dict.fromkeys(self._rung(s)))
        caller_is_user = s.direction != "inbound" and d.is_user(s.caller)
        rows: list[HistoryRow] = []

        def row(user: str, direction: Direction, other: str, other_name: str | None,
                device: str | None) -> HistoryRow:  # fmt: skip
            return HistoryRow(
                id=f"{s.call_id}-{user}-{direction}", call_id=s.call_id, user=user, direction=direction,
                other_number=other, other_name=other_name, device=device, start=s.wall, answer=answer,
                end=ended.wall, duration=duration, queue_wait=rec.queue_wait, result=result,
                did=s.did if s.direction == "inbound" else None, recorded=False,
                disposition=rec.dispositions.get(user),
            )  # fmt: skip

        if caller_is_user:
            if s.caller in callees:
                callees.remove(s.caller)  # a user calling their own extension (another device)
                rows.append(row(s.caller, "internal", s.callee, d.name_of(s.caller), s.caller_device or None))
            else:
                rows.append(row(s.caller, "out", s.callee, self._callee_name(s, callees),
                                s.caller_device or None))  # fmt: skip
        if ans is not None:
            callees = [u for u in callees if u == answered_by]
            if not callees and answered_by is not None and answered_by != s.caller:
                callees = [answered_by]  # rang as a device (ring_device): the user on it answered
        caller_name = s.caller_name or d.name_of(s.caller)
        for user in callees:
            device = ans.device if ans is not None else None
            rows.append(row(user, "in", s.caller, caller_name, device))
        return [PersistHistory(r) for r in rows]

    def _rung(self, s: CallStarted) -> list[str]:
        users = list(s.users)
        # A call from the API (originate) rings the caller's own phones first: those are listed
        # in `devices` along with the caller's device, and are not the people called. (A user
        # calling their own extension never rings the device they call from.)
        own = s.caller_device != "" and s.caller_device in s.devices
        for dev in s.devices:
            u = self.directory.user_of_device(dev)
            if u is not None and not (own and u == s.caller):
                users.append(u)
        if not users and s.direction != "outbound" and self.directory.is_user(s.callee):
            users.append(s.callee)  # an older emitter that does not say whom it rang
        return users

    def _callee_name(self, s: CallStarted, callees: list[str]) -> str | None:
        name = self.directory.name_of(s.callee)
        if name is None and len(callees) == 1:
            name = self.directory.name_of(callees[0])
        return name

    def _rejected(self, e: CallRejected) -> list[PersistHistory]:
        result = f"rejected:{e.status}"
        self.stats.ended(result)
        if e.direction == "inbound" or not self.directory.is_user(e.caller):
            return []
        row = HistoryRow(
            id=f"{e.call_id}-{e.caller}-out", call_id=e.call_id, user=e.caller, direction="out",
            other_number=e.callee, other_name=self.directory.name_of(e.callee),
            device=e.caller_device or None, start=e.wall, answer=None, end=e.wall, duration=0.0,
            queue_wait=None, result=result, did=None, recorded=False,
        )  # fmt: skip
        return [PersistHistory(row)]
