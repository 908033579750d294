"""The PBX registers with a carrier (trunk `register: true`): challenge, refresh, retry; no sleeps."""

from __future__ import annotations

import hashlib
import re

from test_call_flows import ROOT, Net, Phone

from pbx.config import load_config
from pbx.config.models import Trunk
from pbx.core import PbxCore
from pbx.sip.message import Request, make_response


def carrier_net(**trunk: object) -> tuple[Net, Phone]:
    net = Net()
    cfg = load_config(ROOT / "config")
    t = Trunk(name="carrier", host="127.0.0.1", port=5090, username="acct", password="trunkpw",
              register=True, register_expires=300, **trunk)  # type: ignore[arg-type]  # fmt: skip
    cfg = cfg.model_copy(update={"trunks": (t,)})
    net.core = PbxCore(cfg, net.clock.now(), net.clock.wall())
    net.core.set_local([("udp", "127.0.0.1", 5060)])
    return net, Phone(net, "carrier", 5090)


def challenge(nonce: str) -> list[tuple[str, str]]:
    return [("www-authenticate", f'Digest realm="carrier", nonce="{nonce}", qop="auth"')]


def check_digest(req: Request, nonce: str) -> None:
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', req.headers.get("authorization") or ""))
    ha1 = hashlib.md5(b"acct:carrier:trunkpw").hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{req.uri_text}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:{nonce}:{params['nc']}:{params['cnonce']}:auth:{ha2}".encode()).hexdigest()
    assert params["uri"] == req.uri_text and params["response"] == want and params["username"] == "acct"


def test_registers_answers_the_challenge_and_refreshes_before_expiry() -> None:
    net, carrier = carrier_net()
    net.advance(0)
    first = carrier.take_req("REGISTER")
    assert first.uri_text == "sip:127.0.0.1:5090"
    assert "sip:acct@127.0.0.1" in (first.headers.get("to") or "")
    assert first.headers.get("expires") == "300"
    assert "sip:acct@127.0.0.1:5060" in (first.headers.get("contact") or "")
    carrier.send(make_response(first, 401, to_tag="t1", extra=challenge("n1")))
    second = carrier.take_req("REGISTER")
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    check_digest(second, "n1")
    ok = make_response(second, 200, to_tag="t2", extra=[("contact", "<sip:acct@127.0.0.1:5060>;expires=120")])
    carrier.send(ok)
    assert net.core.trunk_regs.registered() == 1
    net.advance(95)
    assert carrier.count("REGISTER") == 0  # refresh at 80 % of the granted 120 s
    net.advance(2)
    refresh = carrier.take_req("REGISTER")
    assert refresh.call_id == first.call_id and refresh.cseq.number == second.cseq.number + 1


def test_refused_credentials_do_not_loop_and_are_retried_later() -> None:
    net, carrier = carrier_net()
    net.advance(0)
    first = carrier.take_req("REGISTER")
    carrier.send(make_response(first, 401, to_tag="t1", extra=challenge("n1")))
    second = carrier.take_req("REGISTER")
    carrier.send(make_response(second, 401, to_tag="t2", extra=challenge("n1")))  # same nonce: refused
    assert carrier.count("REGISTER") == 0
    assert net.core.trunk_regs.registered() == 0
    assert net.core.trunk_regs.regs["carrier"].last_status == 401
    net.advance(59)
    assert carrier.count("REGISTER") == 0
    net.advance(2)
    assert carrier.take_req("REGISTER")


def test_no_answer_is_a_failure_and_retried() -> None:
    net, carrier = carrier_net()
    net.advance(0)
    carrier.take_req("REGISTER")
    net.advance(33)  # Timer F (64*T1) passes; retransmissions arrive meanwhile
    carrier.inbox.clear()
    reg = net.core.trunk_regs.regs["carrier"]
    assert reg.state.value == "failed" and reg.last_status == 408
    net.advance(61)
    assert carrier.count("REGISTER") >= 1


def test_a_reload_without_the_trunk_stops_registering() -> None:
    net, carrier = carrier_net()
    net.advance(0)
    carrier.take_req("REGISTER")
    cfg = load_config(ROOT / "config").model_copy(update={"trunks": ()})
    net.core.apply_config(cfg, net.clock.now(), net.clock.wall())
    assert net.core.trunk_regs.regs == {}
