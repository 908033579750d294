"""Wrong-PIN counting and lockouts, per user and per source address (pure; times are monotonic).

How it works: every wrong PIN (an unknown extension counts too, against the source only) adds one
to the user's counter and to the source's. A counter that reaches `max_failures` locks its key for
`lockout_seconds`: a locked user cannot log in from anywhere, a locked source cannot log anyone
in. While locked, PINs are not even checked, so a lockout cannot be used as an oracle. A success
resets both counters. Failures are consecutive, not windowed: a counter is forgotten once
`lockout_seconds` pass without a new failure, and when its lockout is lifted. Lockouts expire
through a min-heap of (deadline, key) with lazy deletion, as the registrar's bindings do.

A source address is what the shell says it is (the phone's IP). Phones behind one NAT share it,
so an office can lock itself out by mistyping: `unlock` (the API) lifts a lockout by hand.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from pbx.hotdesk.model import LockedOut, LockKind, Lockout, LockoutLifted

Key = tuple[LockKind, str]


@dataclass(slots=True)
class _Counter:
    failures: int = 0
    last: float = 0.0  # monotonic time of the last failure
    locked_since: float | None = None
    locked_until: float | None = None


class PinLimiter:
    def __init__(self, max_failures: int = 5, lockout_seconds: float = 300) -> None:
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._counters: dict[Key, _Counter] = {}
        self._heap: list[tuple[float, int, LockKind, str]] = []
        self._seq = itertools.count()
        self.failures_total = 0
        self.lockouts_total = 0

    def configure(self, max_failures: int, lockout_seconds: float) -> None:
        """New limits (config reload); lockouts already running keep their end."""
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds

    @staticmethod
    def _keys(user: str | None, source: str | None) -> list[Key]:
        keys: list[Key] = []
        if user is not None:
            keys.append((LockKind.USER, user))
        if source is not None:
            keys.append((LockKind.SOURCE, source))
        return keys

    def _locked(self, key: Key, now: float) -> bool:
        c = self._counters.get(key)
        return c is not None and c.locked_until is not None and c.locked_until > now

    def locked(self, user: str | None, source: str | None, now: float) -> bool:
        return any(self._locked(k, now) for k in self._keys(user, source))

    def failed(self, user: str | None, source: str | None, now: float) -> list[LockedOut]:
        """Count one wrong PIN; the lockouts it starts."""
        self.failures_total += 1
        out: list[LockedOut] = []
        for key in self._keys(user, source):
            if self._locked(key, now):
                continue
            c = self._counters.get(key)
            if c is None or c.locked_until is not None or now - c.last >= self.lockout_seconds:
                # new, or a lockout that ran out (its timer may not have fired yet), or stale
                c = self._counters[key] = _Counter()
            c.failures += 1
            c.last = now
            if c.failures >= self.max_failures:
                c.locked_since, c.locked_until = now, now + self.lockout_seconds
                self.lockouts_total += 1
                out.append(LockedOut(key[0], key[1], c.locked_until))
                self._push(c.locked_until, key)
            else:
                self._push(now + self.lockout_seconds, key)
        return out

    def succeeded(self, user: str | None, source: str | None, now: float) -> None:
        for key in self._keys(user, source):
            if key in self._counters and not self._locked(key, now):
                del self._counters[key]

    def unlock(self, kind: LockKind, key: str) -> bool:
        """Lift a lockout (and forget the count) by hand; False if `key` was not locked."""
        c = self._counters.pop((kind, key), None)
        return c is not None and c.locked_until is not None

    def forget_user(self, user: str) -> None:
        self._counters.pop((LockKind.USER, user), None)

    def _push(self, when: float, key: Key) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), key[0], key[1]))

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def on_timer(self, now: float) -> list[LockoutLifted]:
        out: list[LockoutLifted] = []
        while self._heap and self._heap[0][0] <= now:
            _, _, kind, name = heapq.heappop(self._heap)
            key = (kind, name)
            c = self._counters.get(key)
            if c is None:
                continue
            if c.locked_until is not None:
                if c.locked_until <= now:
                    del self._counters[key]
                    out.append(LockoutLifted(kind, name))
            elif now - c.last >= self.lockout_seconds:
                del self._counters[key]
        return out

    def lockouts(self, now: float) -> list[Lockout]:
        return sorted(
            (
                Lockout(k[0], k[1], c.locked_since, c.locked_until)
                for k, c in self._counters.items()
                if c.locked_since is not None and c.locked_until is not None and c.locked_until > now
            ),
            key=lambda lk: (lk.kind.value, lk.key),
        )

    def failures(self, kind: LockKind, key: str, now: float) -> int:
        """Wrong PINs counted against `key` right now (0 once forgotten)."""
        c = self._counters.get((kind, key))
        if c is None or (c.locked_until is None and now - c.last >= self.lockout_seconds):
            return 0
        return c.failures
