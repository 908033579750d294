"""RTP and RTCP packets (RFC 3550): building and parsing, nothing else.

Only what a PBX that plays prompts and listens for digits needs: the fixed RTP header (no CSRC
lists or extensions are sent; received ones are skipped), and a minimal RTCP sender report with
no report blocks (RFC 3550 6.4.1), sent so that phones and firewalls see a live session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")
_SR = struct.Struct("!BBHIIIIII")
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


class RtpError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def build_rtp(
    payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False
) -> bytes:
    return (
        _HEADER.pack(
            RTP_VERSION << 6,
            (0x80 if marker else 0) | (payload_type & 0x7F),
            seq & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc & 0xFFFFFFFF,
        )
        + payload
    )


def parse_rtp(data: bytes) -> RtpPacket:
    """One RTP packet; RtpError for anything that is not one (RTCP on the RTP port included)."""
    if len(data) < 12:
        raise RtpError("shorter than an RTP header")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        raise RtpError("not RTP version 2")
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        raise RtpError("RTCP on the RTP port")  # RFC 5761 4: these types are RTCP's
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            raise RtpError("truncated header extension")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
    end = len(data)
    if b0 & 0x20:  # padding: the last octet counts the padding octets
        if end == 0 or data[-1] == 0 or data[-1] > end - offset:
            raise RtpError("bad padding")
        end -= data[-1]
    if offset > end:
        raise RtpError("truncated packet")
    return RtpPacket(pt, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[offset:end]))


def ntp_timestamp(wall: float) -> tuple[int, int]:
    seconds = int(wall) + NTP_EPOCH_OFFSET
    fraction = int((wall - int(wall)) * (1 << 32)) & 0xFFFFFFFF
    return seconds & 0xFFFFFFFF, fraction


def build_sender_report(ssrc: int, wall: float, rtp_timestamp: int, packets: int, octets: int) -> bytes:
    """RTCP SR without report blocks (RFC 3550 6.4.1): what we sent, as of `wall`."""
    ntp_hi, ntp_lo = ntp_timestamp(wall)
    length_words = _SR.size // 4 - 1
    return _SR.pack(
        RTP_VERSION << 6, 200, length_words, ssrc & 0xFFFFFFFF, ntp_hi, ntp_lo,
        rtp_timestamp & 0xFFFFFFFF, packets & 0xFFFFFFFF, octets & 0xFFFFFFFF,
    )  # fmt: skip


def is_rtcp(data: bytes) -> bool:
    return len(data) >= 8 and data[0] >> 6 == RTP_VERSION and 200 <= data[1] <= 206
