"""`collect`, `say_digits`, `say_number` and call variables: load-time checks (`file:line`),
routing with variables, and what `pbx explain` says about them."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from test_dialplan_load_errors import CONFIG, Load, problems, rules

from pbx.config import ConfigError
from pbx.dialplan import Collect, Dialplan, RingUser, Say, load_dialplans
from pbx.dialplan.explain import describe, explain, render_json, render_text

__all__ = ["problems"]  # the fixture, shared with the load-error tests

AT = datetime(2026, 11, 23, 9, 5)
PLAN = """\
default:
  - name: dial by extension
    match: {exact: "700"}
    collect: {prompt: enter_extension, min: 3, max: 3, variable: EXT, next: by-ext, failed: sorry}
  - {match: {exact: "701"}, collect: {next: readback}}
  - {match: {exact: "702"}, say_digits: "${CALLERID}"}
  - {match: {exact: "703"}, say_number: {value: 42, next: sorry, interruptible: true}}
by-ext:
  - {match: {pattern: _2XX}, ring_user: "${EXTEN}"}
  - {match: {prefix: ""}, say_digits: {value: "${EXT}", next: sorry}}
readback:
  - {match: {prefix: ""}, say_number: "${COLLECTED:0:3}"}
sorry:
  - {match: {prefix: ""}, announcement: goodbye}
"""


@pytest.fixture
def plan(tmp_path: Path) -> Dialplan:
    (tmp_path / "d.yaml").write_text(PLAN)
    return load_dialplans(tmp_path, CONFIG)


def test_collect_routes_to_its_action_with_defaults(plan: Dialplan) -> None:
    d = plan.route("701", "default", AT, "201")
    assert d.action == Collect("enter_number", 1, 16, 10.0, 5.0, "#", 3, "please_try_again", "COLLECTED",
                               "readback", None)  # fmt: skip
    c = plan.route("700", "default", AT).action
    assert isinstance(c, Collect) and (c.min_digits, c.max_digits, c.variable, c.failed) == (
        3,
        3,
        "EXT",
        "sorry",
    )


def test_variables_fill_in_say_values_and_collected_digits_route_as_exten(plan: Dialplan) -> None:
    assert plan.route("702", "default", AT, "201").action == Say("digits", "201", False, None)
    # a trunk caller: the call layer passes the caller's number
    assert plan.route("702", "default", AT, None, {"CALLERID": "0612345678"}).action == Say(
        "digits", "0612345678", False, None
    )
    assert plan.route("703", "default", AT).action == Say("number", "42", True, "sorry")
    # after collect: the digits are the dialled string in `next`, and kept in the variable
    assert plan.route("201", "by-ext", AT, None, {"EXT": "201"}).action == RingUser("201")
    assert plan.route("209", "by-ext", AT, None, {"EXT": "209"}).action == Say(
        "digits", "209", False, "sorry"
    )
    assert plan.route("12345", "readback", AT, None, {"COLLECTED": "12345"}).action == Say(
        "number", "123", False, None
    )
    assert plan.route("1", "readback", AT).action == Say("number", "", False, None)  # unset: empty


def test_explain_describes_them(plan: Dialplan) -> None:
    assert describe(plan, plan.route("700", "default", AT).action) == (
        "collect 3 digits with prompt enter_extension (# ends early, first key within 10 s, then 5 s "
        "between keys, 3 tries) into ${EXT}, then route them in by-ext; "
        "if no entry is good: continue in sorry"
    )
    text = render_text(plan, explain(plan, "702", AT, caller="201"))
    assert text.endswith("=> say digits 201, then hang up\n")
    assert describe(plan, plan.route("1", "readback", AT).action) == (
        "say number nothing (the value is empty now), then hang up"
    )
    js = render_json(plan, explain(plan, "703", AT))
    assert js["action"] == {"type": "say_number", "how": "number", "value": "42", "interruptible": True,
                            "next": "sorry"}  # fmt: skip
    assert render_json(plan, explain(plan, "700", AT))["action"]["type"] == "collect"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            rules('- {match: {exact: "1"}, collect: {next: nowhere}}'),
            "dp/d.yaml:2: default[0].collect.next: unknown context 'nowhere'",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, failed: gone}}'),
            "dp/d.yaml:2: default[0].collect.failed: unknown context 'gone'",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {prompt: x}}'),
            "dp/d.yaml:2: default[0].collect.next: required field is missing",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, min: 5, max: 4}}'),
            "dp/d.yaml:2: default[0].collect.min: min 5 is more than max 4",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, terminator: "5"}}'),
            "dp/d.yaml:2: default[0].collect.terminator: '5' is not one of '#', '*' or ''",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, variable: EXTEN}}'),
            "dp/d.yaml:2: default[0].collect.variable: 'EXTEN' is set by the PBX; pick another name",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, variable: "my var"}}'),
            "dp/d.yaml:2: default[0].collect.variable: 'my var' is not a variable name (letters, digits, _)",
        ),
        (
            rules('- {match: {exact: "1"}, collect: {next: default, first_timeout: 0}}'),
            "dp/d.yaml:2: default[0].collect.first_timeout: 0 is too small (must be above 0.0)",
        ),
        (
            rules('- {match: {exact: "1"}, say_digits: {value: "12a"}}'),
            "dp/d.yaml:2: default[0].say_digits.value: cannot say 'a' (say_digits says 0-9, * and #)",
        ),
        (
            rules('- {match: {exact: "1"}, say_number: 1000}'),
            "dp/d.yaml:2: default[0].say_number.value: '1000' is not a number from 0 to 999 (longer numbers: "
            "say_digits)",
        ),
        (
            rules('- {match: {exact: "1"}, say_number: {value: "${PIN}"}}'),
            "dp/d.yaml:2: default[0].say_number.value: unknown variable ${PIN} (use ${EXTEN}, ${EXTEN:1}, "
            "${CALLERID}, ${1} or a variable a collect action sets)",
        ),
        (
            rules('- {match: {exact: "1"}, say_digits: {value: "1", next: elsewhere}}'),
            "dp/d.yaml:2: default[0].say_digits.next: unknown context 'elsewhere'",
        ),
    ],
)
def test_one_mistake(problems: Load, text: str, expected: str) -> None:
    assert problems(d=text) == [expected]


def test_a_variable_set_by_a_collect_in_another_file_is_known(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""\
        default:
          - {match: {exact: "1"}, collect: {next: other, variable: PIN}}
        """))  # fmt: skip
    (tmp_path / "b.yaml").write_text('other:\n  - {match: {prefix: ""}, say_digits: "${PIN:-2}"}\n')
    plan = load_dialplans(tmp_path, CONFIG)
    assert plan.route("1234", "other", AT, None, {"PIN": "1234"}).action == Say("digits", "34", False, None)
    (tmp_path / "a.yaml").write_text('default:\n  - {match: {exact: "1"}, reject: 404}\n')
    with pytest.raises(ConfigError):
        load_dialplans(tmp_path, CONFIG)  # nobody sets PIN any more
