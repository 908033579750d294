"""RTP/RTCP packets: build, parse, and what is not RTP."""

from __future__ import annotations

import struct

import pytest

from pbx.media.rtp import RtpError, build_rtp, build_sender_report, is_rtcp, parse_rtp


def test_round_trip_with_marker_and_wrapping_fields() -> None:
    data = build_rtp(0, 0x1_0005, 0x1_0000_0007, 0xDEADBEEF, b"\xff" * 160, marker=True)
    p = parse_rtp(data)
    assert (p.payload_type, p.seq, p.timestamp, p.ssrc, p.marker) == (0, 5, 7, 0xDEADBEEF, True)
    assert p.payload == b"\xff" * 160 and len(data) == 172


def test_csrc_extension_and_padding_are_skipped() -> None:
    head = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 1, 8, 1, 2, 3)  # padding, extension, 1 CSRC
    data = head + b"CSRC" + struct.pack("!HH", 0xBEDE, 1) + b"EXT!" + b"audio" + b"\x00\x00\x03"
    assert parse_rtp(data).payload == b"audio"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80" * 11,
        b"\x40" + b"\x00" * 11,
        build_sender_report(1, 0.0, 0, 0, 0),
        struct.pack("!BBHII", 0xA0, 0, 1, 2, 3) + b"ab\x09",
    ],
    ids=["empty", "short", "version 1", "rtcp", "padding too long"],
)
def test_not_rtp(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_sender_report() -> None:
    sr = build_sender_report(0x01020304, 1_700_000_000.5, 1234, 10, 1600)
    assert is_rtcp(sr) and len(sr) == 28 and sr[1] == 200
    _v, _pt, length, ssrc, hi, lo, ts, pkts, octets = struct.unpack("!BBHIIIIII", sr)
    assert (length, ssrc, ts, pkts, octets) == (6, 0x01020304, 1234, 10, 1600)
    assert hi == 1_700_000_000 + 2208988800 and lo == 1 << 31
    assert not is_rtcp(build_rtp(0, 1, 2, 3, b"x"))
