"""The daemon's one clock (synapse-style chokepoint): monotonic `now` for deadlines and wall time
for timestamps. Nothing else in the package reads the time; tests use `FakeClock`."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told to. `wall` keeps a fixed offset to `now`."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_800_000_000.0) -> None:
        self.t = start
        self.offset = wall_offset

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.t + self.offset

    def set(self, t: float) -> None:
        self.t = t
