"""SIP INFO DTMF bodies: application/dtmf-relay and application/dtmf."""

from __future__ import annotations

import pytest

from pbx.media.dtmf import DTMF, DTMF_RELAY, DigitEvent, parse_info, render_info


@pytest.mark.parametrize(
    "ctype, body, digit, ms",
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5", 160),
        ("Application/DTMF-Relay", b"signal= #\nduration = 100", "#", 100),
        ("application/dtmf-relay", b"Signal=*\r\n", "*", 250),  # no duration: the default
        ("application/dtmf-relay", b"Signal=10\r\nDuration=90\r\n", "*", 90),  # event code
        ("application/dtmf-relay", b"Signal=11\r\nDuration=abc\r\n", "#", 250),
        ("application/dtmf-relay", b"Signal=a\r\nDuration=200\r\n", "A", 200),
        ("application/dtmf-relay;charset=us-ascii", b"Signal=0\r\nDuration=250\r\n", "0", 250),
        ("application/dtmf", b"5", "5", 250),
        ("application/dtmf", b"11\r\n", "#", 250),
    ],
)
def test_parse(ctype: str, body: bytes, digit: str, ms: int) -> None:
    assert parse_info(ctype, body) == DigitEvent(digit, None, ms * 8, "info")


@pytest.mark.parametrize(
    "ctype, body",
    [
        ("application/dtmf-relay", b"Duration=160\r\n"),
        ("application/dtmf-relay", b"Signal=x\r\n"),
        ("application/dtmf-relay", b"Signal=99\r\n"),
        ("application/dtmf-relay", b"Signal=\xff\r\n"),
        ("application/dtmf", b""),
        ("application/sdp", b"v=0\r\n"),
    ],
)
def test_parse_refuses(ctype: str, body: bytes) -> None:
    assert parse_info(ctype, body) is None


def test_render_round_trips() -> None:
    for d in "0123456789*#ABCD":
        assert parse_info(DTMF_RELAY, render_info(d, 120)) == DigitEvent(d, None, 960, "info")
        ev = parse_info(DTMF, render_info(d, content_type=DTMF))
        assert ev is not None and ev.digit == d
    assert render_info("5", 160) == b"Signal=5\r\nDuration=160\r\n"
    with pytest.raises(ValueError):
        render_info("x")
    with pytest.raises(ValueError):
        render_info("1", content_type="text/plain")
