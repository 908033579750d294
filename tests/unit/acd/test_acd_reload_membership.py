"""Regression (found by scripts/simulate --faults): a reload that removes an agent from a queue's
members logs them out of it, but the queue's eligible set kept them, so the engine went on
offering that queue's callers to the removed agent, even while they were on a call."""

from __future__ import annotations

from acd_kit import Acd, config, offers, queue

from pbx.acd import AgentCallStarted, CallerJoined, Login


def test_a_member_removed_by_a_reload_is_offered_nothing() -> None:
    acd = Acd(config([queue("A", "300", members=("201", "202"))]))
    acd.ready("201", "202")
    acd.do(AgentCallStarted("202", "direct-1"))  # 202 busy: 201 is the only free member
    acd.engine.apply_config(config([queue("A", "300", members=("202",))]), acd.t, acd.t)
    assert "A" not in acd.agent("201").queues
    assert not acd.engine.eligible("201", "A", acd.t)
    assert offers(acd.do(CallerJoined("c1", "A"))) == []
    assert "201" not in acd.engine.queues["A"].eligible


def test_a_member_put_back_by_a_reload_is_offered_calls_after_logging_in() -> None:
    acd = Acd(config([queue("A", "300", members=("201", "202"))]))
    acd.ready("201", "202")
    acd.do(AgentCallStarted("202", "direct-1"))
    acd.engine.apply_config(config([queue("A", "300", members=("202",))]), acd.t, acd.t)
    acd.engine.apply_config(config([queue("A", "300", members=("201", "202"))]), acd.t, acd.t)
    assert offers(acd.do(CallerJoined("c1", "A"))) == []  # logged out by the first reload
    assert offers(acd.do(Login("201"))) == [("c1", "201")]
