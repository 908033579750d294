"""The parser's fast paths give exactly what the careful character loops give, on any input.

The REGISTER path takes regex and C-level shortcuts for the shapes phones send (header lines
without folding, `;name=value` parameters, `name="value"` credentials) and falls back to the
character-by-character code for anything else; these properties pin the two together.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip.errors import SipParseError
from pbx.sip.headers import (
    _parse_auth_params_slow,
    _parse_params_slow,
    _parse_via_slow,
    parse_auth_params,
    parse_name_addr,
    parse_params,
    parse_via,
)
from pbx.sip.message import Headers
from pbx.sip.parser import _lines, _unfold
from pbx.sip.uri import parse_uri


def _outcome(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except SipParseError:
        return SipParseError


PARAM_TEXT = st.text(alphabet=';= \t"\\[]:,abcXYZ09.-_!~', max_size=30)


@settings(max_examples=2000)
@given(PARAM_TEXT)
def test_params_fast_path_equals_slow(s: str) -> None:
    assert _outcome(parse_params, s, "x") == _outcome(_parse_params_slow, s, "x")


@pytest.mark.parametrize(
    "s",
    [
        ";branch=z9hG4bK-1;rport",
        ' ; lr ; maddr = [::1] ;x="a;b\\"c"',
        ';transport=UDP;expires=3600;+sip.instance="<urn:uuid:1>"',
        ";a=",
        ";a b",
        ";=x",
        ';a="unterminated',
        "",
        "  ",
    ],
)
def test_params_examples(s: str) -> None:
    assert _outcome(parse_params, s, "x") == _outcome(_parse_params_slow, s, "x")


VIA_TEXT = st.builds(
    lambda a, b, c: a + b + c,
    st.sampled_from(["SIP/2.0/UDP ", "SIP/2.0/tcp ", "SIP / 2.0 / UDP ", "SIP/2.0/UDP  ", "SIP/3.0/UDP "]),
    st.text(alphabet="ab1.-[]:", max_size=12),
    st.text(alphabet=";=:0123456789 abz", max_size=20),
)


@settings(max_examples=2000)
@given(VIA_TEXT)
def test_via_fast_path_equals_slow(value: str) -> None:
    fast, slow = _outcome(parse_via, value), _outcome(_parse_via_slow, value)
    assert fast == slow
    if fast is not SipParseError:
        assert (fast.branch, fast.sent_by, str(fast)) == (slow.branch, slow.sent_by, str(slow))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    ["SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport", "SIP/2.0/UDP host:99999", "SIP/2.0/UDP h:05060;lr"],
)
def test_via_examples(value: str) -> None:
    assert _outcome(parse_via, value) == _outcome(_parse_via_slow, value)


AUTH_TEXT = st.text(alphabet='Digest =,"\\ \tabcnr0-:/.', max_size=50)


def _auth_slow(value: str) -> object:
    s = value.strip()
    sp = 0
    while sp < len(s) and s[sp] not in " \t":
        sp += 1
    return s[:sp].lower(), _parse_auth_params_slow(s, sp)


@settings(max_examples=2000)
@given(AUTH_TEXT)
def test_auth_params_fast_path_equals_slow(value: str) -> None:
    assert _outcome(parse_auth_params, value) == _outcome(_auth_slow, value)


@pytest.mark.parametrize("value", ["0 0=00= 0", 'Digest a="x"b=c', "Digest a=b,,c=d ,", 'Digest a="b\\"c"'])
def test_auth_params_examples(value: str) -> None:
    # "0=00= 0": a bare value is read up to a separator ("00="), never split to make a later
    # parameter fit, so the last "0" has no "=" and the credentials are malformed.
    assert _outcome(parse_auth_params, value) == _outcome(_auth_slow, value)


def test_auth_params_sipp_shape() -> None:
    v = (
        'Digest username="1000",realm="pbx",cnonce="6b8b4567",nc=00000001,qop=auth,'
        'uri="sip:127.0.0.1:5060",nonce="abc",response="0f",algorithm=MD5'
    )
    scheme, p = parse_auth_params(v)
    assert scheme == "digest"
    assert p["username"] == "1000" and p["nc"] == "00000001" and p["uri"] == "sip:127.0.0.1:5060"
    assert (scheme, p) == _auth_slow(v)


HEAD_TEXT = st.text(alphabet="ab: \t\r\n", max_size=40)


@settings(max_examples=2000)
@given(HEAD_TEXT)
def test_lines_fast_path_equals_unfold(text: str) -> None:
    head = text.encode()
    assert _lines(head) == _unfold(head.decode("utf-8", "surrogateescape"))


OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "prepend", "set", "remove", "remove_first", "get"]),
        st.sampled_from(["via", "to", "contact"]),
        st.sampled_from(["1", "2", "3"]),
    ),
    max_size=20,
)


@given(OPS)
def test_headers_index_matches_a_plain_list(ops: list[tuple[str, str, str]]) -> None:
    h = Headers()
    model: list[tuple[str, str]] = []
    for op, name, value in ops:
        if op == "add":
            h.add(name, value)
            model.append((name, value))
        elif op == "prepend":
            h.prepend(name, value)
            model.insert(0, (name, value))
        elif op == "set":
            h.set(name, value)
            if any(k == name for k, _ in model):
                i = next(i for i, (k, _) in enumerate(model) if k == name)
                model = [*model[:i], (name, value), *[kv for kv in model[i + 1 :] if kv[0] != name]]
            else:
                model.append((name, value))
        elif op == "remove":
            h.remove(name)
            model = [kv for kv in model if kv[0] != name]
        elif op == "remove_first":
            h.remove_first(name)
            i = next((i for i, (k, _) in enumerate(model) if k == name), None)
            if i is not None:
                del model[i]
        for n in ("via", "to", "contact"):  # every lookup after every change
            values = [v for k, v in model if k == n]
            assert h.get_all(n) == values
            assert h.get(n) == (values[0] if values else None)
            assert h.count(n) == len(values)
            assert (n in h) == bool(values)
    assert h.items() == model


def test_get_all_returns_a_copy() -> None:
    h = Headers([("via", "a"), ("via", "b")])
    h.get_all("via").append("c")
    assert h.get_all("via") == ["a", "b"]


def test_memoised_parsers_still_raise_every_time() -> None:
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_uri("sip:bad host")
        with pytest.raises(SipParseError):
            parse_name_addr("<sip:a@b")
    assert parse_uri("sip:1000@127.0.0.1:5060") is parse_uri("sip:1000@127.0.0.1:5060")
    assert parse_name_addr("<sip:1000@h>").uri.user == "1000"


def test_recently_issued_nonces_answer_as_the_hmac_check_does() -> None:
    from pbx.sip.digest import DigestAuth

    ours, other = DigestAuth("pbx", b"secret-1"), DigestAuth("pbx", b"secret-2")
    nonce = ours.make_nonce(12.3456)
    remembered = ours.nonce_issued(nonce)
    ours._issued.clear()  # the stateless path: decode and check the HMAC
    assert remembered == ours.nonce_issued(nonce) == 12.345
    assert other.nonce_issued(nonce) is None  # not remembered there, and not its HMAC
    assert ours.nonce_issued(nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")) is None
