"""REFER, Replaces and sipfrag parsing on raw wire bytes (RFC 3515, RFC 3891, RFC 3420)."""

from __future__ import annotations

import pytest

from pbx.sip.errors import SipParseError
from pbx.sip.message import Request
from pbx.sip.parser import parse
from pbx.sip.refer import (
    Replaces,
    parse_refer,
    parse_replaces,
    refer_notify_headers,
    refer_to_value,
    sipfrag,
)


def _refer(*extra: str) -> Request:
    head = [
        "REFER sip:pbx@127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-r1",
        "From: <sip:201@127.0.0.1>;tag=a",
        "To: <sip:202@127.0.0.1>;tag=b",
        "Call-ID: c1",
        "CSeq: 3 REFER",
        "Max-Forwards: 70",
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse("\r\n".join(head).encode())
    assert isinstance(msg, Request)
    return msg


def test_blind_refer_target() -> None:
    ref = parse_refer(_refer("Refer-To: <sip:203@127.0.0.1>", "Referred-By: <sip:201@127.0.0.1>"))
    assert ref.target.uri.user == "203"
    assert ref.replaces is None
    assert ref.referred_by is not None and ref.referred_by.uri.user == "201"


def test_compact_refer_to() -> None:
    assert parse_refer(_refer("r: sip:204@127.0.0.1")).target.uri.user == "204"


def test_attended_refer_embeds_replaces() -> None:
    rep = Replaces("abc@host", "tt", "ff")
    value = refer_to_value("sip:203@127.0.0.1", rep)
    assert "Replaces=abc%40host%3Bto-tag%3Dtt%3Bfrom-tag%3Dff" in value
    ref = parse_refer(_refer(f"Refer-To: {value}"))
    assert ref.replaces == rep
    assert ref.target.uri.text == "sip:203@127.0.0.1"  # URI headers stripped from the target
    assert ref.target.uri.user == "203"


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("Refer-To: <sip:203@127.0.0.1>", "Refer-To: <sip:204@127.0.0.1>"),
        ("Refer-To: <sip:203@127.0.0.1>, <sip:204@127.0.0.1>",),
        ("Refer-To: <sip:203@127.0.0.1",),
        ("Refer-To: <sip:203@127.0.0.1?Replaces=abc%3Bto-tag%3Dx>",),  # Replaces without from-tag
    ],
)
def test_bad_refer_to_is_400(extra: tuple[str, ...]) -> None:
    with pytest.raises(SipParseError) as exc:
        parse_refer(_refer(*extra))
    assert exc.value.status_hint == 400


def test_replaces_header_forms() -> None:
    r = parse_replaces("98732@sip.example.com ; from-tag=r33th4x0r;to-tag=ff87ff;early-only")
    assert r == Replaces("98732@sip.example.com", "ff87ff", "r33th4x0r", True)
    assert parse_replaces(r.render()) == r
    for bad in ("", ";to-tag=a;from-tag=b", "x;to-tag=a", "x;from-tag=b"):
        with pytest.raises(SipParseError):
            parse_replaces(bad)


def test_sipfrag_and_notify_headers() -> None:
    assert sipfrag(100) == b"SIP/2.0 100 Trying\r\n"
    assert sipfrag(486) == b"SIP/2.0 486 Busy Here\r\n"
    assert sipfrag(603, "Nope") == b"SIP/2.0 603 Nope\r\n"
    active = dict(refer_notify_headers(3, final=False))
    assert active["Event"] == "refer;id=3" and active["Subscription-State"].startswith("active")
    done = dict(refer_notify_headers(3, final=True))
    assert done["Subscription-State"].startswith("terminated")
    assert done["Content-Type"] == "message/sipfrag;version=2.0"
