"""`explain` on the demo config and dialplan: text and JSON for a table of cases (incl. time
conditions), and the `pbx explain` command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.dialplan import Dialplan, load_dialplans
from pbx.dialplan.explain import explain, parse_at, render_json, render_text

REPO = Path(__file__).resolve().parents[3]
SUN_1805 = datetime(2026, 11, 22, 18, 5)  # naive: local time in each rule's zone
MON_0905 = datetime(2026, 11, 23, 9, 5)


@pytest.fixture(scope="module")
def demo() -> Dialplan:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)  # relative paths, so explanations read dialplans/default.yaml:N
        return load_dialplans(Path("dialplans"), load_config(Path("config")))


CASES = [
    (
        "203",
        "0031534800900",
        SUN_1805,
        None,
        """\
203 (Carla Bakker) dials 0031534800900 at Sunday 2026-11-22 18:05
contexts: default
  default: no match in rules 1, 2, 3, 4, 5
  default rule 10 "international, office hours" (dialplans/default.yaml:45): skipped: pattern _00X. \
matched; time 08:00-18:00 does not hold at 18:05 Europe/Amsterdam Sunday; weekdays mon-fri do not \
include Sunday
  default rule 11 "international, outside office hours" (dialplans/default.yaml:49): matched: \
pattern _00X. matched
  (4 more rules did not match)
=> reject with 403 Forbidden
""",
    ),
    (
        "203",
        "0031534800900",
        MON_0905,
        None,
        """\
203 (Carla Bakker) dials 0031534800900 at Monday 2026-11-23 09:05
contexts: default
  default: no match in rules 1, 2, 3, 4, 5
  default rule 10 "international, office hours" (dialplans/default.yaml:45): matched: pattern _00X. \
matched; time 08:00-18:00 holds at 09:05 Europe/Amsterdam Monday; weekdays mon-fri include Monday
  (4 more rules did not match)
=> send to trunk carrier as 0031534800900
""",
    ),
    (
        "201",
        "0534800900",
        SUN_1805,
        None,
        """\
201 (Anna de Vries) dials 0534800900 at Sunday 2026-11-22 18:05
contexts: default
  default: no match in rules 1, 2, 3, 4, 5
  default rule 12 "national" (dialplans/default.yaml:54): matched: pattern _0ZXXXXXXXX matched
  (6 more rules did not match)
=> send to trunk carrier as +31534800900
""",
    ),
    (
        "201",
        "06",
        MON_0905,
        None,
        """\
201 (Anna de Vries) dials 06 at Monday 2026-11-23 09:05
contexts: default
  default: no match in rules 1, 2, 3, 4, 5
  default rule 12 "national" (dialplans/default.yaml:54): note: 06 could still match pattern \
_0ZXXXXXXXX with more digits
  (8 more rules did not match)
=> reject with 484 address incomplete
""",
    ),
    (
        "202",
        "203",
        MON_0905,
        None,
        """\
202 (Bram Jansen) dials 203 at Monday 2026-11-23 09:05
contexts: default
  default: no match in rule 1
  default rule 2 "internal extensions" (dialplans/default.yaml:15): matched: pattern _2XX matched
=> ring user 203 (Carla Bakker)
""",
    ),
    (
        "205",
        "*35*203*2033",
        MON_0905,
        None,
        """\
205 (Eva Smit) dials *35*203*2033 at Monday 2026-11-23 09:05
contexts: default
  default: no match in rules 1, 2, 3
  default rule 4 "hotdesk login/logout (*35, *35*ext, *35*ext*pin)" (dialplans/default.yaml:25): \
matched: pattern _*35! matched
=> run feature hotdesk with 203, 2033
""",
    ),
    (
        None,
        "+31534800900",
        datetime.fromisoformat("2026-11-23T16:59+00:00"),  # 17:59 in Amsterdam
        "from-trunk",
        """\
a caller dials +31534800900 at Monday 2026-11-23 16:59 UTC
contexts: from-trunk
  from-trunk rule 1 "main number, closed on public holidays" (dialplans/default.yaml:66): skipped: \
regex (\\+31|0)534800900 matched; dates 2026-12-25, 2026-12-24..2026-12-26 do not include 2026-11-23
  from-trunk rule 2 "main number, office hours" (dialplans/default.yaml:70): matched: regex \
(\\+31|0)534800900 matched; time 08:00-18:00 holds at 17:59 Europe/Amsterdam Monday; weekdays mon, tue, \
wed, thu, fri include Monday
=> ring queue Algemeen (300)
""",
    ),
    (
        None,
        "0534800900",
        datetime(2026, 12, 25, 10, 0),
        "from-trunk",
        """\
a caller dials 0534800900 at Friday 2026-12-25 10:00
contexts: from-trunk
  from-trunk rule 1 "main number, closed on public holidays" (dialplans/default.yaml:66): matched: \
regex (\\+31|0)534800900 matched; dates 2026-12-25, 2026-12-24..2026-12-26 include 2026-12-25
=> play announcement closed-holiday
""",
    ),
    (
        None,
        "+31534800900",
        datetime(2026, 11, 23, 18, 0),
        "from-trunk",
        """\
a caller dials +31534800900 at Monday 2026-11-23 18:00
contexts: from-trunk
  from-trunk rule 1 "main number, closed on public holidays" (dialplans/default.yaml:66): skipped: \
regex (\\+31|0)534800900 matched; dates 2026-12-25, 2026-12-24..2026-12-26 do not include 2026-11-23
  from-trunk rule 2 "main number, office hours" (dialplans/default.yaml:70): skipped: regex \
(\\+31|0)534800900 matched; time 08:00-18:00 does not hold at 18:00 Europe/Amsterdam Monday; weekdays \
mon, tue, wed, thu, fri include Monday
  from-trunk rule 3 "main number, after hours" (dialplans/default.yaml:74): matched: regex \
(\\+31|0)534800900 matched
=> play announcement after-hours
""",
    ),
]


@pytest.mark.parametrize("caller, dialled, wall, context, text", CASES)
def test_explain_text(
    demo: Dialplan, caller: str | None, dialled: str, wall: datetime, context: str | None, text: str
) -> None:
    assert render_text(demo, explain(demo, dialled, wall, caller, context)) == text


@pytest.mark.parametrize(
    "caller, dialled, wall, context, action, rule",
    [
        (
            "203",
            "0031534800900",
            SUN_1805,
            None,
            {"type": "reject", "status": 403, "reason": "Forbidden"},
            11,
        ),
        (
            "203",
            "0031534800900",
            MON_0905,
            None,
            {"type": "trunk", "trunk": "carrier", "number": "0031534800900"},
            10,
        ),
        (
            "201",
            "0612345678",
            SUN_1805,
            None,
            {"type": "trunk", "trunk": "carrier", "number": "+31612345678"},
            12,
        ),
        (
            "201",
            "06",
            MON_0905,
            None,
            {"type": "reject", "status": 484, "reason": "address incomplete"},
            None,
        ),
        ("201", "299", MON_0905, None, {"type": "reject", "status": 404, "reason": "no route"}, None),
        ("201", "301", MON_0905, None, {"type": "ring_queue", "name": "Urgent"}, 3),
        ("201", "*45*300", MON_0905, None, {"type": "feature", "name": "queue_login", "args": ["300"]}, 5),
        ("201", "*46", MON_0905, None, {"type": "feature", "name": "pause", "args": []}, 6),
        ("201", "*47", MON_0905, None, {"type": "feature", "name": "wrapup", "args": []}, 7),
        ("201", "*48*7", MON_0905, None, {"type": "feature", "name": "disposition", "args": ["7"]}, 8),
        (
            "201",
            "*48",
            MON_0905,
            None,
            {"type": "reject", "status": 484, "reason": "address incomplete"},
            None,
        ),
        ("201", "*8204", MON_0905, None, {"type": "feature", "name": "pickup", "args": ["204"]}, 9),
        ("201", "112", SUN_1805, None, {"type": "trunk", "trunk": "carrier", "number": "112"}, 1),
        (None, "+31534800204", SUN_1805, "from-trunk", {"type": "ring_user", "extension": "204"}, 4),
        (None, "+31534800900", MON_0905, "from-trunk", {"type": "ring_queue", "name": "Algemeen"}, 2),
        (None, "+31534800900", SUN_1805, "from-trunk", {"type": "announcement", "name": "after-hours"}, 3),
    ],
)
def test_explain_json(
    demo: Dialplan,
    caller: str | None,
    dialled: str,
    wall: datetime,
    context: str | None,
    action: dict[str, object],
    rule: int | None,
) -> None:
    out = render_json(demo, explain(demo, dialled, wall, caller, context))
    assert json.loads(json.dumps(out)) == out  # JSON-ready as is
    assert out["action"] == action
    assert (out["rule"]["rule"] if out["rule"] else None) == rule


def test_explain_json_whole(demo: Dialplan) -> None:
    out = render_json(demo, explain(demo, "0031534800900", SUN_1805, "203"))
    assert out == {
        "from": "203",
        "dialled": "0031534800900",
        "at": "2026-11-22T18:05:00",
        "emergency": False,
        "contexts": ["default"],
        "action": {"type": "reject", "status": 403, "reason": "Forbidden"},
        "summary": "reject with 403 Forbidden",
        "rule": {
            "context": "default",
            "rule": 11,
            "name": "international, outside office hours",
            "where": "dialplans/default.yaml:49",
            "outcome": "matched",
            "why": ["pattern _00X. matched"],
        },
        "trail": [
            *(
                {
                    "context": "default",
                    "rule": n,
                    "name": name,
                    "where": f"dialplans/default.yaml:{line}",
                    "outcome": "no match",
                    "why": [f"{kind} does not match"],
                }
                for n, name, line, kind in [
                    (1, "emergency", 10, "exact 112"),
                    (2, "internal extensions", 15, "pattern _2XX"),
                    (3, "queues", 20, "pattern _30[0-2]"),
                    (4, "hotdesk login/logout (*35, *35*ext, *35*ext*pin)", 25, "pattern _*35!"),
                    (5, "queue login/logout (*45, *45*queue)", 28, "pattern _*45!"),
                ]
            ),
            {
                "context": "default",
                "rule": 10,
                "name": "international, office hours",
                "where": "dialplans/default.yaml:45",
                "outcome": "skipped",
                "why": [
                    "pattern _00X. matched",
                    "time 08:00-18:00 does not hold at 18:05 Europe/Amsterdam Sunday",
                    "weekdays mon-fri do not include Sunday",
                ],
            },
            {
                "context": "default",
                "rule": 11,
                "name": "international, outside office hours",
                "where": "dialplans/default.yaml:49",
                "outcome": "matched",
                "why": ["pattern _00X. matched"],
            },
        ],
        "omitted": 4,
    }


def test_ivr_and_emergency_json(demo: Dialplan) -> None:
    out = render_json(demo, demo.route("112", ("nowhere",), MON_0905))
    assert out["emergency"] is True and out["rule"] is None
    assert out["action"] == {"type": "trunk", "trunk": "carrier", "number": "112"}


@pytest.mark.parametrize(
    "text, wall",
    [
        ("2026-11-22 18:05", datetime(2026, 11, 22, 18, 5)),
        ("2026-11-22T18:05", datetime(2026, 11, 22, 18, 5)),
        ("2026-11-22T18:05+01:00", datetime.fromisoformat("2026-11-22T18:05+01:00")),
    ],
)
def test_parse_at(text: str, wall: datetime) -> None:
    assert parse_at(text) == wall


def test_parse_at_error() -> None:
    with pytest.raises(ValueError) as info:
        parse_at("tomorrow")
    assert str(info.value) == "'tomorrow' is not a time like '2026-11-22 18:05' or '2026-11-22T18:05+01:00'"


def pbx(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The real command, as `python -m pbx` (no sockets, nothing started)."""
    return subprocess.run([sys.executable, "-m", "pbx", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_explain_text() -> None:
    done = pbx("explain", "--from", "203", "--dial", "0031534800900", "--at", "2026-11-22 18:05")
    assert (done.returncode, done.stdout, done.stderr) == (0, CASES[0][4], "")


def test_cli_explain_json() -> None:
    done = pbx(
        "explain", "--context", "from-trunk", "--dial", "0534800900", "--at", "2026-12-25 10:00", "--json"
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["action"] == {"type": "announcement", "name": "closed-holiday"}


def test_cli_explain_now() -> None:
    done = pbx("explain", "--from", "201", "--dial", "203")
    assert done.returncode == 0 and done.stdout.endswith("=> ring user 203 (Carla Bakker)\n")


def test_cli_explain_errors(tmp_path: Path) -> None:
    done = pbx("explain", "--dial", "203", "--at", "tomorrow")
    assert done.returncode == 2 and "--at: 'tomorrow' is not a time" in done.stderr
    done = pbx("explain", "--dial", "203", "--dialplans", str(tmp_path / "nope"))
    assert (done.returncode, done.stderr) == (1, f"{tmp_path / 'nope'}: dialplan directory does not exist\n")
