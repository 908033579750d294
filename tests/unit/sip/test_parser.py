"""Parser tests on raw wire bytes, including every RFC 4475 / RFC 5118 torture message."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.message import Request, Response
from pbx.sip.parser import parse, parse_request_head_for_reply

FIX = Path(__file__).parents[2] / "fixtures"

# Expected parser outcome per file: None = parses; an int = SipParseError with that status hint.
# Application-level answers (416, 420, 415, 401, 406) are checked in the core tests: these messages
# are well-formed and must parse.
RFC4475 = {
    "wsinv": None, "intmeth": None, "esc01": None, "escnull": None, "esc02": None,
    "lwsdisp": None, "longreq": None, "dblreq": None, "semiuri": None, "transports": None,
    "mpart01": None, "unreason": None, "noreason": None,
    "badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": 400, "quotbal": 400,
    "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "escruri": 400, "baddate": 400,
    "regbadct": 400, "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400,
    "mismatch02": 400, "bigcode": 400,
    "trws": 400,  # RFC 4475 3.1.2.18 allows rejecting trailing whitespace in the request line
    "badbranch": None, "insuf": 400, "unkscm": None, "novelsc": None, "unksm2": None,
    "bext01": None, "invut": None, "regaut01": None, "multi01": 400, "mcl01": 400,
    "bcast": None, "zeromf": None, "cparam01": None, "cparam02": None, "regescrt": None,
    "sdp01": None, "inv2543": None,
}  # fmt: skip
RFC5118 = {
    "ipv6-good": None, "ipv4-mapped-ipv6": None, "ipv6-correct-abnf-2-colons": None,
    "port-unambiguous": None, "via-received-param-with-delim": None,
    "via-received-param-no-delim": None, "mult-ip-in-header": None, "mult-ip-in-sdp": None,
    "ipv6-in-sdp": None, "ipv6-bad": 400, "ipv6-bug-abnf-3-colons": 400, "port-ambiguous": None,
}  # fmt: skip


def test_every_fixture_has_an_expectation() -> None:
    assert {p.stem for p in (FIX / "rfc4475").glob("*.dat")} == set(RFC4475)
    assert {p.name for p in (FIX / "rfc5118").iterdir()} == set(RFC5118)


@pytest.mark.parametrize(
    "path, expected",
    [(FIX / "rfc4475" / f"{k}.dat", v) for k, v in RFC4475.items()]
    + [(FIX / "rfc5118" / k, v) for k, v in RFC5118.items()],
    ids=lambda x: x.name if isinstance(x, Path) else str(x),
)
def test_torture_message(path: Path, expected: int | None) -> None:
    data = path.read_bytes()
    if expected is None:
        msg = parse(data)
        again = parse(msg.render())  # what we render, we parse back to the same message
        assert type(again) is type(msg)

        def strip(m: Request | Response) -> list[tuple[str, str]]:
            return [kv for kv in m.headers if kv[0] != "content-length"]

        assert strip(again) == strip(msg)
        assert again.body == msg.body
    else:
        with pytest.raises(SipParseError) as e:
            parse(data)
        assert e.value.status_hint == expected


def test_wsinv_details() -> None:
    msg = parse((FIX / "rfc4475" / "wsinv.dat").read_bytes())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.cseq.number == 9 and msg.cseq.method == "INVITE"
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.vias[1].branch == "z9hG4bK9ikj8"
    assert msg.to.tag == "1918181833n"
    assert msg.from_.display == '"J Rosenberg \\\\\\""'
    assert len(msg.body) == 150


def test_dblreq_ignores_octets_after_content_length() -> None:
    msg = parse((FIX / "rfc4475" / "dblreq.dat").read_bytes())
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""


def test_compact_and_case_insensitive_names() -> None:
    msg = parse((FIX / "rfc4475" / "esc01.dat").read_bytes())
    assert msg.call_id.startswith("esc01.")
    assert msg.headers.get("content-type") == "application/sdp"
    assert msg.contacts[0].uri.text == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"


def test_ipv6_references() -> None:
    msg = parse((FIX / "rfc5118" / "via-received-param-with-delim").read_bytes())
    assert msg.top_via.host == "[2001:db8::9:1]"
    assert msg.top_via.received == "[2001:db8::9:255]"
    msg2 = parse((FIX / "rfc5118" / "port-unambiguous").read_bytes())
    assert isinstance(msg2, Request) and msg2.uri.port == 5070


def test_response_parses() -> None:
    msg = parse((FIX / "rfc4475" / "noreason.dat").read_bytes())
    assert isinstance(msg, Response) and msg.status == 100 and msg.reason == ""


def test_limits() -> None:
    base = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    base += b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
    with pytest.raises(SipParseError) as e:
        parse(base + b"X-A: 1\r\n" * 200 + b"\r\n")
    assert e.value.status_hint == 400
    with pytest.raises(SipParseError) as e:
        parse(base + b"X-A: " + b"a" * 70000 + b"\r\n\r\n")
    assert e.value.status_hint == 513


def test_stream_needs_content_length() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    data += b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
    with pytest.raises(SipParseError):
        parse(data, stream=True)
    assert parse(data).method == "OPTIONS"  # type: ignore[union-attr]


def test_recover_head_for_400() -> None:
    data = (FIX / "rfc4475" / "quotbal.dat").read_bytes()
    req = parse_request_head_for_reply(data)
    assert req is not None and req.call_id == "quotbal.aksdj" and req.top_via.branch == "z9hG4bKkdjuw39234"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.binary(min_size=1, max_size=8))
def test_mutated_messages_never_crash(pos: int, junk: bytes) -> None:
    data = (FIX / "rfc4475" / "wsinv.dat").read_bytes()
    mutated = data[:pos] + junk + data[pos + len(junk) :]
    with contextlib.suppress(SipParseError):
        parse(mutated)
    parse_request_head_for_reply(mutated)
