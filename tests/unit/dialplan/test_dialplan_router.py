"""Routing, table-driven: match kinds, time conditions at their edges, goto and loops, 484 vs 404,
captures, trunk rewriting, features, emergency numbers and the contexts a caller starts in."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pbx.config import Config
from pbx.dialplan import (
    MAX_GOTO,
    Action,
    Announcement,
    Dialplan,
    Feature,
    Ivr,
    Reject,
    RingDevice,
    RingQueue,
    RingUser,
    ToTrunk,
    load_dialplans,
)

CONFIG = Config.model_validate(
    {
        "api": {"token": "test-token"},
        "auth": {"secret": "0123456789abcdef0123"},
        "users": [
            {"extension": "201", "name": "Anna", "pin": "2011", "groups": ["Enschede"]},
            {"extension": "203", "name": "Carla", "pin": "2033", "groups": ["Den Bosch"]},
            {"extension": "204", "pin": "2044", "context": "restricted"},
        ],
        "devices": [
            {"username": "lobby", "password": "pw-lobby", "context": "lobby"},
            {"username": "201", "password": "pw-201"},
            {"username": "desk", "password": "pw-desk", "user": "201"},
        ],
        "queues": [{"name": "Algemeen", "number": "300"}],
        "trunks": [{"name": "carrier", "host": "127.0.0.1", "prefixes": ["0"]}],
        "emergency_numbers": ["112", "911"],
    }
)

PLAN = r"""
default:
  - {match: {exact: "112"}, trunk: {name: carrier}}
  - {match: {pattern: _2XX}, ring_user: "${EXTEN}"}
  - {match: {exact: "300"}, ring_queue: "300"}
  - {match: {exact: "309"}, ring_queue: Algemeen}
  - {match: {prefix: "9"}, trunk: {name: carrier, strip: 1}}
  - {match: {regex: '00(\d+)'}, trunk: {name: carrier, number: "+${1}"}}
  - {match: {pattern: _06XXXXXXXX}, trunk: {name: carrier, strip: 1, prepend: "+31"}}
  - {match: {exact: "500"}, goto: other}
  - {match: {exact: "555"}, goto: loop_a}
  - {match: {pattern: "_*35!"}, feature: hotdesk}
  - {match: {pattern: "_*8!"}, feature: pickup}
  - {match: {regex: '\*46\*?([0-9]*)'}, feature: pause}
  - {match: {exact: "700"}, ring_device: lobby}
  - {match: {exact: "800"}, ivr: {prompt: welcome, options: {2: timed, 1: other}}}
  - {match: {regex: 'ann-([a-z]+)'}, announcement: "${1}"}
  - {match: {exact: "666"}, reject: 486}
other:
  - {match: {prefix: ""}, ring_user: "201"}
loop_a:
  - {match: {prefix: ""}, goto: loop_b}
loop_b:
  - {match: {prefix: ""}, goto: loop_a}
restricted:
  - {match: {prefix: ""}, reject: 403}
lobby:
  - {match: {prefix: ""}, reject: 403}
group:Enschede:
  - {match: {exact: "444"}, ring_user: "203"}
timed:
  - match: {exact: "1"}
    when: {time: "08:00-18:00", timezone: Europe/Amsterdam}
    ring_user: "201"
  - match: {exact: "2"}
    when: {time: "22:00-06:00"}
    ring_user: "201"
  - match: {exact: "3"}
    when: {weekdays: [mon-wed, fri]}
    ring_user: "201"
  - match: {exact: "4"}
    when: {dates: ["2026-12-25", "2026-12-30..2027-01-02"], timezone: Europe/Amsterdam}
    ring_user: "201"
  - match: {exact: "5"}
    when: {time: "00:00-24:00", weekdays: [sat, sun], timezone: America/New_York}
    ring_user: "201"
  - {match: {prefix: ""}, reject: 480}
morning:
  - match: {pattern: "_7XX"}
    when: {time: "08:00-09:00"}
    ring_user: "201"
"""

MON = datetime(2026, 11, 23, 10, 0)  # a Monday, naive: local time as each rule's zone sees it
ANNA, CARLA = RingUser("201"), RingUser("203")
NO_ROUTE, INCOMPLETE = Reject(404, "no route"), Reject(484, "address incomplete")


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Dialplan:
    folder: Path = tmp_path_factory.mktemp("dialplans")
    (folder / "plan.yaml").write_text(PLAN)
    return load_dialplans(folder, CONFIG)


@pytest.mark.parametrize(
    "dialled, action",
    [
        ("203", CARLA),
        ("209", NO_ROUTE),  # `_2XX` matches, but there is no user 209: skipped
        ("300", RingQueue("Algemeen")),  # by number
        ("309", RingQueue("Algemeen")),  # by name
        ("90534800900", ToTrunk("carrier", "0534800900")),  # strip 1
        ("0031534800900", ToTrunk("carrier", "+31534800900")),  # regex capture
        ("0612345678", ToTrunk("carrier", "+31612345678")),  # strip 1, prepend +31
        ("06", INCOMPLETE),  # only _06XXXXXXXX could match: 484
        ("0", INCOMPLETE),
        ("061234567", INCOMPLETE),
        ("06123456789", NO_ROUTE),  # too long: nothing can match
        ("7", INCOMPLETE),  # exact 700 could still match
        ("4", NO_ROUTE),
        ("500", ANNA),  # goto other
        ("555", Reject(482, "dialplan loop")),
        ("*35", Feature("hotdesk")),
        ("*35*203", Feature("hotdesk", ("203",))),
        ("*35*203*2033", Feature("hotdesk", ("203", "2033"))),
        ("*35*1*2*3", NO_ROUTE),  # too many arguments: skipped
        ("*35**", NO_ROUTE),  # empty arguments
        ("*8", Feature("pickup")),
        ("*8203", Feature("pickup", ("203",))),
        ("*46", Feature("pause")),
        ("*46*3", Feature("pause", ("3",))),
        ("700", RingDevice("lobby")),
        ("800", Ivr("welcome", (("1", "other"), ("2", "timed")))),
        ("ann-closed", Announcement("closed")),
        ("666", Reject(486, "Busy Here")),
        ("112", ToTrunk("carrier", "112")),
    ],
)
def test_default_context(plan: Dialplan, dialled: str, action: Action) -> None:
    assert plan.route(dialled, "default", MON).action == action


def test_skipped_rule_says_why(plan: Dialplan) -> None:
    d = plan.route("209", "default", MON)
    skipped = [s for s in d.trail if s.outcome == "skipped"]
    assert [(s.rule, s.why) for s in skipped] == [(2, ("pattern _2XX matched", "no user '209'"))]


def test_loop_is_bounded(plan: Dialplan) -> None:
    d = plan.route("555", "default", MON)
    assert d.contexts == ("default", *["loop_a", "loop_b"] * 5)
    assert len([s for s in d.trail if s.outcome == "goto"]) == MAX_GOTO + 1
    assert d.trail[-1].why == ("more than 10 goto jumps: a loop in the dialplan",)


def test_incomplete_names_the_rule(plan: Dialplan) -> None:
    d = plan.route("06", "default", MON)
    assert d.trail[-1].why == ("06 could still match pattern _06XXXXXXXX with more digits",)
    assert d.trail[-1].rule == 7


def ams(y: int, mo: int, d: int, h: int, mi: int) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    "dialled, wall, rings",
    [
        # 08:00-18:00 Europe/Amsterdam, from UTC: CET is UTC+1 in winter, CEST UTC+2 in summer
        ("1", ams(2026, 11, 23, 6, 59), False),  # 07:59
        ("1", ams(2026, 11, 23, 7, 0), True),  # 08:00 (start is inclusive)
        ("1", ams(2026, 11, 23, 16, 59), True),  # 17:59
        ("1", ams(2026, 11, 23, 17, 0), False),  # 18:00 (end is exclusive)
        ("1", ams(2026, 7, 1, 5, 59), False),  # 07:59 CEST
        ("1", ams(2026, 7, 1, 6, 0), True),  # 08:00 CEST
        ("1", datetime(2026, 11, 23, 8, 0), True),  # naive: already local
        # 22:00-06:00 wraps past midnight; no zone: the wall clock's own
        ("2", datetime(2026, 11, 23, 21, 59), False),
        ("2", datetime(2026, 11, 23, 22, 0), True),
        ("2", datetime(2026, 11, 24, 5, 59), True),
        ("2", datetime(2026, 11, 24, 6, 0), False),
        # weekdays mon-wed, fri
        ("3", datetime(2026, 11, 23, 12, 0), True),  # Monday
        ("3", datetime(2026, 11, 25, 12, 0), True),  # Wednesday
        ("3", datetime(2026, 11, 26, 12, 0), False),  # Thursday
        ("3", datetime(2026, 11, 27, 12, 0), True),  # Friday
        ("3", datetime(2026, 11, 29, 12, 0), False),  # Sunday
        # dates and date ranges (inclusive), in Amsterdam
        ("4", ams(2026, 12, 25, 12, 0), True),
        ("4", ams(2026, 12, 24, 22, 59), False),  # 23:59 on the 24th
        ("4", ams(2026, 12, 24, 23, 0), True),  # 00:00 on the 25th
        ("4", ams(2026, 12, 29, 12, 0), False),
        ("4", ams(2026, 12, 30, 12, 0), True),
        ("4", ams(2027, 1, 2, 12, 0), True),
        ("4", ams(2027, 1, 2, 23, 0), False),  # 00:00 on 3 January
        # weekend in New York: the weekday is New York's, not UTC's
        ("5", ams(2026, 11, 23, 4, 59), True),  # Sunday 23:59 in New York, Monday in UTC
        ("5", ams(2026, 11, 23, 5, 0), False),  # Monday 00:00 in New York
        ("5", ams(2026, 11, 21, 4, 59), False),  # Friday 23:59 in New York
    ],
)
def test_time_conditions(plan: Dialplan, dialled: str, wall: datetime, rings: bool) -> None:
    action = plan.route(dialled, "timed", wall).action
    assert action == (ANNA if rings else Reject(480, "Temporarily Unavailable"))


def test_484_only_for_rules_whose_conditions_hold(plan: Dialplan) -> None:
    # `_7XX` holds 08:00-09:00 only: "70" is incomplete then, and simply unknown after
    assert plan.route("70", "morning", datetime(2026, 11, 23, 8, 30)).action == INCOMPLETE
    assert plan.route("70", "morning", datetime(2026, 11, 23, 10, 0)).action == NO_ROUTE
    assert plan.route("701", "morning", datetime(2026, 11, 23, 8, 30)).action == ANNA


@pytest.mark.parametrize(
    "user, device, contexts",
    [
        ("201", None, ("group:Enschede", "default")),  # group contexts first
        ("203", None, ("default",)),  # no group:Den Bosch context in the plan
        ("204", None, ("restricted",)),
        (None, "lobby", ("lobby",)),  # a device's own context wins
        ("201", "lobby", ("lobby",)),
        (None, "201", ("default",)),  # nobody logged in, no own context
        (None, "desk", ("group:Enschede", "default")),  # the device's fixed user
        (None, None, ("default",)),
        ("999", None, ("default",)),  # unknown user
    ],
)
def test_contexts_for(
    plan: Dialplan, user: str | None, device: str | None, contexts: tuple[str, ...]
) -> None:
    assert plan.contexts_for(user=user, device=device) == contexts


@pytest.mark.parametrize(
    "user, dialled, action",
    [
        ("201", "444", CARLA),  # from group:Enschede
        ("203", "444", NO_ROUTE),
        ("201", "203", CARLA),  # falls through group:Enschede to default
        ("204", "203", Reject(403, "Forbidden")),
        ("204", "112", ToTrunk("carrier", "112")),  # emergency overrides the 403
        ("204", "911", ToTrunk("carrier", "911")),  # no rule at all: first trunk
    ],
)
def test_caller_contexts(plan: Dialplan, user: str, dialled: str, action: Action) -> None:
    d = plan.route(dialled, plan.contexts_for(user=user), MON)
    assert d.action == action
    assert d.emergency is (dialled in ("112", "911"))


def test_emergency_override_is_explained(plan: Dialplan) -> None:
    d = plan.route("911", "lobby", MON)
    assert d.action == ToTrunk("carrier", "911") and d.rule is None
    assert d.trail[-1].why == (
        "911 is an emergency number and must always route (the dialplan gave 403): sent to trunk carrier",
    )
    assert plan.is_emergency("112") and not plan.is_emergency("1120")


def test_emergency_without_trunks(tmp_path: Path) -> None:
    cfg = Config.model_validate({"api": {"token": "test-token"}})
    (tmp_path / "p.yaml").write_text("default: []\n")
    d = load_dialplans(tmp_path, cfg).route("112", "default", MON)
    assert d.action == Reject(503, "no trunk for emergency number")


def test_unknown_context_is_a_note(plan: Dialplan) -> None:
    d = plan.route("203", ("nope", "default"), MON)
    assert d.action == CARLA and d.contexts == ("nope", "default")
    assert d.trail[0].why == ("context nope does not exist",)


def test_trunk_contexts(plan: Dialplan) -> None:
    assert plan.contexts_for_trunk("carrier") == ("from-trunk",)
