"""Live statistics per queue, agent snapshots, waiting callers and why-not."""

from __future__ import annotations

from datetime import timedelta, timezone

from acd_kit import WALL, Acd, config, queue

from pbx.acd import (
    AgentCallStarted,
    AgentReachability,
    CallEnded,
    CallerHungUp,
    CallerJoined,
    Chosen,
    Login,
    OfferAnswered,
    SetStatus,
    SetWrapup,
    agent_snapshot,
    agent_snapshots,
    agents_by_status,
    queue_stats,
    waiting,
    why_not,
)


def test_queue_stats_count_what_op_3_1_shows() -> None:
    acd = Acd(config([queue("Q", "300", strategy="linear", service_level=20)]))
    acd.ready("201", "202")
    acd.do(SetStatus("202", Chosen.PAUSED))
    acd.do(CallerJoined("c1", "Q"))
    acd.advance(10)
    acd.do(OfferAnswered("c1", "201"))  # waited 10: within service level
    acd.do(CallerJoined("c2", "Q"))
    acd.advance(5)
    acd.do(CallerHungUp("c2"))
    acd.do(CallerJoined("c3", "Q"))
    acd.advance(7)
    (s,) = queue_stats(acd.engine, acd.t)
    assert (s.logged_in, s.available, s.waiting, s.longest_wait) == (2, 0, 1, 7)
    assert (s.entered, s.answered, s.abandoned, s.average_wait) == (3, 1, 1, 10)
    assert s.service_level == 0.5


def test_waiting_callers_in_order_with_the_ringing_agent() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.do(CallerJoined("c1", "Q", "0611", "Jan", did="0534800900"))
    acd.advance(2)
    acd.do(CallerJoined("c2", "Q", "0622", "Piet", priority=5))
    acd.ready("201")
    rows = waiting(acd.engine, "Q", acd.t)
    assert [(r.call_id, r.position, r.ringing) for r in rows] == [("c2", 1, ("201",)), ("c1", 2, ())]
    assert rows[1].waited == 2 and rows[1].did == "0534800900"


def test_agent_snapshot_shows_the_current_call() -> None:
    acd = Acd(config([queue("Q", "300")]))
    acd.ready("201")
    acd.do(AgentCallStarted("201", "o1", "outbound", "0612345678"))
    acd.advance(65)
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None
    assert snap.status == "on_call" and snap.time_in_status == 65
    (call,) = snap.calls
    assert (call.direction, call.number, call.duration) == ("outbound", "0612345678", 65)
    assert [s.ext for s in agent_snapshots(acd.engine, acd.t)] == ["201", "202", "203", "204", "209"]


def test_why_not_says_why_in_words() -> None:
    cfg = config(
        [queue("Q", "300", wrapup=30), queue("R", "301", members=("202",))],
        acd={"pause_reasons": [{"code": 1, "name": "lunch"}]},
    )
    acd = Acd(cfg, start=1000.0)
    cet = timezone(timedelta(hours=1))

    def why(ext: str, queue_name: str | None = None) -> str:
        return why_not(acd.engine, ext, acd.t, acd.t + WALL, queue_name, tz=cet)

    assert why("299") == "299 is not an agent"
    assert why("201") == "not logged in to any queue"
    acd.do(Login("201"))
    assert why("201") == "phone not registered"
    acd.do(AgentReachability("201", True))
    acd.advance(120)
    acd.do(AgentReachability("201", False))
    acd.advance(125)
    assert why("201") == "phone unregistered 2 min"
    acd.do(AgentReachability("201", True))
    acd.do(SetStatus("201", Chosen.PAUSED, "1"))
    # wall 1_800_001_245 = 2027-01-15 08:20:45 UTC, 09:20 in UTC+1
    assert why("201") == "paused (lunch) since 09:20"
    acd.do(SetStatus("201", Chosen.OFFLINE))
    assert why("201") == "working offline since 09:20"
    acd.do(SetStatus("201", Chosen.AVAILABLE))
    assert why("201") == "available, nobody is waiting"
    acd.do(CallerJoined("c1", "Q"))
    assert why("201") == "phone ringing for a queue call for 0 s"
    acd.do(OfferAnswered("c1", "201"))
    acd.advance(61)
    assert why("201") == "on a call for 1 min"
    acd.do(CallEnded("c1", "201"))
    acd.advance(16)
    assert why("201") == "wrap-up ends in 14 s"
    acd.do(SetWrapup("201", on=True))
    assert why("201").startswith("in manual wrap-up since ")
    assert why("201", "R") == "not a member of queue R"
    acd.do(Login("202", "Q"))
    assert why("202", "R") == "not logged in to queue R"


def test_agents_by_status_per_queue_for_metrics() -> None:
    acd = Acd(config([queue("Q", "300"), queue("R", "301", members=("201",))]))
    acd.ready("201", "202")
    acd.do(Login("203"))
    acd.do(SetStatus("202", Chosen.PAUSED))
    assert agents_by_status(acd.engine) == {
        ("Q", "available"): 1,
        ("R", "available"): 1,
        ("Q", "paused"): 1,
        ("Q", "unreachable"): 1,
    }
