"""Effects the SIP layer asks the shell to carry out. Frozen, so tests compare lists of them."""

from __future__ import annotations

from dataclasses import dataclass

from pbx.sip.addr import Addr


@dataclass(frozen=True, slots=True)
class Send:
    """Send these bytes to `dest` (UDP datagram, or over the TCP connection to/from `dest`)."""

    data: bytes
    dest: Addr
