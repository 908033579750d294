"""OP 5.2 through the whole core: an agent on a direct call answers an urgent queue call; the PBX
puts the first call on hold for them (their phone gets an `inactive` re-INVITE, the other party
the PBX's music offer, `sendonly`, and music on hold), and the agent resumes it from the phone
later (their own re-INVITE reunites the two phones)."""

from __future__ import annotations

import pytest
from test_call_flows import ROOT, SDP_A, SDP_B, Net, Phone
from test_call_queue import feature, status, take

from pbx.acd.effects import HoldCall
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.media.effects import MediaClose, MediaOpen, MediaPlay
from pbx.sip.message import Request

HOLD_B = SDP_B + b"a=sendonly\r\n"
SDP_B2 = SDP_B.replace(b"o=b 1 1", b"o=b 1 2")
SDP_U = SDP_A.replace(b"o=a", b"o=u").replace(b"4000", b"4004")
AGENT_OFFER = SDP_B.replace(b"4002", b"4006")


@pytest.fixture
def net() -> Net:
    n = Net()
    cfg = load_config(ROOT / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def reinvite(phone: Phone, call_id: str) -> Request:
    for m in phone.inbox:
        if isinstance(m, Request) and m.method == "INVITE" and m.call_id == call_id:
            phone.inbox.remove(m)
            return m
    raise AssertionError(f"no INVITE for {call_id} in {[getattr(m, 'method', m) for m in phone.inbox]}")


def direct_call(net: Net) -> tuple[Phone, Phone, Phone, Request, object]:
    caller, agent, urgent = Phone(net, "201", 5071), Phone(net, "202", 5072), Phone(net, "203", 5073)
    for p in (caller, agent, urgent):
        p.register()
    feature(net, agent, "*45")  # 202 logs in to every queue, Urgent (301) among them
    inv = caller.dial("202")
    binv = agent.take_req("INVITE")
    agent.reply(binv, 200, SDP_B)
    agent.take_req("ACK")
    d = caller.ack(inv, caller.take_resp(200))
    assert status(net, "202")[1] == "on_call"
    return caller, agent, urgent, binv, d


def answer_urgent(net: Net, agent: Phone, urgent: Phone) -> Request:
    u_inv = urgent.dial("301")
    urgent.ack(u_inv, urgent.take_resp(200))
    offer = agent.take_req("INVITE")  # rings although 202 is on a call: urgent (OP 5.2)
    assert offer.headers.get("x-pbx-queue") == "Urgent" and offer.headers.get("alert-info")
    agent.reply(offer, 200, AGENT_OFFER)
    return offer


def test_answering_an_urgent_call_holds_the_other_call_with_music_and_the_agent_resumes_it(net: Net) -> None:
    caller, agent, urgent, binv, d = direct_call(net)
    take(net, MediaPlay)
    answer_urgent(net, agent, urgent)
    assert [(h.agent, h.call_id) for h in take(net, HoldCall)] != []
    # the agent's phone: our re-INVITE in the first call's dialog, inactive (it shows the call held)
    to_agent = reinvite(agent, binv.call_id)
    assert b"a=inactive" in to_agent.body and b"o=pbx" in to_agent.body
    agent.reply(to_agent, 200, SDP_B2 + b"a=inactive\r\n")
    assert agent.take_req("ACK").call_id == binv.call_id
    # the other party: the PBX's music offer, then the music
    to_caller = reinvite(caller, d.call_id)  # type: ignore[attr-defined]
    assert b"a=sendonly" in to_caller.body and b"o=pbx" in to_caller.body
    caller.reply(to_caller, 200, SDP_A + b"a=recvonly\r\n")
    assert caller.take_req("ACK").call_id == d.call_id  # type: ignore[attr-defined]
    opened = [o for o in take(net, MediaOpen) if o.session.endswith(":moh")]
    assert opened and opened[0].remote_port == 4000  # the music goes to the held caller
    assert ("moh:default",) in [p.prompts for p in take(net, MediaPlay) if p.session == opened[0].session]
    # meanwhile the urgent caller is joined to the agent (its re-INVITE carries the agent's offer)
    j = urgent.take_req("INVITE")
    assert j.body == AGENT_OFFER
    # the agent resumes the first call from the phone: its offer goes to the caller, music ends
    da = agent.dialog_as_callee(binv)
    agent.request(da, "INVITE", SDP_B2)
    relayed = reinvite(caller, d.call_id)  # type: ignore[attr-defined]
    assert relayed.body == SDP_B2
    caller.reply(relayed, 200, SDP_A)
    assert agent.take_resp(200).body == SDP_A
    assert any(c.session == opened[0].session for c in take(net, MediaClose))


def test_a_phone_that_held_the_call_itself_gets_no_second_hold(net: Net) -> None:
    caller, agent, urgent, binv, d = direct_call(net)
    da = agent.dialog_as_callee(binv)
    agent.request(da, "INVITE", HOLD_B)  # the phone holds line 1 before taking line 2
    assert b"a=recvonly" in agent.take_resp(200).body
    to_caller = reinvite(caller, d.call_id)  # type: ignore[attr-defined]
    caller.reply(to_caller, 200, SDP_A + b"a=recvonly\r\n")
    caller.take_req("ACK")
    answer_urgent(net, agent, urgent)
    assert take(net, HoldCall)  # the engine asked, and the PBX saw it was held already
    assert not [m for m in agent.inbox if isinstance(m, Request) and m.method == "INVITE"]
    assert not [m for m in caller.inbox if isinstance(m, Request) and m.method == "INVITE"]


def test_no_hold_when_the_agent_was_free(net: Net) -> None:
    agent, urgent = Phone(net, "202", 5072), Phone(net, "203", 5073)
    agent.register()
    urgent.register()
    feature(net, agent, "*45")
    answer_urgent(net, agent, urgent)
    assert not take(net, HoldCall)
    assert urgent.take_req("INVITE").body == AGENT_OFFER
