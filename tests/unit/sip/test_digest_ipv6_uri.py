"""The digest uri= of an IPv6 target with its brackets lost (what SIPp 3.6 sends) still counts."""

from __future__ import annotations

import pytest
from test_digest import REALM, answer, lookup

from pbx.sip.digest import AuthResult, DigestAuth
from pbx.sip.uri import parse_uri


@pytest.fixture
def auth() -> DigestAuth:
    return DigestAuth(realm=REALM, secret=b"k" * 32, nonce_ttl=300)


@pytest.mark.parametrize(
    ("digest_uri", "result"),
    [
        ("sip:[::1]:5060", AuthResult.OK),
        ("sip:::1:5060", AuthResult.OK),  # SIPp's [authentication] over IPv6
        ("sip:::1:5070", AuthResult.URI_MISMATCH),  # another port
        ("sip:::2:5060", AuthResult.URI_MISMATCH),  # another host
    ],
)
def test_unbracketed_ipv6_digest_uri(auth: DigestAuth, digest_uri: str, result: AuthResult) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", uri=digest_uri)
    got = auth.verify("REGISTER", creds, lookup, 1, request_uri=parse_uri("sip:[::1]:5060"))
    assert got[0] is result


def test_an_ipv4_target_gets_no_such_leniency(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", uri="sip:127.0.0.1:5060x")
    got = auth.verify("REGISTER", creds, lookup, 1, request_uri=parse_uri("sip:127.0.0.1:5060"))
    assert got[0] is AuthResult.URI_MISMATCH
