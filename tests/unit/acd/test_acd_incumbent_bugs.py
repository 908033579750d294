"""The incumbents' reported ACD bugs (issue 7), each as a regression test against this engine."""

from __future__ import annotations

from acd_kit import WALL, Acd, config, of, offers, queue

from pbx.acd import (
    AgentCallStarted,
    AgentReachability,
    AgentTruth,
    CallEnded,
    CallerHungUp,
    CallerJoined,
    CancelOffer,
    Login,
    OfferAnswered,
    OfferNoAnswer,
    Truth,
    agent_snapshot,
    reconcile,
)
from pbx.acd.model import Activity


def test_freeswitch_2540_agent_stuck_on_call_after_a_lost_bye() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    # the BYE never reaches the engine; the reconciler sees no dialog left
    reconcile(acd.engine, Truth({"201": AgentTruth(True)}), acd.t, acd.t + WALL)
    assert acd.agent("201").activity is Activity.IDLE
    assert offers(acd.do(CallerJoined("c2", "Q"))) == [("c2", "201")]


def test_freeswitch_2540_caller_bye_after_answer_frees_the_agent_without_the_agents_bye() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallerHungUp("c1"))
    assert acd.agent("201").activity is Activity.IDLE
    assert acd.do(CallEnded("c1", "201")) == []  # the late one changes nothing


def test_freeswitch_1973_caller_hangs_up_during_the_offer_agent_not_left_ringing() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(CallerHungUp("c1"))
    assert CancelOffer("c1", "201", "caller_hangup") in out
    assert acd.agent("201").activity is Activity.IDLE and acd.agent("201").offer is None
    assert offers(acd.do(CallerJoined("c2", "Q"))) == [("c2", "201")]


def test_freeswitch_1062_failed_offer_leg_returns_the_agent_to_idle() -> None:
    # The agent's INVITE fails (or its leg ends before an answer): reported as a call end.
    acd = Acd(config([queue("Q", "300", retry_delay=0)]))
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(CallEnded("c1", "201"))
    assert acd.agent("201").offer is None and offers(out) == [("c1", "202")]
    acd.do(OfferNoAnswer("c1", "202"))
    assert acd.agent("202").offer is None


def test_freeswitch_2529_ringall_caller_abandons_every_agent_freed() -> None:
    acd = Acd(config([queue("Q", "300", strategy="ringall")]))
    acd.ready("201", "202", "203", "204")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(CallerHungUp("c1"))
    assert len(of(CancelOffer, out)) == 4
    assert all(acd.agent(a).activity is Activity.IDLE for a in ("201", "202", "203", "204"))


def test_asterisk_607_transfer_neither_resets_nor_skips_wrapup() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=60)]))
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.advance(30)
    acd.do(CallEnded("c1", "201"))  # 201 transferred the caller: 201's own leg ends now
    assert acd.agent("201").wrapup_until == acd.t + 60
    acd.do(AgentCallStarted("202", "c1", "inbound", "0611"))  # the transferred caller at 202
    acd.advance(45)
    acd.do(CallEnded("c1", "202"))  # the caller's call ends much later
    assert acd.agent("201").wrapup_until == acd.t + 15  # not restarted
    assert acd.agent("202").wrapup_until is None  # a transfer is a direct call for 202


def test_asterisk_1006_wrapup_shared_across_queues_never_shortened() -> None:
    acd = Acd(config([queue("Long", "300", wrapup=60), queue("Short", "301", wrapup=5)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Long"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallEnded("c1", "201"))
    acd.advance(10)
    assert offers(acd.do(CallerJoined("c2", "Short"))) == []  # the Short queue's 5 s are long over
    assert offers(acd.advance(50)) == [("c2", "201")]


def test_asterisk_108_1637_fair_order_across_queues() -> None:
    acd = Acd(config([queue("A", "300"), queue("B", "301"), queue("P", "302", priority=5)]))
    acd.do(CallerJoined("b1", "B"))
    acd.advance(5)
    acd.do(CallerJoined("a1", "A"))
    acd.advance(5)
    acd.do(CallerJoined("b2", "B"))
    acd.do(AgentReachability("201", True))
    out = acd.do(Login("201"))  # serves A and B: the longest waiting of both goes first
    assert offers(out) == [("b1", "201")]
    acd.do(OfferAnswered("b1", "201"))
    acd.do(CallerJoined("p1", "P"))  # higher priority beats a longer wait
    acd.do(CallEnded("b1", "201"))
    assert offers(acd.log)[-1] == ("p1", "201")
    acd.do(OfferAnswered("p1", "201"))
    acd.do(CallEnded("p1", "201"))
    assert offers(acd.log)[-1] == ("a1", "201")


def test_fusionpbx_2831_agent_available_while_unregistered_is_never_offered() -> None:
    acd = Acd(config([queue("Q", "300", strategy="ringall")]))
    acd.do(Login("201"))  # logged in and available, but no phone registered
    acd.ready("202")
    assert offers(acd.do(CallerJoined("c1", "Q"))) == [("c1", "202")]
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None and snap.status == "unreachable"
