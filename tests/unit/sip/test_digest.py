"""Digest authentication: challenges and answers computed with hashlib exactly as a phone does."""

from __future__ import annotations

import hashlib
import re

import pytest

from pbx.sip.digest import AuthResult, Credential, DigestAuth, ha1
from pbx.sip.headers import parse_auth_params
from pbx.sip.uri import parse_uri

REALM = "pbx.test"
USERS = {"201": "secret201", "202": "pw202"}


def lookup(user: str) -> Credential | None:
    pw = USERS.get(user)
    return Credential.from_password(user, REALM, pw) if pw is not None else None


def h(algo: str, s: str) -> str:
    return (hashlib.md5 if algo == "MD5" else hashlib.sha256)(s.encode()).hexdigest()


def answer(
    challenge: str,
    user: str,
    password: str,
    method: str = "REGISTER",
    uri: str = "sip:pbx.test",
    nc: int = 1,
    cnonce: str = "0a4f113b",
    use_qop: bool = True,
) -> str:
    """An Authorization value as a phone builds it from one WWW-Authenticate value."""
    _, p = parse_auth_params(challenge)
    algo = p.get("algorithm", "MD5")
    a1 = h(algo, f"{user}:{p['realm']}:{password}")
    a2 = h(algo, f"{method}:{uri}")
    if use_qop and "qop" in p:
        ncs = f"{nc:08x}"
        resp = h(algo, f"{a1}:{p['nonce']}:{ncs}:{cnonce}:auth:{a2}")
        extra = f', qop=auth, nc={ncs}, cnonce="{cnonce}"'
    else:
        resp = h(algo, f"{a1}:{p['nonce']}:{a2}")
        extra = ""
    return (
        f'Digest username="{user}", realm="{p["realm"]}", nonce="{p["nonce"]}", uri="{uri}", '
        f'response="{resp}", algorithm={algo}{extra}'
    )


def pyvoip_answer(challenge: str, user: str, password: str, server: str, method: str = "REGISTER") -> str:
    """What pyVoIP 1.6.8 sends: MD5, no qop, uri="sip:<server>;transport=UDP", no spaces."""
    _, p = parse_auth_params(challenge)
    a1 = hashlib.md5(f"{user}:{p['realm']}:{password}".encode()).hexdigest()
    a2 = hashlib.md5(f"{method}:sip:{server};transport=UDP".encode()).hexdigest()
    resp = hashlib.md5(f"{a1}:{p['nonce']}:{a2}".encode()).hexdigest()
    return (
        f'Digest username="{user}",realm="{p["realm"]}",nonce="{p["nonce"]}",'
        f'uri="sip:{server};transport=UDP",response="{resp}",algorithm=MD5'
    )


RURI = parse_uri("sip:pbx.test")


@pytest.fixture
def auth() -> DigestAuth:
    return DigestAuth(realm=REALM, secret=b"k" * 32, nonce_ttl=300)


def verify(
    auth: DigestAuth, creds: str, now: float, method: str = "REGISTER"
) -> tuple[AuthResult, str | None]:
    return auth.verify(method, creds, lookup, now, request_uri=RURI)


def test_challenge_shape_md5_only_by_default(auth: DigestAuth) -> None:
    (c,) = auth.challenge(now=0)
    scheme, p = parse_auth_params(c)
    assert scheme == "digest"
    assert p["realm"] == REALM and p["algorithm"] == "MD5" and p["qop"] == "auth"
    assert "stale" not in p


def test_ok_with_qop(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201")
    assert verify(auth, creds, now=10) == (AuthResult.OK, "201")


def test_ok_without_qop_and_nonce_reusable_until_stale(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", use_qop=False)
    assert verify(auth, creds, now=1)[0] is AuthResult.OK
    assert verify(auth, creds, now=2)[0] is AuthResult.OK  # RFC 2069: reuse allowed
    assert verify(auth, creds, now=301)[0] is AuthResult.STALE


def test_pyvoip_shape(auth: DigestAuth) -> None:
    ch = auth.challenge(now=0)[0]
    creds = pyvoip_answer(ch, "201", "secret201", "127.0.0.1")
    ruri = parse_uri("sip:127.0.0.1")
    assert auth.verify("REGISTER", creds, lookup, 1, request_uri=ruri) == (AuthResult.OK, "201")
    # and for an INVITE to sip:202@127.0.0.1:5060, pyVoIP still sends uri=sip:127.0.0.1;transport=UDP
    creds = pyvoip_answer(ch, "201", "secret201", "127.0.0.1", method="INVITE")
    ruri = parse_uri("sip:202@127.0.0.1:5060")
    assert auth.verify("INVITE", creds, lookup, 1, request_uri=ruri)[0] is AuthResult.OK


def test_uri_mismatch(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", uri="sip:evil.example")
    assert verify(auth, creds, now=1)[0] is AuthResult.URI_MISMATCH
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", uri="sip:pbx.test:5070")
    ruri = parse_uri("sip:pbx.test:5060")
    assert auth.verify("REGISTER", creds, lookup, 1, request_uri=ruri)[0] is AuthResult.URI_MISMATCH
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", uri="not a uri")
    assert verify(auth, creds, now=1)[0] is AuthResult.URI_MISMATCH


def test_wrong_password(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "guess")
    assert verify(auth, creds, now=1) == (AuthResult.WRONG_PASSWORD, "201")


def test_wrong_method_is_wrong_answer(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "201", "secret201", method="INVITE")
    assert verify(auth, creds, now=1)[0] is AuthResult.WRONG_PASSWORD


def test_unknown_user(auth: DigestAuth) -> None:
    creds = answer(auth.challenge(now=0)[0], "999", "whatever")
    assert verify(auth, creds, now=1) == (AuthResult.UNKNOWN_USER, "999")


def _shape(values: list[str]) -> list[str]:
    return [re.sub(r'nonce="[^"]*"', 'nonce="N"', v) for v in values]


def test_known_and_unknown_users_get_the_same_challenge(auth: DigestAuth) -> None:
    # The challenge never depends on who asks; after a failure of either kind it is the same too.
    first = auth.challenge(now=0)[0]
    r_known = verify(auth, answer(first, "201", "bad"), now=1)[0]
    r_unknown = verify(auth, answer(first, "999", "bad"), now=1)[0]
    assert r_known.is_failure and r_unknown.is_failure
    a = auth.challenge(now=1, stale=r_known is AuthResult.STALE)
    b = auth.challenge(now=1, stale=r_unknown is AuthResult.STALE)
    assert _shape(a) == _shape(b)
    assert len(a[0]) == len(b[0])


def test_stale_after_ttl_only_with_right_answer(auth: DigestAuth) -> None:
    ch = auth.challenge(now=0)[0]
    assert verify(auth, answer(ch, "201", "secret201"), now=300)[0] is AuthResult.OK
    assert verify(auth, answer(ch, "201", "secret201", nc=2), now=301)[0] is AuthResult.STALE
    assert verify(auth, answer(ch, "201", "wrong", nc=3), now=301)[0] is AuthResult.WRONG_PASSWORD
    (again,) = auth.challenge(now=301, stale=True)
    assert parse_auth_params(again)[1]["stale"] == "true"
    assert verify(auth, answer(again, "201", "secret201"), now=302)[0] is AuthResult.OK


def test_nonce_from_before_a_reboot_is_stale_not_forged(auth: DigestAuth) -> None:
    ch = auth.challenge(now=5000)[0]
    assert verify(auth, answer(ch, "201", "secret201"), now=10)[0] is AuthResult.STALE


def test_nonce_survives_restart_with_same_secret(auth: DigestAuth) -> None:
    ch = auth.challenge(now=0)[0]
    restarted = DigestAuth(realm=REALM, secret=b"k" * 32)
    assert verify(restarted, answer(ch, "201", "secret201"), now=5)[0] is AuthResult.OK


def test_forged_nonce(auth: DigestAuth) -> None:
    ch = auth.challenge(now=0)[0]
    other = DigestAuth(realm=REALM, secret=b"x" * 32).challenge(now=0)[0]
    assert verify(auth, answer(other, "201", "secret201"), now=1)[0] is AuthResult.BAD_NONCE
    nonce = parse_auth_params(ch)[1]["nonce"]
    tampered = ch.replace(nonce, ("B" if nonce[0] != "B" else "C") + nonce[1:])
    assert verify(auth, answer(tampered, "201", "secret201"), now=1)[0] is AuthResult.BAD_NONCE
    for bogus in ("abc", "", "é" * 40, "=" * 40):
        forged = ch.replace(nonce, bogus)
        assert verify(auth, answer(forged, "201", "secret201"), now=1)[0] is AuthResult.BAD_NONCE


def test_nc_replay(auth: DigestAuth) -> None:
    ch = auth.challenge(now=0)[0]
    assert verify(auth, answer(ch, "201", "secret201", nc=1), now=1)[0] is AuthResult.OK
    assert verify(auth, answer(ch, "201", "secret201", nc=1), now=2)[0] is AuthResult.REPLAY
    assert verify(auth, answer(ch, "201", "secret201", nc=2), now=3)[0] is AuthResult.OK
    assert verify(auth, answer(ch, "201", "secret201", nc=2, cnonce="other"), now=4)[0] is AuthResult.REPLAY
    assert verify(auth, answer(ch, "201", "secret201", nc=5), now=5)[0] is AuthResult.OK


def test_two_nonces_in_the_same_millisecond_differ(auth: DigestAuth) -> None:
    a, b = auth.challenge(now=7)[0], auth.challenge(now=7)[0]
    assert parse_auth_params(a)[1]["nonce"] != parse_auth_params(b)[1]["nonce"]
    assert verify(auth, answer(a, "201", "secret201"), now=7)[0] is AuthResult.OK
    assert verify(auth, answer(b, "202", "pw202"), now=7)[0] is AuthResult.OK


def test_nc_memory_is_bounded(auth: DigestAuth) -> None:
    for t in range(0, 2000, 10):
        ch = auth.challenge(now=t)[0]
        assert verify(auth, answer(ch, "201", "secret201"), now=t)[0] is AuthResult.OK
    assert auth.tracked_nonces <= 31  # only nonces younger than the TTL are kept


def test_sha256_only_when_enabled() -> None:
    plain = DigestAuth(realm=REALM, secret=b"k")
    assert [parse_auth_params(c)[1]["algorithm"] for c in plain.challenge(0)] == ["MD5"]
    strong = DigestAuth(realm=REALM, secret=b"k", sha256=True)
    chs = strong.challenge(0)
    assert [parse_auth_params(c)[1]["algorithm"] for c in chs] == ["SHA-256", "MD5"]
    assert verify(strong, answer(chs[0], "201", "secret201"), now=1)[0] is AuthResult.OK
    md5_only_phone = strong.challenge(0)[1]
    assert verify(strong, answer(md5_only_phone, "202", "pw202"), now=1)[0] is AuthResult.OK
    # a SHA-256 answer to a server that does not offer SHA-256 is refused
    ch = plain.challenge(0)[0].replace("algorithm=MD5", "algorithm=SHA-256")
    assert verify(plain, answer(ch, "201", "secret201"), now=1)[0] is AuthResult.UNSUPPORTED


def test_md5_ha1_from_config_cannot_answer_sha256() -> None:
    strong = DigestAuth(realm=REALM, secret=b"k", sha256=True)

    def md5_only(user: str) -> Credential | None:
        return Credential(user, ha1(user, REALM, "secret201")) if user == "201" else None

    sha, md5 = strong.challenge(0)
    assert strong.verify("REGISTER", answer(md5, "201", "secret201"), md5_only, 1)[0] is AuthResult.OK
    assert (
        strong.verify("REGISTER", answer(sha, "201", "secret201"), md5_only, 1)[0] is AuthResult.UNSUPPORTED
    )


def test_ha1_given_upper_case_hex() -> None:
    auth = DigestAuth(realm=REALM, secret=b"k")
    cred = Credential("201", ha1("201", REALM, "secret201").upper())
    creds = answer(auth.challenge(0)[0], "201", "secret201")
    assert auth.verify("REGISTER", creds, lambda u: cred, 1)[0] is AuthResult.OK


@pytest.mark.parametrize(
    "value, result",
    [
        (None, AuthResult.MISSING),
        ("", AuthResult.MISSING),
        ("NoOneKnowsThisScheme opaque-data=here", AuthResult.UNSUPPORTED),  # RFC 4475 regaut01
        ("Basic dXNlcjpwYXNz", AuthResult.MALFORMED),
        ('Digest username="201", realm="pbx.test"', AuthResult.MALFORMED),
        ('Digest username="201" realm', AuthResult.MALFORMED),
    ],
)
def test_missing_and_unsupported(auth: DigestAuth, value: str | None, result: AuthResult) -> None:
    assert auth.verify("REGISTER", value, lookup, 0)[0] is result


def test_bad_realm_and_qop(auth: DigestAuth) -> None:
    ch = auth.challenge(0)[0]
    assert verify(auth, answer(ch.replace(REALM, "other"), "201", "secret201"), 1)[0] is AuthResult.BAD_REALM
    bad_qop = answer(ch, "201", "secret201").replace("qop=auth", "qop=auth-int")
    assert verify(auth, bad_qop, 1)[0] is AuthResult.UNSUPPORTED
    bad_nc = answer(ch, "201", "secret201").replace("nc=00000001", "nc=xyz")
    assert verify(auth, bad_nc, 1)[0] is AuthResult.MALFORMED


def test_failure_classification() -> None:
    assert not AuthResult.OK.is_failure and not AuthResult.MISSING.is_failure
    assert not AuthResult.STALE.is_failure
    assert AuthResult.WRONG_PASSWORD.is_failure and AuthResult.UNKNOWN_USER.is_failure
