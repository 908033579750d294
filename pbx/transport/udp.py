"""UDP transport: asyncio's own DatagramProtocol (cheapest per datagram, 7x cheaper again under
uvloop; see docs/design.md). It only moves bytes; everything else happens in the driver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from pbx.sip.addr import Addr

Feed = Callable[[bytes, Addr], None]


_ADDR_CACHE_MAX = 10_000


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.transport: asyncio.DatagramTransport | None = None
        # Addr is immutable and phones send from the same address again and again: one object
        # per source, not one per datagram (bounded: a flood of spoofed sources just clears it).
        self._addrs: dict[tuple[Any, ...], Addr] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport, but has its API.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = self._addrs.get(addr)
        if source is None:
            if len(self._addrs) >= _ADDR_CACHE_MAX:
                self._addrs.clear()
            source = self._addrs[addr] = Addr("udp", addr[0], addr[1])
        self.feed(data, source)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and friends: the transaction layer's timers handle the loss.
        pass


class UdpTransport:
    def __init__(self, host: str, port: int, feed: Feed) -> None:
        self.host = host
        self.port = port
        self.feed = feed
        self.protocol: UdpProtocol | None = None
        self.family_v6 = ":" in host

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: UdpProtocol(self.feed), local_addr=(self.host, self.port)
        )
        self.protocol = protocol
        sock = transport.get_extra_info("sockname")
        self.port = sock[1]

    def send(self, data: bytes, dest: Addr) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.sendto(data, (dest.host, dest.port))

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()
