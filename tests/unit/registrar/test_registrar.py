"""The registrar from wire bytes: challenge, register, refresh, expiry, limits, RFC 4475 cases."""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

import pytest

from pbx.registrar.registrar import (
    DeleteBinding,
    PersistBinding,
    QualifyContact,
    Registrar,
    RegistrarOutcome,
    RegistrarSettings,
)
from pbx.sip.addr import Addr
from pbx.sip.digest import AuthResult, Credential, DigestAuth
from pbx.sip.headers import parse_auth_params
from pbx.sip.message import Request, Response
from pbx.sip.parser import parse

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REALM = "pbx.test"
WALL0 = 1_700_000_000.0
PASSWORDS = {"201": "pw201", "202": "pw202", "watson": "pwwatson", "user": "pwuser", "j.user": "pwj"}
SRC = Addr("udp", "192.0.2.10", 5062)
_branches = itertools.count()


def lookup(user: str) -> Credential | None:
    pw = PASSWORDS.get(user)
    return Credential.from_password(user, REALM, pw) if pw is not None else None


def make_registrar(**kw: int) -> Registrar:
    return Registrar(RegistrarSettings(**kw), DigestAuth(REALM, b"s" * 32), lookup)


def register_bytes(
    user: str = "201",
    contacts: tuple[str, ...] = ("<sip:201@192.0.2.10:5062>",),
    expires: int | str | None = 3600,
    call_id: str = "reg-1",
    cseq: int = 1,
    auth: str | None = None,
    extra: tuple[str, ...] = (),
) -> bytes:
    lines = [
        "REGISTER sip:pbx.test SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{next(_branches)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@pbx.test>;tag=ft{user}",
        f"To: <sip:{user}@pbx.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    lines += [*extra, "User-Agent: TestPhone", "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def digest_answer(challenge: str, user: str, password: str, uri: str = "sip:pbx.test", nc: int = 1) -> str:
    _, p = parse_auth_params(challenge)
    a1 = hashlib.md5(f"{user}:{REALM}:{password}".encode()).hexdigest()
    a2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    resp = hashlib.md5(f"{a1}:{p['nonce']}:{nc:08x}:abc:auth:{a2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{p["nonce"]}", uri="{uri}", '
        f'response="{resp}", algorithm=MD5, qop=auth, nc={nc:08x}, cnonce="abc"'
    )


def req(data: bytes) -> Request:
    m = parse(data)
    assert isinstance(m, Request)
    return m


def add_auth(data: bytes, reg: Registrar, now: float, user: str, password: str | None = None) -> bytes:
    """Insert an Authorization header, computed as the phone would, into a wire REGISTER."""
    (ch,) = reg.auth.challenge(now)
    creds = digest_answer(ch, user, password if password is not None else PASSWORDS[user])
    return data.replace(b"\r\nContent-Length", f"\r\nAuthorization: {creds}\r\nContent-Length".encode(), 1)


def register(reg: Registrar, now: float = 0.0, user: str = "201", **kw: object) -> RegistrarOutcome:
    """Challenge round-trip: a REGISTER without credentials, then one answering the 401."""
    first = reg.handle(req(register_bytes(user, **kw)), SRC, now, WALL0 + now)  # type: ignore[arg-type]
    assert first.response.status == 401 and first.auth_result is AuthResult.MISSING
    ch = first.response.headers.get("www-authenticate")
    assert ch is not None
    cseq = int(kw.pop("cseq", 1)) + 1  # type: ignore[call-overload]
    creds = digest_answer(ch, user, PASSWORDS.get(user, "nope"))
    data = register_bytes(user, cseq=cseq, auth=creds, **kw)  # type: ignore[arg-type]
    return reg.handle(req(data), SRC, now, WALL0 + now)


def contacts(resp: Response) -> list[str]:
    return resp.headers.get_all("contact")


# --- authentication -------------------------------------------------------------------------


def test_register_challenge_then_ok() -> None:
    reg = make_registrar()
    out = register(reg)
    assert out.response.status == 200 and out.auth_result is AuthResult.OK
    assert out.username == "201" and out.aor == "201"
    assert contacts(out.response) == ["<sip:201@192.0.2.10:5062>;expires=3600"]
    assert out.response.headers.get("date") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert "server" not in out.response.headers
    assert "tag=" in (out.response.headers.get("to") or "")
    (eff,) = out.effects
    assert isinstance(eff, PersistBinding)
    b = eff.binding
    assert (b.aor, b.call_id, b.cseq, b.source, b.user_agent) == ("201", "reg-1", 2, SRC, "TestPhone")
    assert b.expires_at == 3600 and b.expires_wall == WALL0 + 3600 and b.reachable is None
    assert reg.lookup("201", 1) == [b]


def _challenge_shape(out: RegistrarOutcome) -> bytes:
    data = out.response.render()
    data = re.sub(rb'nonce="[^"]*"', b'nonce="N"', data)
    data = re.sub(rb"branch=\w+", b"branch=B", data)
    return re.sub(rb"sip:\w+@", b"sip:U@", re.sub(rb"tag=\w+", b"tag=T", data))


def test_unknown_user_gets_the_same_401_as_a_known_one() -> None:
    reg = make_registrar()
    known = reg.handle(req(register_bytes("201")), SRC, 0, WALL0)
    unknown = reg.handle(req(register_bytes("999")), SRC, 0, WALL0)
    assert _challenge_shape(known) == _challenge_shape(unknown)
    assert len(known.response.render()) == len(unknown.response.render())
    # and after answering with a password
    bad = reg.handle(req(add_auth(register_bytes("201", cseq=2), reg, 0, "201", "guess")), SRC, 0, WALL0)
    ghost = reg.handle(req(add_auth(register_bytes("999", cseq=2), reg, 0, "999", "guess")), SRC, 0, WALL0)
    assert (bad.auth_result, ghost.auth_result) == (AuthResult.WRONG_PASSWORD, AuthResult.UNKNOWN_USER)
    assert bad.response.status == ghost.response.status == 401
    assert _challenge_shape(bad) == _challenge_shape(ghost)
    assert bad.effects == ghost.effects == [] and ghost.aor is None


def test_stale_nonce_rechallenges_with_stale_true() -> None:
    reg = make_registrar()
    data = add_auth(register_bytes(cseq=2), reg, now=0, user="201")
    out = reg.handle(req(data), SRC, 301, WALL0 + 301)
    assert out.response.status == 401 and out.auth_result is AuthResult.STALE
    assert "stale=true" in (out.response.headers.get("www-authenticate") or "")
    wrong = reg.handle(req(add_auth(register_bytes(cseq=3), reg, 0, "201", "x")), SRC, 301, WALL0)
    assert "stale" not in (wrong.response.headers.get("www-authenticate") or "")


def test_auth_user_must_match_to_user() -> None:
    reg = make_registrar()
    data = add_auth(register_bytes("202", contacts=("<sip:202@192.0.2.10>",)), reg, 0, "201")
    out = reg.handle(req(data), SRC, 0, WALL0)
    assert out.response.status == 403 and out.auth_result is AuthResult.OK
    assert out.effects == [] and reg.lookup("202", 1) == []


def test_credentials_for_our_realm_are_picked() -> None:
    reg = make_registrar()
    (ch,) = reg.auth.challenge(0)
    ours = digest_answer(ch, "201", "pw201")
    other = ours.replace(f'realm="{REALM}"', 'realm="elsewhere"')
    data = register_bytes(cseq=2, extra=(f"Authorization: {other}", f"Authorization: {ours}"))
    assert reg.handle(req(data), SRC, 0, WALL0).response.status == 200


def test_regaut01_unknown_scheme_is_never_accepted() -> None:
    reg = make_registrar()
    data = (FIXTURES / "rfc4475" / "regaut01.dat").read_bytes()
    out = reg.handle(req(data), Addr("tcp", "192.0.2.253", 40000), 0, WALL0)
    assert out.response.status == 401 and out.auth_result is AuthResult.UNSUPPORTED
    assert (out.response.headers.get("www-authenticate") or "").startswith("Digest ")
    assert reg.lookup("j.user", 1) == []


# --- bindings -------------------------------------------------------------------------------


def test_refresh_and_expiry_at_t() -> None:
    reg = make_registrar()
    register(reg, now=0, expires=600)
    assert reg.next_deadline() == 0  # the new contact's first qualify
    assert [type(e) for e in reg.on_timer(0)] == [QualifyContact]
    out = register(reg, now=100, expires=600, cseq=3)
    assert out.response.status == 200 and contacts(out.response) == ["<sip:201@192.0.2.10:5062>;expires=600"]
    (eff,) = out.effects
    assert isinstance(eff, PersistBinding) and eff.binding.registered_at_wall == WALL0
    assert eff.binding.refreshed_at_wall == WALL0 + 100
    assert reg.lookup("201", 699) != []
    assert reg.lookup("201", 700) == []
    effects = [e for e in reg.on_timer(700) if isinstance(e, DeleteBinding)]
    assert effects == [DeleteBinding("201", eff.binding.key)]


def test_expires_zero_unregisters_one_contact() -> None:
    reg = make_registrar()
    two = ("<sip:201@192.0.2.10:5062>", "<sip:201@192.0.2.99>;expires=1800")
    out = register(reg, contacts=two)
    assert sorted(contacts(out.response)) == sorted(
        ["<sip:201@192.0.2.10:5062>;expires=3600", "<sip:201@192.0.2.99>;expires=1800"]
    )
    out = register(reg, now=5, contacts=("<sip:201@192.0.2.99>",), expires=0, cseq=3)
    assert contacts(out.response) == ["<sip:201@192.0.2.10:5062>;expires=3595"]
    assert [type(e) for e in out.effects] == [DeleteBinding]


def test_star_removes_all_and_needs_expires_zero() -> None:
    reg = make_registrar()
    register(reg, contacts=("<sip:201@192.0.2.10:5062>", "<sip:201@192.0.2.99>"))
    assert register(reg, contacts=("*",), expires=3600, cseq=3).response.status == 400
    assert register(reg, contacts=("*",), expires=None, cseq=5).response.status == 400
    bad = register(reg, contacts=("*", "<sip:201@h>"), expires=0, cseq=7)
    assert bad.response.status == 400 and len(reg.lookup("201", 1)) == 2
    out = register(reg, contacts=("*",), expires=0, cseq=9)
    assert out.response.status == 200 and contacts(out.response) == []
    assert sorted(type(e).__name__ for e in out.effects) == ["DeleteBinding", "DeleteBinding"]
    assert reg.lookup("201", 1) == []


def test_query_without_contact_lists_bindings() -> None:
    reg = make_registrar()
    register(reg)
    out = register(reg, now=10, contacts=(), cseq=3)
    assert out.response.status == 200 and out.effects == []
    assert contacts(out.response) == ["<sip:201@192.0.2.10:5062>;expires=3590"]


def test_interval_too_brief_423_and_clamp_to_max() -> None:
    reg = make_registrar(min_expires=60, max_expires=7200)
    out = register(reg, expires=30)
    assert out.response.status == 423 and out.response.headers.get("min-expires") == "60"
    assert out.effects == [] and reg.lookup("201", 1) == []
    out = register(reg, contacts=("<sip:201@192.0.2.10:5062>;expires=59",), expires=3600, cseq=3)
    assert out.response.status == 423
    out = register(reg, expires=86400, cseq=5)
    assert contacts(out.response) == ["<sip:201@192.0.2.10:5062>;expires=7200"]


def test_default_expiry_when_none_given() -> None:
    reg = make_registrar(default_expires=1800)
    assert contacts(register(reg, expires=None).response) == ["<sip:201@192.0.2.10:5062>;expires=1800"]


def test_huge_expires_clamps_scalar02_style() -> None:
    # RFC 4475 scalar02: absurd Expires and expires= values; its CSeq is too large for the parser,
    # so its Expires/Contact are replayed here with a valid CSeq.
    reg = make_registrar()
    huge = "1" + "0" * 100
    out = register(reg, contacts=("<sip:201@host129.example.com>;expires=280297596632815",), expires=huge)
    assert contacts(out.response) == ["<sip:201@host129.example.com>;expires=7200"]
    out = register(reg, contacts=("<sip:201@host129.example.com>",), expires=huge, cseq=3)
    assert contacts(out.response) == ["<sip:201@host129.example.com>;expires=7200"]


def test_bad_expires_and_q_get_400() -> None:
    reg = make_registrar()
    assert register(reg, contacts=("<sip:201@h>;expires=soon",)).response.status == 400
    assert register(reg, contacts=("<sip:201@h>;q=2",), cseq=3).response.status == 400
    assert register(reg, contacts=("<tel:+31534800900>",), cseq=5).response.status == 400
    assert reg.lookup("201", 1) == []


def test_contact_limit_replaces_oldest() -> None:
    reg = make_registrar(max_contacts=2)
    register(reg, now=0, contacts=("<sip:201@10.0.0.1>",), call_id="a")
    register(reg, now=10, contacts=("<sip:201@10.0.0.2>",), call_id="b")
    register(reg, now=20, contacts=("<sip:201@10.0.0.1>",), call_id="a", cseq=3)  # refresh: now newest
    out = register(reg, now=30, contacts=("<sip:201@10.0.0.3>",), call_id="c")
    assert out.response.status == 200
    assert sorted(c.split(";")[0] for c in contacts(out.response)) == [
        "<sip:201@10.0.0.1>",
        "<sip:201@10.0.0.3>",
    ]
    dels = [e for e in out.effects if isinstance(e, DeleteBinding)]
    assert len(dels) == 1 and "10.0.0.2" in dels[0].contact_key
    too_many = register(reg, now=40, contacts=tuple(f"<sip:201@10.0.1.{i}>" for i in range(3)), call_id="d")
    assert too_many.response.status == 403 and len(reg.lookup("201", 40)) == 2


def test_contact_limit_drops_expired_first() -> None:
    reg = make_registrar(max_contacts=2)
    register(reg, now=0, contacts=("<sip:201@10.0.0.1>",), call_id="a", expires=3600)
    register(reg, now=10, contacts=("<sip:201@10.0.0.2>",), call_id="b", expires=60)
    out = register(reg, now=100, contacts=("<sip:201@10.0.0.3>",), call_id="c")  # .2 expired at 70
    dels = [e for e in out.effects if isinstance(e, DeleteBinding)]
    assert len(dels) == 1 and "10.0.0.2" in dels[0].contact_key
    assert len(reg.lookup("201", 100)) == 2


def test_sip_instance_replaces_its_own_binding() -> None:
    reg = make_registrar()
    inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1'
    register(reg, now=0, contacts=(f"<sip:201@10.0.0.1:5060;ob>;{inst}",), call_id="x")
    register(reg, now=5, contacts=("<sip:201@10.0.0.9>",), call_id="other-phone")
    # the same device comes back from another address (new Call-ID after a reboot)
    out = register(
        reg,
        now=60,
        contacts=(f"<sip:201@10.0.0.2:5060;ob>;{inst}",),
        call_id="y",
        extra=("Supported: path, outbound",),
    )
    assert out.response.status == 200
    assert sorted(c.split(";")[0] for c in contacts(out.response)) == [
        "<sip:201@10.0.0.2:5060",
        "<sip:201@10.0.0.9>",
    ]
    assert out.response.headers.get("require") == "outbound"
    kinds = [type(e).__name__ for e in out.effects]
    assert kinds == ["DeleteBinding", "PersistBinding"]
    new = reg.lookup("201", 61)
    inst_b = next(b for b in new if b.instance is not None)
    assert inst_b.instance == "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>" and inst_b.reg_id == 1
    assert "+sip.instance=" in inst_b.contact and "expires" not in inst_b.contact


def test_cseq_rules_same_call_id() -> None:
    reg = make_registrar()
    register(reg, now=0, cseq=10)  # stored with CSeq 11
    dup = reg.handle(req(add_auth(register_bytes(cseq=11, expires=0), reg, 1, "201")), SRC, 1, WALL0 + 1)
    assert dup.response.status == 200 and dup.effects == []  # a repeat: ignored, answered 200
    assert len(reg.lookup("201", 2)) == 1
    old = reg.handle(req(add_auth(register_bytes(cseq=5, expires=0), reg, 1, "201")), SRC, 1, WALL0 + 1)
    assert old.response.status == 400 and old.response.reason == "Invalid CSeq Number"
    assert old.effects == [] and len(reg.lookup("201", 2)) == 1
    other_call = reg.handle(
        req(add_auth(register_bytes(cseq=1, expires=0, call_id="new"), reg, 1, "201")), SRC, 1, WALL0 + 1
    )
    assert other_call.response.status == 200 and reg.lookup("201", 2) == []


def test_path_is_stored_and_echoed() -> None:
    reg = make_registrar()
    out = register(reg, extra=("Path: <sip:edge.example.com;lr>", "Supported: path"))
    assert out.response.headers.get_all("path") == ["<sip:edge.example.com;lr>"]
    assert reg.lookup("201", 1)[0].path == ("<sip:edge.example.com;lr>",)


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("cparam01", "<sip:+19725552222@gw1.example.net>;unknownparam;expires=3600"),
        ("cparam02", "<sip:+19725552222@gw1.example.net;unknownparam>;expires=3600"),
        ("regescrt", "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>;expires=3600"),
    ],
)
def test_rfc4475_contacts_come_back_intact(fixture: str, expected: str) -> None:
    reg = make_registrar()
    raw = (FIXTURES / "rfc4475" / f"{fixture}.dat").read_bytes()
    first = reg.handle(req(raw), SRC, 0, WALL0)
    assert first.response.status == 401  # the fixtures carry no credentials
    m = req(raw)
    user = m.to.uri.user or ""
    # drive it through authentication with a header computed as the phone would
    (ch,) = reg.auth.challenge(0)
    creds = digest_answer(ch, user, PASSWORDS[user], uri=m.uri_text)
    authed = raw.replace(b"\r\n\r\n", f"\r\nAuthorization: {creds}\r\n\r\n".encode(), 1)
    out = reg.handle(req(authed), SRC, 0, WALL0)
    assert out.response.status == 200
    assert contacts(out.response) == [expected]
    assert parse(out.response.render()).headers.get_all("contact") == [expected]


def test_qualify_marks_unreachable_and_persists_changes() -> None:
    reg = make_registrar(qualify_interval=60)
    out = register(reg, now=0)
    (p,) = out.effects
    assert isinstance(p, PersistBinding)
    key = p.binding.key
    (q,) = reg.on_timer(0)
    assert isinstance(q, QualifyContact) and q.binding.target == SRC
    assert reg.qualify_result("201", key, ok=True, now=1) == [PersistBinding(reg.lookup("201", 1)[0])]
    assert reg.next_deadline() == 61
    assert reg.on_timer(60) == []
    assert [type(e) for e in reg.on_timer(61)] == [QualifyContact]
    assert reg.qualify_result("201", key, ok=True, now=62) == []  # unchanged: nothing to store
    (changed,) = reg.qualify_result("201", key, ok=False, now=122)
    assert isinstance(changed, PersistBinding) and changed.binding.reachable is False
    # a refresh keeps the known reachability
    refreshed = register(reg, now=130, cseq=3)
    (pb,) = refreshed.effects
    assert isinstance(pb, PersistBinding) and pb.binding.reachable is False


def test_load_after_restart_keeps_unexpired() -> None:
    reg = make_registrar()
    register(reg, now=0, contacts=("<sip:201@10.0.0.1>",), expires=600)
    register(reg, now=0, user="202", contacts=("<sip:202@10.0.0.2>",), expires=3600)
    stored = reg.snapshot(0)
    # 1000 s later the daemon starts again with a fresh monotonic clock
    fresh = make_registrar()
    gone = fresh.load(stored, now=5.0, wall=WALL0 + 1000)
    assert gone == [DeleteBinding("201", stored[0].key)]
    assert fresh.lookup("201", 5.0) == []
    (b,) = fresh.lookup("202", 5.0)
    assert b.expires_at == 5.0 + 2600
    out = register(fresh, now=6.0, user="202", contacts=(), cseq=3)
    assert contacts(out.response) == ["<sip:202@10.0.0.2>;expires=2599"]


def test_non_register_is_a_programming_error() -> None:
    reg = make_registrar()
    data = register_bytes().replace(b"REGISTER sip", b"OPTIONS sip").replace(b"1 REGISTER", b"1 OPTIONS")
    with pytest.raises(ValueError):
        reg.handle(req(data), SRC, 0, WALL0)


def test_outcome_counts_new_contacts_not_refreshes() -> None:
    # The core logs a new contact at info and a refresh at debug, from this count.
    reg = make_registrar()
    assert register(reg, now=0).added == 1
    assert register(reg, now=10, cseq=3).added == 0  # the same contact again: a refresh
    assert register(reg, now=20, call_id="reboot").added == 0  # a new Call-ID, same contact
    two = ("<sip:201@192.0.2.10:5062>", "<sip:201@192.0.2.11:5062>")
    assert register(reg, now=30, contacts=two, call_id="reboot", cseq=5).added == 1
    assert register(reg, now=40, expires=0, call_id="reboot", cseq=7).added == 0
