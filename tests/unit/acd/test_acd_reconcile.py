"""The reconciler repairs drift between the engine and the real dialogs and registrations."""

from __future__ import annotations

from acd_kit import WALL, Acd, config, of, offers, queue

from pbx.acd import (
    AgentCallStarted,
    AgentTruth,
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    OfferAnswered,
    Repaired,
    Truth,
    reconcile,
)
from pbx.acd.model import Activity


def fix(acd: Acd, truth: Truth) -> list[object]:
    out = reconcile(acd.engine, truth, acd.t, acd.t + WALL)
    acd.log += out
    return list(out)


def test_nothing_to_repair_when_engine_and_truth_agree() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    truth = Truth({"201": AgentTruth(True, ringing=frozenset({"c1"}))}, live_calls=frozenset({"c1"}))
    assert fix(acd, truth) == []
    assert acd.engine.repairs == {}


def test_lost_bye_agent_back_without_wrapup_and_counted() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=30)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    out = fix(acd, Truth({"201": AgentTruth(True)}))
    assert Repaired("201", "c1", "stale_call") in out
    assert acd.agent("201").activity is Activity.IDLE
    assert acd.engine.repairs == {"stale_call": 1}


def test_stale_offer_goes_back_to_the_queue() -> None:
    acd = Acd(config([queue("Q", "300", strategy="linear", retry_delay=0)]))
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    truth = Truth({"201": AgentTruth(True), "202": AgentTruth(True)})
    out = fix(acd, truth)
    assert Repaired("201", "c1", "stale_offer") in out
    assert offers(out) == [("c1", "202")]
    assert acd.agent("201").missed == 0  # not the agent's fault


def test_answer_that_was_not_reported_is_taken_as_answered() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    out = fix(acd, Truth({"201": AgentTruth(True, dialogs=frozenset({"c1"}))}))
    assert Repaired("201", "c1", "answer_not_reported") in out and of(CallerAnswered, out)
    assert acd.agent("201").activity is Activity.ON_CALL


def test_untracked_dialog_makes_the_agent_busy() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    out = fix(acd, Truth({"201": AgentTruth(True, dialogs=frozenset({"x"}))}))
    assert Repaired("201", "x", "untracked_call") in out
    assert offers(acd.do(CallerJoined("c1", "Q"))) == []


def test_registration_drift_both_ways() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    out = fix(acd, Truth({}))  # 201 missing from the truth: no registered device
    assert Repaired("201", None, "unreachable") in out
    assert acd.agent("201").activity is Activity.UNREACHABLE
    out = fix(acd, Truth({"201": AgentTruth(True)}))
    assert Repaired("201", None, "reachable") in out


def test_waiting_caller_whose_dialog_is_gone_is_removed() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.do(CallerJoined("c1", "Q"))
    acd.do(AgentCallStarted("201", "d1"))
    out = fix(acd, Truth({}, live_calls=frozenset()))
    assert Repaired(None, "c1", "caller_gone") in out and of(CallerAbandoned, out)
    assert acd.engine.calls == {}
