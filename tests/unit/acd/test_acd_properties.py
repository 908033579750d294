"""Property tests (hypothesis): random mixes of callers, agents, answers, failures, status changes
and time, with the invariants of issue 7 checked after every step:

- no queue call is offered to an agent in wrap-up, paused, offline, logged out of that queue,
  unreachable, or already on a call (an urgent queue's call may ring an agent on a non-urgent
  call: OP 5.2) or already ringing;
- offers are consistent both ways (no agent left "ringing" for a caller who is not ringing them);
- no caller is lost or served twice: every caller who joined is waiting, answered once, abandoned
  or overflowed, and nothing else;
- priority then waiting time holds across queues: an agent is never given a caller while a
  better-ranked caller of another of their queues waits unserved.
"""

from __future__ import annotations

from typing import Any

from acd_kit import WALL, Acd, config, queue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx.acd import (
    AgentCallStarted,
    AgentReachability,
    CallEnded,
    CallerAbandoned,
    CallerAnswered,
    CallerHungUp,
    CallerJoined,
    CherryPick,
    Chosen,
    Effect,
    Login,
    Logout,
    Offer,
    OfferAnswered,
    OfferDeclined,
    OfferNoAnswer,
    Overflow,
    SetStatus,
    SetWrapup,
    TogglePause,
)
from pbx.config.models import STRATEGIES

AGENTS = ("201", "202", "203", "204")
QUEUES = ("A", "B", "U")
CALLS = tuple(f"c{i}" for i in range(12))

action = st.one_of(
    st.tuples(st.just("join"), st.sampled_from(CALLS), st.sampled_from(QUEUES), st.integers(0, 2)),
    st.tuples(st.just("answer"), st.integers(0, 7)),
    st.tuples(st.just("decline"), st.integers(0, 7)),
    st.tuples(st.just("noanswer"), st.integers(0, 7)),
    st.tuples(st.just("hangup"), st.sampled_from(CALLS)),
    st.tuples(st.just("end"), st.sampled_from(AGENTS), st.integers(0, 3)),
    st.tuples(st.just("direct"), st.sampled_from(AGENTS), st.integers(0, 3)),
    st.tuples(st.just("reach"), st.sampled_from(AGENTS), st.booleans()),
    st.tuples(st.just("login"), st.sampled_from(AGENTS), st.sampled_from((None, *QUEUES))),
    st.tuples(st.just("logout"), st.sampled_from(AGENTS), st.sampled_from((None, *QUEUES))),
    st.tuples(st.just("status"), st.sampled_from(AGENTS), st.sampled_from(list(Chosen))),
    st.tuples(st.just("pause"), st.sampled_from(AGENTS)),
    st.tuples(st.just("wrapup"), st.sampled_from(AGENTS)),
    st.tuples(st.just("pick"), st.sampled_from(AGENTS), st.sampled_from(CALLS)),
    st.tuples(st.just("wait"), st.sampled_from((0.5, 1, 3, 5, 10, 25))),
)


def build(strategies: tuple[str, str, str], penalties: dict[str, int]) -> Acd:
    cfg = config(
        [
            queue("A", "300", strategy=strategies[0], wrapup=5, ring_timeout=10, max_wait=120, retry_delay=2),
            queue(
                "B",
                "301",
                strategy=strategies[1],
                priority=2,
                ring_timeout=8,
                max_wait=60,
                overflow="A",
                retry_delay=0,
                members=("201", "202", "203"),
                penalties=penalties,
            ),
            queue(
                "U",
                "302",
                strategy=strategies[2],
                urgent=True,
                wrapup=3,
                ring_timeout=6,
                max_wait=200,
                progressive_step=2,
                members=("202", "203", "204"),
                autopause_after=2,
            ),
        ]
    )
    return Acd(cfg, seed=5)


class Ledger:
    def __init__(self) -> None:
        self.joined: set[str] = set()
        self.answered: set[str] = set()
        self.gone: set[str] = set()  # abandoned or overflowed out of the engine

    def record(self, out: list[Effect]) -> None:
        for e in out:
            if isinstance(e, CallerAnswered):
                assert e.call_id not in self.answered, f"{e.call_id} served twice"
                self.answered.add(e.call_id)
            elif isinstance(e, CallerAbandoned | Overflow):
                self.gone.add(e.call_id)


def check(acd: Acd, out: list[Effect], ledger: Ledger, picked: bool, before: dict[str, Any]) -> None:
    eng, now = acd.engine, acd.t
    ledger.record(out)
    # no caller lost or served twice
    assert set(eng.calls) == ledger.joined - ledger.answered - ledger.gone
    assert not (ledger.answered & ledger.gone) or all(c in ledger.joined for c in ledger.answered)
    # offers consistent both ways
    for w in eng.calls.values():
        for ext in w.offers:
            assert eng.agents[ext].offer == w.call_id
    for ext, agent in eng.agents.items():
        if agent.offer is not None:
            assert ext in eng.calls[agent.offer].offers, f"{ext} left ringing for {agent.offer}"
    for e in out:
        if not isinstance(e, Offer) or picked:
            continue
        agent = eng.agents[e.agent]
        q = eng.queues[e.queue]
        if agent.offer != e.call_id:
            continue  # rung and stopped within the step
        if before.get(e.agent) == e.call_id:
            continue  # an urgent decline rung again (maybe a cherry-pick): not a new routing decision
        assert agent.chosen is Chosen.AVAILABLE and e.queue in agent.queues
        assert agent.reachable and not agent.in_wrapup(now)
        if agent.calls:
            assert q.cfg.urgent and not any(c.urgent for c in agent.calls.values())
        w = eng.calls[e.call_id]
        for other in eng.calls.values():
            if other.rank < w.rank and not other.offers and other.rest_until is None:
                same_kind = eng.queues[other.queue].cfg.urgent == q.cfg.urgent or not agent.calls
                assert not (other.queue in agent.queues and same_kind), (
                    f"{e.agent} got {e.call_id} while {other.call_id} ({other.queue}) waits ahead"
                )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strategies=st.tuples(*(st.sampled_from(STRATEGIES),) * 3),
    penalties=st.dictionaries(st.sampled_from(("201", "202", "203")), st.integers(0, 2), max_size=3),
    actions=st.lists(action, min_size=1, max_size=80),
)
def test_invariants_hold_for_any_sequence(
    strategies: tuple[str, str, str], penalties: dict[str, int], actions: list[tuple[Any, ...]]
) -> None:
    acd = build(strategies, penalties)
    ledger = Ledger()
    for ext in AGENTS:
        acd.ready(ext)
    for act in actions:
        before = {ext: a.offer for ext, a in acd.engine.agents.items()}
        picked = False
        match act:
            case ("join", call_id, q, prio):
                if call_id in ledger.joined:
                    continue  # a call id is used once, as the call layer's are
                ledger.joined.add(call_id)
                out = acd.do(CallerJoined(call_id, q, priority=prio))
            case ("answer" | "decline" | "noanswer", i):
                ringing = sorted((a.offer, ext) for ext, a in acd.engine.agents.items() if a.offer)
                if not ringing:
                    continue
                call_id, ext = ringing[i % len(ringing)]
                kind = {"answer": OfferAnswered, "decline": OfferDeclined, "noanswer": OfferNoAnswer}[act[0]]
                out = acd.do(kind(call_id, ext))
            case ("hangup", call_id):
                out = acd.do(CallerHungUp(call_id))
            case ("end", ext, i):
                calls = sorted(acd.agent(ext).calls)
                if not calls:
                    continue
                out = acd.do(CallEnded(calls[i % len(calls)], ext))
            case ("direct", ext, i):
                out = acd.do(AgentCallStarted(ext, f"d{ext}{i}", "outbound" if i % 2 else "inbound"))
            case ("reach", ext, up):
                out = acd.do(AgentReachability(ext, up))
            case ("login", ext, q):
                out = acd.do(Login(ext, q))
            case ("logout", ext, q):
                out = acd.do(Logout(ext, q))
            case ("status", ext, status):
                out = acd.do(SetStatus(ext, status))
            case ("pause", ext):
                out = acd.do(TogglePause(ext))
            case ("wrapup", ext):
                out = acd.do(SetWrapup(ext))
            case ("pick", ext, call_id):
                picked = True
                out = acd.do(CherryPick(ext, call_id))
            case ("wait", dt):
                out = []
                end = acd.t + dt
                while (d := acd.engine.next_deadline()) is not None and d <= end:
                    before = {ext: a.offer for ext, a in acd.engine.agents.items()}
                    acd.t = max(acd.t, d)
                    step = acd.engine.on_timer(acd.t, acd.t + WALL)
                    check(acd, step, ledger, False, before)
                acd.t = end
                continue
            case _:
                raise AssertionError(act)
        check(acd, out, ledger, picked, before)
