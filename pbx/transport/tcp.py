"""TCP transport (RFC 3261 section 18.3): a byte stream framed by Content-Length.

Connections are indexed by the peer's address so a response goes back on the connection its
request came in on (RFC 3261 18.2.2); a request to a peer we have no connection to opens one.
A peer that sends garbage or an oversized head is disconnected: on a stream there is no way to
find the next message after a framing error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import cast

from pbx.sip.addr import Addr

Feed = Callable[[bytes, Addr], None]
MAX_HEAD = 16384
MAX_BUFFER = 262144


def frame(buf: bytearray) -> bytes | bool | None:
    """Cut one message off the front of `buf`. None: need more bytes. False: unframeable."""
    while buf[:2] == b"\r\n":  # keep-alive CRLFs (RFC 5626 4.4.1)
        del buf[:2]
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False if len(buf) > MAX_HEAD else None
    head = bytes(buf[:end]).lower()
    length = 0
    for line in head.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip() in (b"content-length", b"l"):
            v = value.strip()
            if not v.isdigit() or len(v) > 7:
                return False
            length = int(v)
    total = end + 4 + length
    if total > MAX_BUFFER:
        return False
    if len(buf) < total:
        return None
    msg = bytes(buf[:total])
    del buf[:total]
    return msg


class TcpConnection(asyncio.Protocol):
    def __init__(self, owner: TcpTransport) -> None:
        self.owner = owner
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Addr("tcp", host, port)
        self.owner.connections[self.peer] = self

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            msg = frame(self.buf)
            if msg is None:
                return
            if msg is False:
                if self.transport is not None:
                    self.transport.close()
                return
            assert isinstance(msg, bytes) and self.peer is not None
            self.owner.feed(msg, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.owner.connections.get(self.peer) is self:
            del self.owner.connections[self.peer]


class TcpTransport:
    def __init__(self, host: str, port: int, feed: Feed) -> None:
        self.host = host
        self.port = port
        self.feed = feed
        self.connections: dict[Addr, TcpConnection] = {}
        self.server: asyncio.Server | None = None
        self.family_v6 = ":" in host
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: TcpConnection(self), self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    def send(self, data: bytes, dest: Addr) -> None:
        conn = self.connections.get(dest)
        if conn is not None and conn.transport is not None and not conn.transport.is_closing():
            conn.transport.write(data)
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(data, dest))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _connect_and_send(self, data: bytes, dest: Addr) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: TcpConnection(self), dest.host, dest.port), 5.0
            )
            if conn.transport is not None:
                conn.transport.write(data)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for c in list(self.connections.values()):
            if c.transport is not None:
                c.transport.close()
