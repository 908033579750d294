"""Digit detection for one received RTP stream: RFC 4733 events when the peer negotiated
telephone-event, else in-band tones (Goertzel on the decoded G.711), as Asterisk's `dtmfmode=auto`.
"""

from __future__ import annotations

from pbx.media.dtmf import InbandDetector, Rfc4733Decoder
from pbx.media.g711 import decode


class StreamDigits:
    def __init__(self, dtmf_pt: int | None, payload_type: int) -> None:
        self.dtmf_pt = dtmf_pt
        self.codec = "PCMA" if payload_type == 8 else "PCMU"
        self.events = Rfc4733Decoder()
        self.inband = InbandDetector() if dtmf_pt is None else None

    def feed(
        self, payload_type: int, seq: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> list[str]:
        if self.dtmf_pt is not None and payload_type == self.dtmf_pt:
            return [e.digit for e in self.events.feed(seq, timestamp, marker, payload, now)]
        if self.inband is not None and payload_type in (0, 8):
            return [e.digit for e in self.inband.feed(decode(self.codec, payload))]
        return []

    def method(self, payload_type: int) -> str:
        return "rfc4733" if payload_type == self.dtmf_pt else "inband"


def make_detector(dtmf_pt: int | None, payload_type: int) -> StreamDigits:
    return StreamDigits(dtmf_pt, payload_type)
