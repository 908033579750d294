"""Routing of calls through the dialplan, trunks out (caller ID, digest to the carrier) and in (DID).

The demo config and dialplans (config/, dialplans/) drive a PbxCore; fake phones and a fake
carrier on 127.0.0.1:5090 (the demo trunk's address) exchange SIP bytes with it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

import pytest
from test_call_flows import ROOT, SDP_A, SDP_B, Net, Phone

from pbx.calls import CallStarted
from pbx.clock import FakeClock
from pbx.config import load_config
from pbx.config.models import Config, Trunk
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.sip.message import make_response

# Wednesday 2026-11-25 10:00 in Amsterdam (UTC+1): office hours. Sunday 2026-11-22 18:05: closed.
OFFICE = datetime(2026, 11, 25, 9, 0, tzinfo=UTC).timestamp()
SUNDAY_EVENING = datetime(2026, 11, 22, 17, 5, tzinfo=UTC).timestamp()


def routed_net(wall: float = OFFICE, config: Config | None = None) -> Net:
    net = Net()
    cfg = config or load_config(ROOT / "config")
    net.clock = FakeClock(wall_offset=wall - 1000.0)
    net.core = PbxCore(
        cfg, net.clock.now(), net.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg)
    )
    net.core.set_local([("udp", "127.0.0.1", 5060)])
    return net


def carrier_config(username: str | None = None, password: str | None = None) -> Config:
    cfg = load_config(ROOT / "config")
    trunk = Trunk(name="carrier", host="127.0.0.1", port=5090, prefixes=("0",), username=username,
                  password=password)  # fmt: skip
    return cfg.model_copy(update={"trunks": (trunk,)})


def caller_and_carrier(net: Net) -> tuple[Phone, Phone]:
    a = Phone(net, "201", 5071)
    a.register()
    return a, Phone(net, "carrier", 5090)


def user_part(value: str) -> str:
    m = re.search(r"sip:([^@;>]+)@", value)
    assert m, value
    return m[1]


def test_internal_extension_through_the_dialplan() -> None:
    net = routed_net()
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    a.dial("202")
    a.take_resp(100)
    assert b.take_req("INVITE").uri_text == "sip:202@127.0.0.1:5072"


def test_national_number_goes_out_through_the_trunk_with_the_default_number() -> None:
    net = routed_net()
    a, carrier = caller_and_carrier(net)
    a.dial("0534800900")
    a.take_resp(100)
    inv = carrier.take_req("INVITE")
    # dialplan "national": strip the 0, prepend +31
    assert inv.uri_text == "sip:+31534800900@127.0.0.1:5090"
    assert user_part(inv.headers.get("from") or "") == "+31534800900"  # 201's default number
    assert user_part(inv.headers.get("p-asserted-identity") or "") == "+31534800900"
    assert '"Anna de Vries"' in (inv.headers.get("from") or "")
    assert inv.body == SDP_A
    carrier.reply(inv, 180)
    assert a.take_resp(180)
    carrier.reply(inv, 200, SDP_B)
    assert carrier.take_req("ACK")
    assert a.take_resp(200).body == SDP_B
    call = net.core.calls(net.clock.now())[0]
    assert call.state == "answered"
    assert net.core.b2bua._calls[call.call_id].direction == "outbound"


def test_the_caller_picks_one_of_their_numbers_with_a_dial_prefix() -> None:
    net = routed_net()
    a, carrier = caller_and_carrier(net)
    a.dial("*72*0534800900")  # the second of 201's numbers
    a.take_resp(100)
    inv = carrier.take_req("INVITE")
    assert inv.uri_text == "sip:+31534800900@127.0.0.1:5090"
    assert user_part(inv.headers.get("from") or "") == "+31534800201"


def test_a_number_the_user_does_not_have_is_refused() -> None:
    net = routed_net()
    a, carrier = caller_and_carrier(net)
    a.dial("*79*0534800900")  # 201 has two numbers
    assert a.take_resp(403).reason == "Number Not Allowed"
    assert carrier.count("INVITE") == 0


def test_time_conditions_decide_international_calls() -> None:
    net = routed_net(wall=SUNDAY_EVENING)
    a, carrier = caller_and_carrier(net)
    a.dial("0031534800900")
    a.take_resp(403)  # "international, outside office hours"
    assert carrier.count("INVITE") == 0
    net2 = routed_net(wall=OFFICE)
    a2, carrier2 = caller_and_carrier(net2)
    a2.dial("0031534800900")
    assert carrier2.take_req("INVITE").uri_text == "sip:0031534800900@127.0.0.1:5090"


@pytest.mark.parametrize(
    ("dialled", "status"),
    [("299", 404), ("053", 484), ("*8", 480)],
    ids=["no user", "incomplete", "pickup feature (not yet)"],
)
def test_statuses_for_what_cannot_be_rung(dialled: str, status: int) -> None:
    net = routed_net()
    a, _ = caller_and_carrier(net)
    a.dial(dialled)
    a.take_resp(status)


def test_carrier_challenge_is_answered_with_the_trunk_credentials() -> None:
    net = routed_net(config=carrier_config("acct", "trunkpw"))
    a, carrier = caller_and_carrier(net)
    a.dial("0534800900")
    first = carrier.take_req("INVITE")
    nonce = secrets.token_hex(8)
    challenge = [("proxy-authenticate", f'Digest realm="carrier", nonce="{nonce}", qop="auth"')]
    carrier.send(make_response(first, 407, to_tag="c407", extra=challenge))
    assert carrier.take_req("ACK").cseq.method == "ACK"
    again = carrier.take_req("INVITE")
    assert again.call_id == first.call_id and again.cseq.number == first.cseq.number + 1
    assert again.headers.get("via") != first.headers.get("via")  # a new transaction
    auth = again.headers.get("proxy-authorization") or ""
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', auth))
    ha1 = hashlib.md5(b"acct:carrier:trunkpw").hexdigest()
    ha2 = hashlib.md5(f"INVITE:{params['uri']}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:{nonce}:{params['nc']}:{params['cnonce']}:auth:{ha2}".encode()).hexdigest()
    assert params["response"] == want and params["uri"] == again.uri_text
    assert user_part(again.headers.get("p-asserted-identity") or "") == "+31534800900"
    # a second challenge means the credentials were refused: no loop, the caller gets a failure
    carrier.send(make_response(again, 407, to_tag="c407b", extra=challenge))
    carrier.take_req("ACK")
    assert carrier.count("INVITE") == 0
    a.take_resp(480)


def test_inbound_call_routed_by_did_without_a_challenge() -> None:
    net = routed_net()
    callee = Phone(net, "203", 5073)
    callee.register()
    carrier = Phone(net, "carrier", 5090)
    frm = '"Jan Klant" <sip:0612345678@127.0.0.1:5090>;tag=c1'
    inv = carrier._req("INVITE", "sip:+31534800203@127.0.0.1", secrets.token_hex(6), frm,
                       "<sip:+31534800203@127.0.0.1>", 1, SDP_A)  # fmt: skip
    carrier.send(inv)
    carrier.take_resp(100)
    assert carrier.count(407) == 0
    binv = callee.take_req("INVITE")
    assert user_part(binv.headers.get("from") or "") == "0612345678"
    assert '"Jan Klant"' in (binv.headers.get("from") or "")
    started = [e for e in net.events if isinstance(e, CallStarted)]
    assert started and started[-1].caller == "0612345678"
    call = next(iter(net.core.b2bua._calls.values()))
    assert (call.direction, call.did, call.trunk) == ("inbound", "+31534800203", "carrier")


def digest_carrier_config(inbound_digest: bool) -> Config:
    cfg = load_config(ROOT / "config")
    trunk = Trunk(name="carrier", host="127.0.0.1", port=5090, prefixes=("0",), username="acct",
                  password="secretacct", inbound_digest=inbound_digest)  # fmt: skip
    return cfg.model_copy(update={"trunks": (trunk,)})


def test_inbound_call_recognised_by_the_trunks_digest_from_another_address() -> None:
    """inbound_digest: a carrier calling from an address that is not the trunk's answers the 407
    with the trunk's credentials, and the call is the trunk's (routed by DID in from-trunk)."""
    net = routed_net(config=digest_carrier_config(True))
    callee = Phone(net, "203", 5073)
    callee.register()
    carrier = Phone(net, "acct", 5999)  # not 127.0.0.1:5090; digest password "secretacct"
    carrier.dial("+31534800203")
    carrier.take_resp(100)
    binv = callee.take_req("INVITE")
    assert user_part(binv.headers.get("from") or "") == "acct"
    call = next(iter(net.core.b2bua._calls.values()))
    assert (call.direction, call.did, call.trunk) == ("inbound", "+31534800203", "carrier")


@pytest.mark.parametrize("inbound_digest", [True, False])
def test_trunk_digest_refused_with_a_wrong_password_or_when_not_enabled(inbound_digest: bool) -> None:
    cfg = digest_carrier_config(inbound_digest)
    if inbound_digest:  # the right user name with another password
        trunk = cfg.trunks[0].model_copy(update={"password": "wrong"})
        cfg = cfg.model_copy(update={"trunks": (trunk,)})
    net = routed_net(config=cfg)
    carrier = Phone(net, "acct", 5999)
    carrier.dial("+31534800203")
    assert carrier.take_resp(407)  # challenged again: no call
    assert net.core.b2bua.count() == 0


def test_inbound_call_cannot_go_back_out_through_a_trunk() -> None:
    net = routed_net()
    carrier = Phone(net, "carrier", 5090)
    inv = carrier._req("INVITE", "sip:0534800999@127.0.0.1", secrets.token_hex(6),
                       "<sip:0612345678@127.0.0.1:5090>;tag=c2", "<sip:0534800999@127.0.0.1>", 1,
                       SDP_A)  # fmt: skip
    carrier.send(inv)
    # from-trunk has no rule for this number: 404 (and never a transit call)
    assert carrier.take_resp(404)


def test_a_phone_on_the_carriers_host_but_another_port_is_not_the_carrier() -> None:
    net = routed_net()
    a = Phone(net, "201", 5071)
    inv = a._req("INVITE", "sip:202@127.0.0.1", secrets.token_hex(6), "<sip:201@127.0.0.1>;tag=x",
                 "<sip:202@127.0.0.1>", 1, SDP_A)  # fmt: skip
    a.send(inv)
    assert a.take_resp(407)


def test_builtin_routing_without_dialplans_uses_trunk_prefixes() -> None:
    net = Net()  # no dialplan
    a, carrier = caller_and_carrier(net)
    a.dial("0534800900")
    assert carrier.take_req("INVITE").uri_text == "sip:0534800900@127.0.0.1:5090"
