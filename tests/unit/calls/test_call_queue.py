"""Queue calls through the whole core: *45 login by phone, a caller to 300 answered with music,
offered to the agent (with the queue in the INVITE), joined by re-INVITE, wrap-up after BYE."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_call_flows import ROOT, SDP_A, SDP_B, Net, Phone

from pbx.acd.views import agent_snapshot
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.dialplan import load_dialplans
from pbx.media.effects import DigitReceived, MediaClose, MediaOpen, MediaPlay, PlayDone

SDP_A2 = SDP_A.replace(b"o=a 1 1", b"o=a 1 2")


@pytest.fixture
def net() -> Net:
    n = Net()
    cfg = load_config(ROOT / "config")
    n.core = PbxCore(cfg, n.clock.now(), n.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg))
    n.core.set_local([("udp", "127.0.0.1", 5060)])
    return n


def take(net: Net, kind: type) -> list:  # type: ignore[type-arg]
    found = [e for e in net.events if isinstance(e, kind)]
    net.events = [e for e in net.events if not isinstance(e, kind)]
    return found


def media(net: Net, ev: object) -> None:
    net.deliver(net.core.on_media_event(ev, net.clock.now(), net.clock.wall()))  # type: ignore[arg-type]


def feature(net: Net, phone: Phone, code: str) -> tuple[str, ...]:
    """Dial a feature code; return what the PBX said before hanging up."""
    inv = phone.dial(code)
    phone.ack(inv, phone.take_resp(200))
    opened = take(net, MediaOpen)[0]
    plays = take(net, MediaPlay)
    for p in plays:
        media(net, PlayDone(opened.session, p.play_id))
    phone.reply(phone.take_req("BYE"), 200)
    return tuple(x for p in plays for x in p.prompts)


def status(net: Net, ext: str) -> tuple[str, str]:
    snap = agent_snapshot(net.core.acd, ext, net.clock.now())
    assert snap is not None
    return snap.chosen, snap.activity  # type: ignore[attr-defined]


def test_agent_logs_in_by_phone_and_takes_a_queue_call_then_wraps_up(net: Net) -> None:
    caller, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    caller.register()
    agent.register()
    said = (
        "logged_in_to_queue",
        "num_3",
        "num_0",
        "num_0",
        "num_3",
        "num_0",
        "num_1",
        "num_3",
        "num_0",
        "num_2",
    )
    assert feature(net, agent, "*45") == said  # the numbers of the three queues it logged in to
    assert status(net, "202")[0] == "available"
    inv = caller.dial("300")
    ok = caller.take_resp(200)
    d = caller.ack(inv, ok)
    assert [p.prompts for p in take(net, MediaPlay)] == [("moh:default",)]  # waiting music
    offer = agent.take_req("INVITE")
    assert offer.body == b""  # delayed offer: the caller's phone answers the agent's SDP
    assert offer.headers.get("x-pbx-queue") == "Algemeen"
    assert "sip:201@" in (offer.headers.get("from") or "") and "Anna de Vries" in (
        offer.headers.get("from") or ""
    )
    agent.reply(offer, 180)
    agent.reply(offer, 200, SDP_B)
    reinv = caller.take_req("INVITE")
    assert reinv.body == SDP_B and reinv.call_id == d.call_id
    caller.reply(reinv, 200, SDP_A2)
    caller.take_req("ACK")
    assert agent.take_req("ACK").body == SDP_A2
    assert take(net, MediaClose)
    assert status(net, "202")[1] == "on_call"
    caller.request(d, "BYE")
    agent.reply(agent.take_req("BYE"), 200)
    assert status(net, "202")[1] == "wrapup"  # Algemeen: 10 s of wrap-up
    net.advance(11)
    assert status(net, "202")[1] == "idle"


def test_no_agent_answers_the_caller_keeps_waiting_and_hangs_up(net: Net) -> None:
    caller, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    caller.register()
    agent.register()
    feature(net, agent, "*45")
    inv = caller.dial("300")
    d = caller.ack(inv, caller.take_resp(200))
    offer = agent.take_req("INVITE")
    agent.reply(offer, 486)  # declined: next agent (there is none) after the retry delay
    assert caller.count("BYE") == 0
    caller.request(d, "BYE")
    assert caller.take_resp(200)
    assert take(net, MediaClose)
    assert status(net, "202")[1] in ("idle", "wrapup")


def test_star46_pauses_and_unpauses(net: Net) -> None:
    agent = Phone(net, "202", 5072)
    agent.register()
    feature(net, agent, "*45")
    assert feature(net, agent, "*46") == ("paused",)
    assert status(net, "202")[0] == "paused"
    assert feature(net, agent, "*46") == ("available",)


def test_a_direct_call_makes_the_agent_busy_for_the_acd(net: Net) -> None:
    caller, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    caller.register()
    agent.register()
    feature(net, agent, "*45")
    inv = caller.dial("202")  # not through a queue
    binv = agent.take_req("INVITE")
    agent.reply(binv, 200, SDP_B)
    agent.take_req("ACK")
    d = caller.ack(inv, caller.take_resp(200))
    assert status(net, "202")[1] == "on_call"  # no queue call is offered meanwhile
    caller.request(d, "BYE")
    agent.reply(agent.take_req("BYE"), 200)
    assert status(net, "202")[1] in ("idle", "wrapup")


NE_PLAN = """\
default:
  - {match: {exact: "400"}, number_entry: {min: 9, max: 9, validator: elfproef, next: to-queue}}
  - {match: {pattern: "_*45!"}, feature: queue_login}
to-queue:
  - {match: {prefix: ""}, ring_queue: Algemeen}
"""


@pytest.mark.parametrize(
    ("keyed", "header"), [("111222333", "111222333;valid"), ("123456789", "123456789;invalid")]
)
def test_number_entry_reaches_the_agent(tmp_path: Path, keyed: str, header: str) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "default.yaml").write_text(NE_PLAN)
    net = Net()
    cfg = load_config(ROOT / "config")
    net.core = PbxCore(
        cfg, net.clock.now(), net.clock.wall(), dialplan=load_dialplans(tmp_path / "plans", cfg)
    )
    net.core.set_local([("udp", "127.0.0.1", 5060)])
    caller, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    caller.register()
    agent.register()
    feature(net, agent, "*45")
    inv = caller.dial("400")
    caller.ack(inv, caller.take_resp(200))
    session = take(net, MediaOpen)[0].session
    assert [p.prompts for p in take(net, MediaPlay)] == [("enter_number",)]
    attempts = 0
    while attempts < 3 and not agent.count("INVITE"):  # invalid: asked again (3 tries), then passed on
        attempts += 1
        for d in keyed:
            media(net, DigitReceived(session, d, "rfc4733"))
        plays = take(net, MediaPlay)
        for p in plays:
            media(net, PlayDone(session, p.play_id))
    offer = agent.take_req("INVITE")
    assert offer.headers.get("x-pbx-number-entry") == header
    assert offer.headers.get("x-pbx-queue") == "Algemeen"
    assert attempts == (1 if header.endswith(";valid") else 3)


def test_the_reconciler_frees_an_agent_stuck_on_a_call_that_does_not_exist(net: Net) -> None:
    from pbx.acd.events import AgentCallStarted

    agent = Phone(net, "202", 5072)
    agent.register()
    feature(net, agent, "*45")
    net.core.acd.handle(
        AgentCallStarted("202", "ghost", "inbound", "0612345678"), net.clock.now(), net.clock.wall()
    )
    assert status(net, "202")[1] == "on_call"  # a lost BYE, as FreeSWITCH mod_callcenter 2540
    net.advance(31)
    assert status(net, "202")[1] == "idle"
    assert net.core.acd.repairs.get("stale_call") == 1


@pytest.mark.parametrize("keeps", [True, False])
def test_requeue_puts_an_answered_call_into_another_queue_with_its_place(tmp_path: Path, keeps: bool) -> None:
    """The caller keeps their first arrival time in the target queue, unless that queue says
    `requeue_keeps_place: false` (then they join at the back, arriving now)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    if not keeps:
        q = tmp_path / "config" / "queues.yaml"
        q.write_text(
            q.read_text().replace(
                "    label: Intercollegiaal\n", "    label: Intercollegiaal\n    requeue_keeps_place: false\n"
            )
        )
    net = Net()
    cfg = load_config(tmp_path / "config")
    target = cfg.queue("Intercollegiaal")
    assert target is not None and target.requeue_keeps_place is keeps
    net.core = PbxCore(
        cfg, net.clock.now(), net.clock.wall(), dialplan=load_dialplans(ROOT / "dialplans", cfg)
    )
    net.core.set_local([("udp", "127.0.0.1", 5060)])
    caller, agent, other = Phone(net, "201", 5071), Phone(net, "202", 5072), Phone(net, "203", 5073)
    for p in (caller, agent, other):
        p.register()
    feature(net, agent, "*45*300")  # agent 202 works Algemeen only
    inv = caller.dial("300")
    d = caller.ack(inv, caller.take_resp(200))
    opened = take(net, MediaOpen)
    offer = agent.take_req("INVITE")
    agent.reply(offer, 200, SDP_B)
    reinv = caller.take_req("INVITE")
    caller.reply(reinv, 200, SDP_A2)
    caller.take_req("ACK")
    agent.take_req("ACK")
    take(net, MediaClose)
    take(net, MediaPlay)
    call_id = opened[0].session
    net.clock.set(net.clock.now() + 40)
    assert (
        net.core.requeue(call_id, "300", net.clock.now(), net.clock.wall())[0] is not None
    )  # not the same queue
    why, effects = net.core.requeue(call_id, "Intercollegiaal", net.clock.now(), net.clock.wall())
    assert why is None
    net.deliver(effects)
    bye = agent.take_req("BYE")
    agent.reply(bye, 200)
    back = caller.take_req("INVITE")  # the caller's phone gets the PBX's media again
    assert b"o=pbx" in back.body and back.call_id == d.call_id
    caller.reply(back, 200, SDP_A)
    assert caller.take_req("ACK")
    assert [p.prompts for p in take(net, MediaPlay)] == [("moh:default",)]
    assert status(net, "202")[1] == "wrapup"
    from pbx.acd.views import waiting

    [w] = waiting(net.core.acd, "Intercollegiaal", net.clock.now())
    assert w.call_id == call_id
    since = net.core.acd.calls[call_id].since
    if keeps:
        assert since <= net.clock.now() - 40  # the original arrival: the place
    else:
        assert since >= net.clock.now() - 1  # arrived now, at the back
    other_inv = other.dial("*45*302")
    other.ack(other_inv, other.take_resp(200))
    offer2 = other.take_req("INVITE")  # the login made 203 available: the waiting caller is offered
    assert offer2.headers.get("x-pbx-queue") == "Intercollegiaal"
    caller.request(d, "BYE")
    assert caller.take_resp(200).cseq.method == "BYE"


def test_cherry_pick_by_phone_takes_the_head_of_a_queue_the_agent_is_not_logged_in_to(net: Net) -> None:
    caller, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    caller.register()
    agent.register()
    inv = caller.dial("302")  # Intercollegiaal; nobody logged in
    caller.ack(inv, caller.take_resp(200))
    take(net, MediaOpen)
    take(net, MediaPlay)
    pick = agent.dial("*9*302")
    agent.ack(pick, agent.take_resp(200))
    offer = next(m for m in agent.inbox if getattr(m, "method", "") == "INVITE")
    assert offer.headers.get("x-pbx-queue") == "Intercollegiaal" and "sip:201@" in (
        offer.headers.get("from") or ""
    )
    plays = take(net, MediaPlay)
    assert ("please_hold",) in [p.prompts for p in plays]
