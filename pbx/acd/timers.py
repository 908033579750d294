"""The engine's deadlines: one min-heap of (when, seq, kind, key) with lazy deletion.

Entries are never removed when their reason goes away; the engine checks on pop whether the
deadline still stands (the offer still rings with that deadline, the wrap-up still ends then),
which keeps every change O(log n) and the heap free of bookkeeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from enum import Enum


class Kind(Enum):
    RING = "ring"  # key: (call_id, agent)
    MAX_WAIT = "max_wait"  # key: call_id
    REST = "rest"  # key: call_id; retry delay over
    STEP = "step"  # key: call_id; ring_progressive adds an agent
    ANNOUNCE = "announce"  # key: call_id
    WRAPUP = "wrapup"  # key: agent


Key = str | tuple[str, str]


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Kind, Key]] = []
        self._seq = itertools.count()

    def add(self, when: float, kind: Kind, key: Key) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), kind, key))

    def next(self, valid: Callable[[float, Kind, Key], bool]) -> float | None:
        while self._heap:
            when, _, kind, key = self._heap[0]
            if valid(when, kind, key):
                return when
            heapq.heappop(self._heap)
        return None

    def pop_due(self, now: float) -> tuple[float, Kind, Key] | None:
        if self._heap and self._heap[0][0] <= now:
            when, _, kind, key = heapq.heappop(self._heap)
            return when, kind, key
        return None

    def __len__(self) -> int:
        return len(self._heap)
