"""RTP port allocation: even ports from a configured range (RTCP takes the odd one above).

The shell may plug in `reserve`/`unreserve`: reserving binds the port pair at once (so a port
another process holds is skipped, and the SDP never names a port we cannot use); without them
(pure tests) every port counts as usable.
"""

from __future__ import annotations

from collections.abc import Callable


class PortsExhausted(Exception):
    pass


class PortPool:
    """Hands out even ports round-robin, so a just-released port is not reused at once (late
    packets of the old session must not land in a new one)."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low % 2)
        self.ports = list(range(first, high, 2))  # high - 1 must stay free for the last RTCP
        self.free = set(self.ports)
        self._next = 0
        self.reserve: Callable[[int], bool] | None = None
        self.unreserve: Callable[[int], None] | None = None
        self.busy_skipped = 0  # ports another process held when we wanted them

    def allocate(self) -> int:
        n = len(self.ports)
        for i in range(n):
            port = self.ports[(self._next + i) % n]
            if port in self.free:
                if self.reserve is not None and not self.reserve(port):
                    self.busy_skipped += 1
                    continue
                self.free.discard(port)
                self._next = (self._next + i + 1) % n
                return port
        raise PortsExhausted(f"all {n} RTP ports are in use")

    def release(self, port: int) -> None:
        if port in self.ports:
            self.free.add(port)
            if self.unreserve is not None:
                self.unreserve(port)

    def in_use(self) -> int:
        return len(self.ports) - len(self.free)
