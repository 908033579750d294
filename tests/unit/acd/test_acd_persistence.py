"""Records: agent state, logins, pause reasons and wrap-up deadlines survive a restart and a
reload (the store keeps the last PersistAgent record per agent)."""

from __future__ import annotations

import random

from acd_kit import WALL, Acd, config, of, offers, queue

from pbx.acd import (
    AcdEngine,
    AgentReachability,
    CallEnded,
    CallerJoined,
    ChooseGroup,
    Chosen,
    Login,
    OfferAnswered,
    Overflow,
    PersistAgent,
    SetStatus,
    SetWrapup,
)
from pbx.acd.model import Activity

CFG = config(
    [queue("Q", "300", wrapup=120, groups=["Enschede"]), queue("R", "301")],
    acd={"pause_reasons": [{"code": 1, "name": "lunch"}]},
    groups={"201": ["Enschede"], "202": ["Enschede"]},
)


def stored(acd: Acd) -> list[dict[str, object]]:
    """What the shell's store holds: the last record per key."""
    rows: dict[str, dict[str, object]] = {}
    for e in acd.log:
        if isinstance(e, PersistAgent):
            assert e.kind == "acd_agent"
            rows[e.key] = e.record
    return list(rows.values())


def restart(old: Acd, gap: float, cfg: object = CFG) -> Acd:
    """A new process: another monotonic origin, `gap` seconds of wall time later."""
    new = Acd(cfg, start=50.0)  # type: ignore[arg-type]
    shift = (old.t + WALL + gap) - (new.t + WALL)
    new.engine.restore(stored(old), new.t, new.t + WALL + shift)
    new.engine.handle(AgentReachability("201", True), new.t, new.t + WALL + shift)
    new.engine.handle(AgentReachability("202", True), new.t, new.t + WALL + shift)
    return new


def test_chosen_status_reason_logins_and_group_survive_a_restart() -> None:
    acd = Acd(CFG)
    acd.ready("201", "202")
    acd.do(ChooseGroup("202", "Enschede"))
    acd.do(SetStatus("201", Chosen.PAUSED, "1"))
    acd.advance(30)
    new = restart(acd, gap=10)
    a, b = new.agent("201"), new.agent("202")
    assert (a.chosen, a.reason, a.queues) == (Chosen.PAUSED, "1", {"Q", "R"})
    assert new.t - a.chosen_since == 40  # paused 30 s before the restart, 10 s while down
    assert (b.chosen, b.group, b.queues) == (Chosen.AVAILABLE, "Enschede", {"Q", "R"})


def test_wrapup_deadline_survives_a_restart_in_wall_time() -> None:
    acd = Acd(CFG)
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallEnded("c1", "201"))  # wrap-up until +120
    new = restart(acd, gap=20)
    assert new.agent("201").activity is Activity.WRAPUP
    assert new.engine.next_deadline() == new.t + 100
    assert offers(new.do(CallerJoined("c2", "Q"))) == []
    assert offers(new.advance(100)) == [("c2", "201")]


def test_a_wrapup_that_ended_while_down_is_over() -> None:
    acd = Acd(CFG)
    acd.ready("201")
    acd.do(CallerJoined("c1", "Q"))
    acd.do(OfferAnswered("c1", "201"))
    acd.do(CallEnded("c1", "201"))
    new = restart(acd, gap=500)
    assert new.agent("201").activity is Activity.IDLE


def test_manual_wrapup_survives_a_restart() -> None:
    acd = Acd(CFG)
    acd.ready("201")
    acd.do(SetWrapup("201", on=True))
    new = restart(acd, gap=5)
    assert new.agent("201").manual_wrapup and new.agent("201").activity is Activity.WRAPUP


def test_reload_keeps_state_and_drops_logins_of_removed_memberships() -> None:
    acd = Acd(CFG)
    acd.ready("201", "202")
    acd.do(SetStatus("201", Chosen.PAUSED, "1"))
    acd.do(CallerJoined("r1", "R"))  # R is ringing 202 (201 paused)
    assert offers(acd.log)[-1] == ("r1", "202")
    smaller = config(
        [queue("Q", "300", wrapup=120, members=("201",))],
        acd={"pause_reasons": [{"code": 1, "name": "lunch"}]},
    )
    out = acd.engine.apply_config(smaller, acd.t, acd.t + WALL)
    assert Overflow("r1", "R", None, "queue_removed") in out
    a, b = acd.agent("201"), acd.agent("202")
    assert (a.chosen, a.reason, a.queues) == (Chosen.PAUSED, "1", {"Q"})
    assert (b.chosen, b.queues, b.offer) == (Chosen.LOGGED_OUT, set(), None)
    assert any(isinstance(e, PersistAgent) and e.key == "202" for e in out)


def test_restore_ignores_unknown_agents_queues_and_reasons() -> None:
    engine = AcdEngine(CFG, random.Random(1), now=0.0)
    records = [
        {"ext": "999", "chosen": "available", "queues": ["Q"]},
        {"ext": "201", "chosen": "paused", "reason": "7", "queues": ["Gone", "Q"], "group": "Mars"},
        {"ext": "202", "chosen": "paused", "reason": "1", "queues": ["Gone"]},
    ]
    out = engine.restore(records, 0.0, WALL)
    a, b = engine.agents["201"], engine.agents["202"]
    assert (a.chosen, a.reason, a.queues, a.group) == (Chosen.PAUSED, None, {"Q"}, None)
    assert (b.chosen, b.queues) == (Chosen.LOGGED_OUT, set())
    assert of(PersistAgent, out)  # the cleaned-up state is written back


def test_records_are_json_plain() -> None:
    import json

    acd = Acd(CFG)
    acd.do(Login("201"))
    for row in stored(acd):
        assert json.loads(json.dumps(row)) == row


def test_reload_applies_new_priorities_and_max_wait_to_waiting_callers() -> None:
    acd = Acd(config([queue("A", "300", max_wait=300), queue("B", "301")]))
    acd.do(CallerJoined("b1", "B"))
    acd.advance(5)
    acd.do(CallerJoined("a1", "A"))
    acd.advance(5)
    newer = config([queue("A", "300", max_wait=20, priority=3), queue("B", "301")])
    acd.engine.apply_config(newer, acd.t, acd.t + WALL)
    assert of(Overflow, acd.advance(14)) == []
    assert of(Overflow, acd.advance(1)) == [Overflow("a1", "A", None, "max_wait")]  # entered + 20
    acd.do(CallerJoined("a2", "A"))
    acd.do(AgentReachability("201", True))
    assert offers(acd.do(Login("201"))) == [("a2", "201")]  # priority 3 beats b1's longer wait
