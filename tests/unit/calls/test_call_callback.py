"""Call-backs (OP 3.6): a waiting caller presses 1, hangs up, keeps the place; when it comes up the
agent's phone rings first, then the PBX dials the customer and joins them; failed attempts retry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_call_flows import ROOT, SDP_A, SDP_B, Net, Phone
from test_call_queue import feature, media, status, take

from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.media.effects import DigitReceived, MediaOpen, MediaPlay, PlayDone


@pytest.fixture
def net(tmp_path: Path) -> Net:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    q = tmp_path / "config" / "queues.yaml"
    q.write_text(q.read_text().replace("    number: 300\n", '    number: 300\n    callback_key: "1"\n', 1))
    pbx = tmp_path / "config" / "pbx.yaml"  # the fake phones do not answer qualify OPTIONS
    pbx.write_text(pbx.read_text().replace("qualify_interval: 60", "qualify_interval: 0"))
    n = Net()
    cfg = load_config(tmp_path / "config")
    assert cfg.queue("Algemeen").callback_key == "1"  # type: ignore[union-attr]
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def press_1_while_waiting(net: Net, caller: Phone) -> str:
    inv = caller.dial("300")
    caller.ack(inv, caller.take_resp(200))
    session = take(net, MediaOpen)[0].session
    plays = take(net, MediaPlay)
    assert [p.prompts for p in plays] == [("press_1_callback",), ("moh:default",)]
    media(net, DigitReceived(session, "1", "rfc4733"))
    bye_prompt = take(net, MediaPlay)
    assert [p.prompts for p in bye_prompt] == [("will_be_called_back",)]
    media(net, PlayDone(session, bye_prompt[0].play_id))
    caller.reply(caller.take_req("BYE"), 200)
    [cb] = net.core.queues.book.search()
    assert (cb.number, cb.queue, cb.state) == ("201", "Algemeen", "open")
    return cb.id


def test_callback_rings_the_agent_first_then_the_customer_and_joins_them(net: Net) -> None:
    customer, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    customer.register()
    agent.register()
    feature(net, agent, "*45")
    feature(net, agent, "*46")  # paused: nobody takes the caller now
    cb_id = press_1_while_waiting(net, customer)
    assert agent.count("INVITE") == 0
    feature(net, agent, "*46")  # available again: the call-back is offered
    ring = agent.take_req("INVITE")
    assert ring.body == b"" and "sip:201@" in (ring.headers.get("from") or "")
    agent.reply(ring, 200, SDP_B)
    assert b"a=inactive" in agent.take_req("ACK").body  # the agent waits while the customer rings
    dial = customer.take_req("INVITE")
    assert dial.body == b""
    customer.reply(dial, 200, SDP_A)
    reinv = agent.take_req("INVITE")
    assert reinv.body == SDP_A
    agent.reply(reinv, 200, SDP_B)
    agent.take_req("ACK")
    assert customer.take_req("ACK").body == SDP_B
    cb = net.core.queues.book.items[cb_id]
    assert (cb.state, cb.attempts, cb.results, cb.agent) == ("done", 1, ["answered"], "202")
    assert status(net, "202")[1] == "on_call"


def test_a_customer_who_does_not_answer_is_tried_again_later_then_failed(net: Net) -> None:
    customer, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    customer.register()
    agent.register()
    feature(net, agent, "*45")
    feature(net, agent, "*46")
    cb_id = press_1_while_waiting(net, customer)
    feature(net, agent, "*46")
    for attempt in range(1, 4):
        ring = agent.take_req("INVITE")
        # it rang a while before the test picked up: drop the retransmissions of that INVITE
        agent.inbox = [m for m in agent.inbox if getattr(m, "call_id", None) != ring.call_id]
        agent.reply(ring, 200, SDP_B)
        agent.take_req("ACK")
        customer.reply(customer.take_req("INVITE"), 486)
        agent.reply(agent.take_req("BYE"), 200)
        cb = net.core.queues.book.items[cb_id]
        assert cb.attempts == attempt
        if attempt < 3:
            assert cb.state == "open"
            net.advance(299)
            assert agent.count("INVITE") == 0  # 5 minutes between attempts
            net.advance(15)  # (the agent's wrap-up of Algemeen is over by then too)
    assert cb.state == "failed" and cb.results == ["busy", "busy", "busy"]
    net.advance(600)
    assert agent.count("INVITE") == 0


def test_a_callback_past_max_wait_waits_for_its_next_turn_instead_of_hanging(net: Net) -> None:
    customer, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    customer.register()
    agent.register()
    feature(net, agent, "*45")
    feature(net, agent, "*46")  # paused: nobody takes it
    cb_id = press_1_while_waiting(net, customer)
    net.advance(301)  # Algemeen's max_wait passes: the engine moves it on to Intercollegiaal
    cb = net.core.queues.book.items[cb_id]
    assert cb.state == "open" and cb.queued and net.core.acd.calls[cb_id].queue == "Intercollegiaal"
    # an overflow with nowhere to go: back in the book, due again after the retry spacing
    from pbx.acd.effects import Overflow

    q = net.core.queues
    q.carry_out([Overflow(cb_id, "Intercollegiaal", None, "max_wait")], net.clock.now(), net.clock.wall())
    assert cb.state == "open" and not cb.queued
    net.advance(301)
    assert cb.queued  # joined its queue again, with its original place
