"""Transport addresses and where responses go (RFC 3261 section 18.2.2, RFC 3581 rport)."""

from __future__ import annotations

from dataclasses import dataclass

from pbx.sip.headers import Via


@dataclass(frozen=True, slots=True)
class Addr:
    """A peer's transport address. `transport` is lower case: "udp" or "tcp"."""

    transport: str
    host: str  # no IPv6 brackets
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport}:{h}:{self.port}"


def response_destination(via: Via, source: Addr) -> Addr:
    """Where to send a response to a request that arrived from `source` with top Via `via`.

    Over a reliable transport, back on the connection it came from (the shell maps the source
    address to that connection). Over UDP: with `rport`, to the source address and port; otherwise
    to the source IP (it is what `received` would say) at the Via's port. A `maddr` is ignored: we
    never multicast and never send to a host the peer merely names.
    """
    if source.reliable or via.rport is not None:
        return source
    return Addr(source.transport, source.host, via.port or 5060)
