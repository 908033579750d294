"""Agents: logins per queue and for all queues, groups, chosen status, the transition tables,
time in status, and who may do what to whom."""

from __future__ import annotations

import pytest
from acd_kit import Acd, config, of, queue

from pbx.acd import (
    AgentChanged,
    AgentReachability,
    ChooseGroup,
    Chosen,
    Confirmed,
    InvalidAgentTransition,
    Login,
    Logout,
    PersistAgent,
    Refused,
    SetStatus,
    ToggleLogin,
    TogglePause,
    agent_snapshot,
)
from pbx.acd.model import ACTIVITY_ALLOWED, CHOSEN_ALLOWED, Activity, Agent

THREE = [
    queue("Algemeen", "300", groups=["Enschede", "Den Bosch"]),
    queue("Urgent", "301", urgent=True, priority=10),
    queue("Enschede", "302", groups=["Enschede"]),
]
GROUPS = {"201": ["Enschede", "Den Bosch"], "202": ["Den Bosch"]}


@pytest.fixture
def acd() -> Acd:
    return Acd(config(THREE, acd={"pause_reasons": [{"code": 1, "name": "lunch"}]}, groups=GROUPS))


def test_agents_are_users_with_an_agent_role_or_a_membership(acd: Acd) -> None:
    assert sorted(acd.engine.agents) == ["201", "202", "203", "204", "209"]  # 210 is an admin


def test_login_to_one_queue_by_name_or_number_then_toggle_it(acd: Acd) -> None:
    acd.do(Login("201", "300"))
    assert acd.agent("201").queues == {"Algemeen"}
    assert acd.agent("201").chosen is Chosen.AVAILABLE
    acd.do(ToggleLogin("201", "Urgent"))
    assert acd.agent("201").queues == {"Algemeen", "Urgent"}
    out = acd.do(ToggleLogin("201", "301"))
    assert acd.agent("201").queues == {"Algemeen"}
    assert Confirmed("201", "logout", "Urgent") in out


def test_toggle_all_queues_logs_in_to_all_then_out_of_all(acd: Acd) -> None:
    acd.do(ToggleLogin("201"))
    assert acd.agent("201").queues == {"Algemeen", "Urgent", "Enschede"}
    acd.do(ToggleLogin("201"))
    assert acd.agent("201").queues == set()
    assert acd.agent("201").chosen is Chosen.LOGGED_OUT


def test_logging_out_of_the_last_queue_is_logged_out_and_ends_a_pause(acd: Acd) -> None:
    acd.do(Login("201", "Algemeen"))
    acd.do(TogglePause("201", "1"))
    acd.do(Logout("201", "Algemeen"))
    assert (acd.agent("201").chosen, acd.agent("201").reason) == (Chosen.LOGGED_OUT, None)


def test_not_a_member_unknown_queue_and_unknown_agent_are_refused(acd: Acd) -> None:
    cfg = config([queue("Small", "300", members=("201",))])
    small = Acd(cfg)
    assert small.do(Login("202", "Small")) == [Refused("202", "login", "not_a_member")]
    assert acd.do(Login("201", "399")) == [Refused("201", "login", "unknown_queue")]
    assert acd.do(Login("299")) == [Refused("299", "login", "unknown_agent")]


def test_choosing_a_group_keeps_shared_queues_and_logs_out_of_the_rest(acd: Acd) -> None:
    # OP 1.3: from Enschede to Den Bosch keeps Algemeen (both groups) and Urgent (no groups).
    acd.do(ChooseGroup("201", "Enschede"))
    acd.do(Login("201"))
    assert acd.agent("201").queues == {"Algemeen", "Urgent", "Enschede"}
    acd.do(ChooseGroup("201", "Den Bosch"))
    assert acd.agent("201").queues == {"Algemeen", "Urgent"}
    assert acd.do(Login("201", "Enschede")) == [Refused("201", "login", "not_in_group")]
    assert acd.do(ChooseGroup("202", "Enschede")) == [Refused("202", "choose_group", "not_in_group")]


def test_supervisors_may_log_others_in_and_out_agents_may_not(acd: Acd) -> None:
    assert acd.do(Login("201", "Algemeen", by="202")) == [Refused("201", "login", "not_allowed")]
    acd.do(Login("201", "Algemeen", by="209"))
    acd.do(Login("202", "Algemeen", by="210"))  # an admin too
    assert acd.agent("201").queues == acd.agent("202").queues == {"Algemeen"}
    acd.do(Logout("201", by="209"))
    assert acd.agent("201").queues == set()


def test_status_choices_and_reasons(acd: Acd) -> None:
    assert acd.do(SetStatus("201", Chosen.PAUSED)) == [Refused("201", "status", "not_logged_in")]
    acd.do(Login("201"))
    assert acd.do(SetStatus("201", Chosen.PAUSED, "9")) == [Refused("201", "status", "unknown_reason")]
    acd.do(SetStatus("201", Chosen.PAUSED, "1"))
    assert (acd.agent("201").chosen, acd.agent("201").reason) == (Chosen.PAUSED, "1")
    acd.do(SetStatus("201", Chosen.OFFLINE))
    assert (acd.agent("201").chosen, acd.agent("201").reason) == (Chosen.OFFLINE, None)
    acd.do(TogglePause("201"))
    assert acd.agent("201").chosen is Chosen.PAUSED
    acd.do(TogglePause("201"))
    assert acd.agent("201").chosen is Chosen.AVAILABLE
    acd.do(SetStatus("201", Chosen.LOGGED_OUT))
    assert acd.agent("201").queues == set()


def test_time_in_status_is_known(acd: Acd) -> None:
    acd.do(AgentReachability("201", True))
    acd.do(Login("201"))
    acd.advance(100)
    acd.do(SetStatus("201", Chosen.PAUSED, "1"))
    acd.advance(42)
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None
    assert (snap.status, snap.time_in_status, snap.reason_name) == ("paused", 42, "lunch")


def test_every_change_reports_agent_changed_and_persists_once_per_step(acd: Acd) -> None:
    out = acd.do(Login("201"))
    assert of(AgentChanged, out) == [AgentChanged("201", "available", "unreachable", None)]
    (persist,) = of(PersistAgent, out)
    assert persist.record["queues"] == ["Algemeen", "Enschede", "Urgent"]


def test_urgent_logout_is_flagged(acd: Acd) -> None:
    acd.do(Login("201", "Algemeen"))
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None and snap.urgent_logged_out
    acd.do(Login("201", "Urgent"))
    snap = agent_snapshot(acd.engine, "201", acd.t)
    assert snap is not None and not snap.urgent_logged_out


def test_tables_refuse_moves_they_do_not_list() -> None:
    agent = Agent("201", "", "agent", ())
    assert Chosen.LOGGED_OUT not in CHOSEN_ALLOWED[Chosen.LOGGED_OUT]
    with pytest.raises(InvalidAgentTransition):
        agent.choose(Chosen.LOGGED_OUT, 1.0)
    assert Activity.OFFERED not in ACTIVITY_ALLOWED[Activity.UNREACHABLE]
    agent.activity = Activity.UNREACHABLE
    agent.offer = "c1"
    with pytest.raises(InvalidAgentTransition):
        agent.settle(1.0)


def test_every_state_has_a_row_in_each_table() -> None:
    assert set(CHOSEN_ALLOWED) == set(Chosen)
    assert set(ACTIVITY_ALLOWED) == set(Activity)
