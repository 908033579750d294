"""Tiny SIP client helpers for core tests: REGISTER bytes, digest answers, parsed responses."""

from __future__ import annotations

import hashlib
import re

from pbx.clock import FakeClock
from pbx.core import PbxCore
from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.sip.errors import SipParseError
from pbx.sip.message import Headers, Response
from pbx.sip.parser import parse

PHONE = Addr("udp", "127.0.0.1", 5070)


def responses(effects: list[object]) -> list[Response]:
    out = []
    for e in effects:
        if isinstance(e, Send):
            try:
                m = parse(e.data)
            except SipParseError:
                # a 400 echoes the request's broken headers (From/To/CSeq) as RFC 3261 8.2.6.2
                # says; only its status line and Via are ours
                first = e.data.split(b"\r\n", 1)[0].decode()
                m = Response(int(first.split(" ")[1]), first.split(" ", 2)[2], Headers())
            if isinstance(m, Response):
                out.append(m)
    return out


def register(user: str, cseq: int, branch: str, expires: int = 600, auth: str = "") -> bytes:
    msg = (
        f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:{user}@127.0.0.1>;tag=abc\r\nTo: <sip:{user}@127.0.0.1>\r\n"
        f"Call-ID: reg-{user}\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.1:5070>;expires={expires}\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    return msg.encode()


def answer(challenge: str, user: str, password: str, uri: str = "sip:127.0.0.1") -> str:
    nonce = re.search(r'nonce="([^"]+)"', challenge)
    assert nonce
    ha1 = hashlib.md5(f"{user}:pbx:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    cnonce, nc = "deadbeef", "00000001"
    resp = hashlib.md5(f"{ha1}:{nonce[1]}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (
        f'Authorization: Digest username="{user}", realm="pbx", nonce="{nonce[1]}", uri="{uri}", '
        f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n'
    )


def do_register(
    core: PbxCore, clock: FakeClock, user: str, password: str, expires: int = 600
) -> list[object]:
    first = core.receive(register(user, 1, "a1", expires), PHONE, clock.now(), clock.wall())
    [r401] = responses(first)
    assert r401.status == 401
    auth = answer(r401.headers.get("www-authenticate") or "", user, password)
    return core.receive(register(user, 2, "a2", expires, auth), PHONE, clock.now(), clock.wall())
