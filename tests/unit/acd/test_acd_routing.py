"""Routing: strategies, penalties, the one ordering rule across queues, offers that fail, callers
who hang up, max wait and overflow, max length, join/leave when empty, announcements."""

from __future__ import annotations

from collections import Counter

import pytest
from acd_kit import Acd, config, of, offers, queue

from pbx.acd import (
    AgentCallStarted,
    AgentReachability,
    Announce,
    AutoPaused,
    CallEnded,
    CallerAbandoned,
    CallerAnswered,
    CallerHungUp,
    CallerJoined,
    CancelOffer,
    CherryPick,
    Chosen,
    HoldCall,
    Login,
    Logout,
    OfferAnswered,
    OfferDeclined,
    OfferNoAnswer,
    Overflow,
    Queued,
    Refused,
    Requeued,
    SetStatus,
    SetWrapup,
    strategy_names,
)
from pbx.config.models import STRATEGIES


def one(strategy: str, **kw: object) -> Acd:
    return Acd(config([queue("Q", "300", strategy=strategy, retry_delay=0, **kw)]))


def serve(acd: Acd, call_id: str) -> str:
    """Join a caller, let the offered agent answer and hang up; return who took it."""
    ((_, agent),) = offers(acd.do(CallerJoined(call_id, "Q")))
    acd.do(OfferAnswered(call_id, agent))
    acd.advance(10)
    acd.do(CallEnded(call_id, agent))
    return agent


def test_every_config_strategy_is_registered() -> None:
    assert set(strategy_names()) == set(STRATEGIES)


def test_ringall_rings_every_available_agent_and_the_first_answer_wins() -> None:
    acd = one("ringall")
    acd.ready("201", "202", "203")
    assert offers(acd.do(CallerJoined("c1", "Q"))) == [("c1", "201"), ("c1", "202"), ("c1", "203")]
    out = acd.do(OfferAnswered("c1", "202"))
    assert of(CancelOffer, out) == [
        CancelOffer("c1", "201", "answered_elsewhere"),
        CancelOffer("c1", "203", "answered_elsewhere"),
    ]
    assert acd.agent("201").offer is None and acd.agent("202").calls


def test_longest_idle_offers_to_who_finished_longest_ago() -> None:
    acd = one("longest_idle")
    acd.ready("201", "202", "203")
    assert serve(acd, "c1") == "201"  # all equal: member order
    assert serve(acd, "c2") == "202"
    assert serve(acd, "c3") == "203"
    assert serve(acd, "c4") == "201"


def test_round_robin_remembers_where_it_was() -> None:
    acd = one("round_robin")
    acd.ready("201", "202", "203")
    assert [serve(acd, f"c{i}") for i in range(4)] == ["201", "202", "203", "201"]
    acd.do(Logout("202"))
    assert [serve(acd, f"d{i}") for i in range(3)] == ["203", "201", "203"]


def test_fewest_calls_and_least_talk_time() -> None:
    acd = one("fewest_calls")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallerJoined("c2", "Q"))
    acd.do(OfferAnswered("c2", "202"))
    acd.advance(100)
    acd.do(CallEnded("c2", "202"))  # 202 talked 100 s
    acd.advance(50)
    acd.do(CallEnded("c1", "201"))  # 201 talked 150 s, finished last
    ((_, agent),) = offers(acd.do(CallerJoined("c3", "Q")))
    assert agent == "202"  # equal calls: the longer idle one

    acd = one("least_talk_time")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.advance(300)
    acd.do(CallEnded("c1", "201"))
    acd.do(CallerJoined("c2", "Q"))  # 202 has talked least
    assert offers(acd.log)[-1] == ("c2", "202")


def test_random_is_reproducible_with_a_seed_and_spreads() -> None:
    def picks(seed: int) -> list[str]:
        acd = Acd(config([queue("Q", "300", strategy="random")]), seed=seed)
        acd.ready("201", "202", "203", "204")
        return [serve(acd, f"c{i}") for i in range(40)]

    assert picks(7) == picks(7)
    assert set(Counter(picks(7))) == {"201", "202", "203", "204"}


def test_linear_goes_by_penalty_then_member_order() -> None:
    acd = one("linear", penalties={"201": 2, "202": 1})
    acd.ready("201", "202", "203")
    assert serve(acd, "c1") == "203"  # penalty 0
    acd.do(Logout("203"))
    assert serve(acd, "c2") == "202"
    acd.do(Logout("202"))
    assert serve(acd, "c3") == "201"


def test_penalty_levels_hold_for_every_strategy() -> None:
    # Asterisk's rule: higher-penalty members ring only when no lower level is available.
    acd = one("ringall", penalties={"203": 1, "204": 1})
    acd.ready("201", "202", "203", "204")
    assert offers(acd.do(CallerJoined("c1", "Q"))) == [("c1", "201"), ("c1", "202")]
    assert offers(acd.do(CallerJoined("c2", "Q"))) == [("c2", "203"), ("c2", "204")]


def test_ring_progressive_adds_an_agent_every_step() -> None:
    acd = one("ring_progressive", progressive_step=5, ring_timeout=30)
    acd.ready("201", "202", "203")
    assert offers(acd.do(CallerJoined("c1", "Q"))) == [("c1", "201")]
    assert offers(acd.advance(5)) == [("c1", "202")]
    assert offers(acd.advance(5)) == [("c1", "203")]
    assert offers(acd.advance(5)) == []
    out = acd.do(OfferAnswered("c1", "203"))
    assert {c.agent for c in of(CancelOffer, out)} == {"201", "202"}


def test_no_answer_within_ring_timeout_goes_to_the_next_agent() -> None:
    acd = one("linear", ring_timeout=15)
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.advance(15)
    assert CancelOffer("c1", "201", "no_answer") in out
    assert offers(out) == [("c1", "202")]
    assert acd.agent("201").offer is None


def test_retry_delay_rests_the_caller_after_a_missed_round() -> None:
    acd = Acd(config([queue("Q", "300", strategy="linear", retry_delay=5, ring_timeout=10)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    assert offers(acd.advance(10)) == []
    assert offers(acd.advance(4.9)) == []
    assert offers(acd.advance(0.1)) == [("c1", "201")]  # the only agent, again


def test_decline_goes_to_the_next_agent() -> None:
    acd = one("linear")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    assert offers(acd.do(OfferDeclined("c1", "201"))) == [("c1", "202")]


def test_offer_failure_reported_by_the_call_layer_goes_to_the_next_agent() -> None:
    acd = one("linear")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    assert offers(acd.do(OfferNoAnswer("c1", "201"))) == [("c1", "202")]


def test_urgent_decline_rings_the_same_agent_again_and_skips_nobody() -> None:
    acd = Acd(config([queue("U", "301", urgent=True, strategy="linear", ring_timeout=30, retry_delay=0)]))
    acd.ready("201", "202")
    acd.do(CallerJoined("u1", "U"))
    out = acd.do(OfferDeclined("u1", "201"))
    assert offers(out) == [("u1", "201")]
    assert acd.agent("201").offer == "u1" and acd.agent("202").offer is None
    counters = acd.engine.queues["U"].counters
    assert (counters.offers, counters.declined) == (2, 1)  # the decline and the new ring both show
    # a phone that declines for ever still moves on at the ring timeout
    assert offers(acd.advance(30)) == [("u1", "202")]


def test_urgent_call_rings_an_agent_on_a_call_and_answering_holds_that_call() -> None:
    acd = Acd(config([queue("Q", "300"), queue("U", "301", urgent=True)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    assert offers(acd.do(CallerJoined("c2", "Q"))) == []  # busy for ordinary calls
    assert offers(acd.do(CallerJoined("u1", "U"))) == [("u1", "201")]
    out = acd.do(OfferAnswered("u1", "201"))
    assert HoldCall("201", "c1") in out
    assert offers(acd.do(CallerJoined("u2", "U"))) == []  # never two urgent calls


def test_autopause_after_missed_offers_in_a_row() -> None:
    acd = Acd(
        config(
            [queue("Q", "300", strategy="linear", autopause_after=2, retry_delay=0, ring_timeout=10)],
            acd={"pause_reasons": [{"code": 9, "name": "missed calls"}], "autopause_reason": 9},
        )
    )
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(10)  # 201 missed once, 202 rings
    acd.do(OfferAnswered("c1", "202"))
    acd.do(CallerJoined("c2", "Q"))  # 201 again
    out = acd.advance(10)
    assert AutoPaused("201", 2) in out
    assert (acd.agent("201").chosen, acd.agent("201").reason) == (Chosen.PAUSED, "9")


def test_answering_resets_the_missed_count() -> None:
    acd = one("linear", autopause_after=2, ring_timeout=10)
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(10)
    acd.do(OfferAnswered("c1", "201"))
    assert acd.agent("201").missed == 0


def test_caller_hanging_up_while_ringing_cancels_every_offer_and_counts_abandoned() -> None:
    acd = one("ringall")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(3)
    out = acd.do(CallerHungUp("c1"))
    assert of(CancelOffer, out) == [
        CancelOffer("c1", "201", "caller_hangup"),
        CancelOffer("c1", "202", "caller_hangup"),
    ]
    assert of(CallerAbandoned, out) == [CallerAbandoned("c1", "Q", 3)]
    assert acd.engine.queues["Q"].counters.abandoned == 1
    assert acd.agent("201").offer is None and acd.engine.eligible("201", "Q", acd.t)


def test_max_wait_overflows_to_a_user_or_into_another_queue_keeping_the_callers_time() -> None:
    cfg = config(
        [
            queue("A", "300", max_wait=60, overflow="B"),
            queue("B", "301", max_wait=30, overflow="204", members=("203",)),
        ]
    )
    acd = Acd(cfg)
    acd.do(CallerJoined("c1", "A"))
    out = acd.advance(60)
    assert Requeued("c1", "A", "B", "max_wait") in out
    assert acd.engine.calls["c1"].since == 1000.0
    out = acd.advance(30)
    assert Overflow("c1", "B", "204", "max_wait") in out
    assert "c1" not in acd.engine.calls


def test_max_wait_while_ringing_cancels_the_offer() -> None:
    acd = one("linear", max_wait=15, ring_timeout=20)
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.advance(15)
    assert CancelOffer("c1", "201", "overflow") in out and Overflow("c1", "Q", None, "max_wait") in out
    assert acd.agent("201").offer is None


def test_max_length_refuses_more_callers() -> None:
    acd = one("linear", max_length=2)
    acd.do(CallerJoined("c1", "Q"))
    acd.do(CallerJoined("c2", "Q"))
    assert acd.do(CallerJoined("c3", "Q")) == [Overflow("c3", "Q", None, "full")]


def test_join_and_leave_when_empty() -> None:
    acd = one("linear", join_when_empty=False, leave_when_empty=True)
    assert acd.do(CallerJoined("c1", "Q")) == [Overflow("c1", "Q", None, "empty")]
    acd.ready("201")
    acd.do(SetStatus("201", Chosen.PAUSED))  # paused agents still count as present
    assert of(Queued, acd.do(CallerJoined("c2", "Q")))
    out = acd.do(AgentReachability("201", False))
    assert Overflow("c2", "Q", None, "empty") in out


def test_unknown_queue_is_an_overflow_without_target() -> None:
    acd = one("linear")
    assert acd.do(CallerJoined("c1", "Nope")) == [Overflow("c1", "Nope", None, "unknown_queue")]


def test_joining_twice_is_one_caller() -> None:
    acd = one("linear")
    acd.do(CallerJoined("c1", "Q"))
    assert acd.do(CallerJoined("c1", "Q")) == []
    assert len(acd.engine.queues["Q"].waiting) == 1


def test_announcements_of_position_skip_the_next_caller() -> None:
    acd = Acd(config([queue("Q", "300", announce_frequency=30)]))
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(1)
    acd.do(CallerJoined("c2", "Q"))
    acd.advance(1)
    acd.do(CallerJoined("c3", "Q"))
    out = acd.advance(30)
    assert of(Announce, out) == [Announce("c2", "Q", 2, None), Announce("c3", "Q", 3, None)]
    assert of(Announce, acd.advance(30)) == [Announce("c2", "Q", 2, None), Announce("c3", "Q", 3, None)]


def test_expected_wait_comes_from_handled_calls() -> None:
    acd = Acd(config([queue("Q", "300", announce_frequency=30, wrapup=20)]))
    acd.ready("201")
    acd.do(CallerJoined("c0", "Q"))
    acd.do(OfferAnswered("c0", "201"))
    acd.advance(100)
    acd.do(CallerJoined("c1", "Q"))
    acd.do(CallerJoined("c2", "Q"))
    acd.do(CallEnded("c0", "201"))  # handle time 100 + 20
    out = acd.advance(30)
    assert of(Announce, out) == [Announce("c2", "Q", 2, 240)]


def test_cherry_pick_takes_any_waiting_caller_even_from_a_queue_not_logged_in_to() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.do(AgentReachability("201", True))
    acd.do(CallerJoined("c1", "Q"))
    acd.do(CallerJoined("c2", "Q"))
    assert offers(acd.do(CherryPick("201", "c2"))) == [("c2", "201")]
    out = acd.do(OfferAnswered("c2", "201"))
    assert of(CallerAnswered, out) == [CallerAnswered("c2", "Q", "201", 0)]
    assert list(acd.engine.calls) == ["c1"]


def test_cherry_pick_only_from_a_queue_the_agent_may_see() -> None:
    """A queue with groups is seen by its members, by users in one of its groups, and by
    supervisors and admins; others are refused (OP 2.1.2: "any queue they may see")."""
    cfg = config(
        [queue("Ens", "300", members=("201",), groups=["Enschede"])],
        agents=("201", "202", "203"),
        groups={"202": ["Enschede"], "203": ["Den Bosch"]},
    )
    for ext, allowed in (("203", False), ("202", True), ("201", True), ("209", True)):
        acd = Acd(cfg)
        acd.do(AgentReachability(ext, True))
        acd.do(CallerJoined("c1", "Ens"))
        out = acd.do(CherryPick(ext, "c1"))
        if allowed:
            assert offers(out) == [("c1", ext)], ext
        else:
            assert out == [Refused(ext, "cherry_pick", "queue_not_visible")]
            assert list(acd.engine.calls) == ["c1"]  # the caller still waits, untouched


def test_late_answer_after_the_ring_timeout_still_serves_a_waiting_caller() -> None:
    acd = Acd(config([queue("Q", "300", strategy="linear", retry_delay=5, ring_timeout=10)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(10)  # the offer timed out; the 200 crossed our CANCEL
    out = acd.do(OfferAnswered("c1", "201"))
    assert of(CallerAnswered, out) and acd.agent("201").calls


def test_answer_for_a_caller_who_is_gone_drops_the_agent_leg() -> None:
    acd = one("linear")
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(CallerHungUp("c1"))
    assert acd.do(OfferAnswered("c1", "201")) == [CancelOffer("c1", "201", "caller_gone")]
    assert not acd.agent("201").calls


@pytest.mark.parametrize("status", [Chosen.PAUSED, Chosen.OFFLINE])
def test_pausing_or_going_offline_while_ringing_cancels_the_offer(status: Chosen) -> None:
    acd = one("linear")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(SetStatus("201", status))
    assert CancelOffer("c1", "201", f"agent_{status.value}") in out
    assert offers(out) == [("c1", "202")]


def test_working_offline_takes_no_queue_calls() -> None:
    acd = one("ringall")
    acd.ready("201", "202")
    acd.do(SetStatus("201", Chosen.OFFLINE))
    assert offers(acd.do(CallerJoined("c1", "Q"))) == [("c1", "202")]


def test_logging_out_during_an_offer_cancels_it() -> None:
    acd = one("linear")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(Logout("201", "Q"))
    assert CancelOffer("c1", "201", "agent_logged_out") in out and offers(out) == [("c1", "202")]


def test_login_serves_who_is_waiting() -> None:
    acd = one("linear")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(AgentReachability("201", True))
    assert offers(acd.do(Login("201"))) == [("c1", "201")]


def test_cherry_pick_during_wrapup_is_the_agents_choice() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(SetWrapup("201", on=True))
    acd.do(CallerJoined("c1", "Q"))
    assert offers(acd.do(CherryPick("201", "c1"))) == [("c1", "201")]


def test_cherry_pick_refused_while_on_a_call_or_unregistered() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.do(CallerJoined("c1", "Q"))
    assert acd.do(CherryPick("201", "c1")) == [Refused("201", "cherry_pick", "phone_unregistered")]
    acd.do(AgentReachability("201", True))
    acd.do(AgentCallStarted("201", "d1"))
    assert acd.do(CherryPick("201", "c1")) == [Refused("201", "cherry_pick", "agent_busy")]
    assert acd.do(CherryPick("201", "nope")) == [Refused("201", "cherry_pick", "no_such_caller")]


def test_taking_another_call_while_ringing_cancels_the_offer() -> None:
    acd = one("linear")
    acd.ready("201", "202")
    acd.do(CallerJoined("c1", "Q"))
    out = acd.do(AgentCallStarted("201", "o1", "outbound", "0612"))
    assert CancelOffer("c1", "201", "agent_busy") in out and offers(out) == [("c1", "202")]


def test_urgent_offer_keeps_ringing_when_the_agents_call_ends() -> None:
    acd = Acd(config([queue("Q", "300", wrapup=30), queue("U", "301", urgent=True)]))
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallerJoined("u1", "U"))
    acd.do(CallEnded("c1", "201"))
    assert acd.agent("201").offer == "u1" and acd.agent("201").wrapup_until == acd.t + 30
    assert of(CallerAnswered, acd.do(OfferAnswered("u1", "201")))
