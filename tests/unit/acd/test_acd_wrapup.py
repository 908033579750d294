"""Wrap-up (OP 2.3-2.5): automatic after a queue call, per-queue length, shared by all the agent's
queues, from the end of the agent's own leg; manual on/off; after outbound calls when configured."""

from __future__ import annotations

from acd_kit import Acd, config, of, offers, queue

from pbx.acd import (
    AgentCallStarted,
    CallEnded,
    CallerJoined,
    Confirmed,
    Disposition,
    OfferAnswered,
    Refused,
    SetDisposition,
    SetWrapup,
    WrapupEnded,
    WrapupStarted,
    agent_snapshot,
)
from pbx.acd.model import Activity


def answered(acd: Acd, call_id: str, queue_name: str, agent: str) -> None:
    acd.do(CallerJoined(call_id, queue_name))
    assert (call_id, agent) in offers(acd.log)
    acd.do(OfferAnswered(call_id, agent))


def test_no_queue_call_during_wrapup_then_offered_when_it_ends() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=30)]))
    acd.ready("201")
    answered(acd, "c1", "Q", "201")
    acd.advance(60)
    out = acd.do(CallEnded("c1", "201"))
    assert WrapupStarted("201", acd.t + 30) in out
    assert acd.agent("201").activity is Activity.WRAPUP
    acd.advance(10)
    assert offers(acd.do(CallerJoined("c2", "Q"))) == []
    assert acd.engine.next_deadline() == acd.t + 20
    out = acd.advance(20)
    assert of(WrapupEnded, out) == [WrapupEnded("201")] and offers(out) == [("c2", "201")]


def test_no_wrapup_configured_means_straight_back() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    answered(acd, "c1", "Q", "201")
    acd.do(CallEnded("c1", "201"))
    assert acd.agent("201").activity is Activity.IDLE


def test_direct_call_ending_gives_no_wrapup_and_a_direct_call_may_start_during_wrapup() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=30)]))
    acd.ready("201")
    acd.do(AgentCallStarted("201", "d1", "inbound", "202"))
    acd.do(CallEnded("d1", "201"))
    assert acd.agent("201").activity is Activity.IDLE
    answered(acd, "c1", "Q", "201")
    acd.do(CallEnded("c1", "201"))
    acd.do(AgentCallStarted("201", "d2", "inbound", "202"))
    assert acd.agent("201").activity is Activity.ON_CALL
    acd.advance(10)
    acd.do(CallEnded("d2", "201"))
    assert acd.agent("201").activity is Activity.WRAPUP  # 20 s of it left
    acd.advance(20)
    assert acd.agent("201").activity is Activity.IDLE


def test_manual_wrapup_stays_on_until_switched_off() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=5)]))
    acd.ready("201")
    acd.do(SetWrapup("201"))
    acd.advance(3600)
    assert offers(acd.do(CallerJoined("c1", "Q"))) == []
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None and snap.status == "wrapup" and snap.wrapup_left == float("inf")
    out = acd.do(SetWrapup("201"))
    assert offers(out) == [("c1", "201")]


def test_manual_wrapup_during_a_call_continues_after_it() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=5)]))
    acd.ready("201")
    answered(acd, "c1", "Q", "201")
    acd.do(SetWrapup("201", on=True))
    acd.do(CallEnded("c1", "201"))
    acd.advance(60)
    assert acd.agent("201").activity is Activity.WRAPUP
    acd.do(SetWrapup("201", on=False))
    assert acd.agent("201").activity is Activity.IDLE


def test_switching_wrapup_off_ends_an_automatic_one_early() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=60)]))
    acd.ready("201")
    answered(acd, "c1", "Q", "201")
    acd.do(CallEnded("c1", "201"))
    out = acd.do(SetWrapup("201", on=False))
    assert WrapupEnded("201") in out and acd.agent("201").activity is Activity.IDLE


def test_wrapup_after_outbound_calls_only_when_configured_and_logged_in() -> None:
    cfg = config([queue("Q", "300")], acd={"wrapup_after_outbound": 15})
    acd = Acd(cfg)
    acd.do(AgentCallStarted("201", "o1", "outbound", "0612345678"))
    acd.do(CallEnded("o1", "201"))
    assert acd.agent("201").wrapup_until is None  # not logged in to any queue (OP 2.5)
    acd.ready("201")
    acd.do(AgentCallStarted("201", "o2", "outbound", "0612345678"))
    acd.do(CallEnded("o2", "201"))
    assert acd.agent("201").wrapup_until == acd.t + 15
    plain = Acd(config([queue("Q", "300")]))
    plain.ready("201")
    plain.do(AgentCallStarted("201", "o3", "outbound", "0612345678"))
    plain.do(CallEnded("o3", "201"))
    assert plain.agent("201").wrapup_until is None


def test_disposition_of_the_current_or_last_call() -> None:
    acd = Acd(config([queue("Q", "300")], acd={"dispositions": [{"code": 1, "name": "resolved"}]}))
    acd.ready("201")
    assert acd.do(SetDisposition("201", "1")) == [Refused("201", "disposition", "no_call")]
    assert acd.do(SetDisposition("201", "7")) == [Refused("201", "disposition", "unknown_disposition")]
    answered(acd, "c1", "Q", "201")
    assert acd.do(SetDisposition("201", "1")) == [
        Disposition("201", "c1", "1", "resolved"),
        Confirmed("201", "disposition", "1"),
    ]
    acd.do(CallEnded("c1", "201"))
    assert of(Disposition, acd.do(SetDisposition("201", "1"))) == [Disposition("201", "c1", "1", "resolved")]
    out = acd.do(SetDisposition("201", "1", call_id="older"))
    assert of(Disposition, out) == [Disposition("201", "older", "1", "resolved")]
