"""Each class of dialplan mistake yields an exact `file:line: message` line (as pbx.config does)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pbx.config import Config, ConfigError
from pbx.dialplan import load_dialplans

CONFIG = Config.model_validate(
    {
        "api": {"token": "test-token"},
        "auth": {"secret": "0123456789abcdef0123"},
        "users": [{"extension": "201", "pin": "2011", "groups": ["Enschede"]}],
        "devices": [{"username": "lobby", "password": "pw-lobby"}],
        "queues": [{"name": "Algemeen", "number": "300"}],
        "trunks": [{"name": "carrier", "host": "127.0.0.1"}],
    }
)

Load = Callable[..., list[str]]


@pytest.fixture
def problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Load:
    """Write files into ./dp (relative, so messages read `dp/x.yaml:N: ...`) and load them."""
    monkeypatch.chdir(tmp_path)

    def run(config: Config = CONFIG, **files: str) -> list[str]:
        folder = Path("dp")
        folder.mkdir()
        for name, text in files.items():
            (folder / f"{name}.yaml").write_text(textwrap.dedent(text))
        with pytest.raises(ConfigError) as info:
            load_dialplans(folder, config)
        return str(info.value).splitlines()

    return run


def rules(*lines: str) -> str:
    """A `default` context holding the given rule lines (line 1 is `default:`)."""
    return "default:\n" + "".join(f"  {line}\n" for line in lines)


@pytest.mark.parametrize(
    "text, expected",
    [
        # unknown keys, at the key
        (
            rules('- {match: {exact: "1"}, rnig_user: "201"}'),
            "dp/d.yaml:2: default[0].rnig_user: unknown key",
        ),
        (rules('- {match: {exakt: "1"}, reject: 404}'), "dp/d.yaml:2: default[0].match.exakt: unknown key"),
        # bad match
        (
            rules('- {match: {pattern: "_0Y"}, reject: 404}'),
            "dp/d.yaml:2: default[0].match.pattern: pattern '_0Y' has an unexpected character 'Y'",
        ),
        (
            rules('- {match: {pattern: "0ZX"}, reject: 404}'),
            "dp/d.yaml:2: default[0].match.pattern: pattern '0ZX' must start with '_' (like _0ZXXXXXXXX)",
        ),
        (
            rules("- {match: {regex: '(('}, reject: 404}"),
            "dp/d.yaml:2: default[0].match.regex: '((' is not a valid regex: "
            "missing ), unterminated subpattern at position 1",
        ),
        (
            rules("- {match: {}, reject: 404}"),
            "dp/d.yaml:2: default[0].match: give one of exact, prefix, pattern or regex",
        ),
        (
            rules('- {match: {exact: "1", prefix: "2"}, reject: 404}'),
            "dp/d.yaml:2: default[0].match.prefix: give one of exact, prefix, pattern or regex (also exact)",
        ),
        (rules("- {reject: 404}"), "dp/d.yaml:2: default[0].match: required field is missing"),
        # unknown references
        (
            rules('- {match: {exact: "1"}, ring_user: "209"}'),
            "dp/d.yaml:2: default[0].ring_user: unknown user '209'",
        ),
        (
            rules('- {match: {exact: "1"}, ring_device: "desk"}'),
            "dp/d.yaml:2: default[0].ring_device: unknown device 'desk'",
        ),
        (
            rules('- {match: {exact: "1"}, ring_queue: Algemene}'),
            "dp/d.yaml:2: default[0].ring_queue: unknown queue 'Algemene'",
        ),
        (
            rules('- {match: {exact: "1"}, trunk: {name: carier}}'),
            "dp/d.yaml:2: default[0].trunk.name: unknown trunk 'carier'",
        ),
        (
            rules('- {match: {exact: "1"}, goto: sales}'),
            "dp/d.yaml:2: default[0].goto: unknown context 'sales'",
        ),
        (
            rules('- {match: {exact: "1"}, ivr: {prompt: p, options: {1: default, 2: sales}}}'),
            "dp/d.yaml:2: default[0].ivr.options.2: unknown context 'sales'",
        ),
        (
            rules('- {match: {exact: "1"}, ivr: {prompt: p, options: {x: default}}}'),
            "dp/d.yaml:2: default[0].ivr.options.x: 'x' is not one key (0-9, * or #)",
        ),
        # actions
        (
            rules('- {match: {exact: "1"}, reject: 700}'),
            "dp/d.yaml:2: default[0].reject: 700 is too large (maximum 699)",
        ),
        (
            rules('- {match: {exact: "1"}, reject: 200}'),
            "dp/d.yaml:2: default[0].reject: 200 is too small (minimum 400)",
        ),
        (
            rules('- {match: {exact: "1"}, feature: hotdsk}'),
            "dp/d.yaml:2: default[0].feature: 'hotdsk' is not one of 'hotdesk', 'queue_login', 'pause', "
            "'wrapup', 'disposition', 'pickup' or 'cherry_pick'",
        ),
        (
            rules("- name: nothing to do", '  match: {exact: "1"}'),
            "dp/d.yaml:2: default[0]: a rule needs one action: ring_user, ring_device, ring_queue, feature, "
            "announcement, ivr, number_entry, play, collect, say_digits, say_number, trunk, reject, goto",
        ),
        (
            rules('- match: {exact: "1"}', '  ring_user: "201"', "  reject: 404"),
            "dp/d.yaml:4: default[0].reject: a rule takes one action, but this one also has ring_user",
        ),
        # templates
        (
            rules('- {match: {exact: "1"}, ring_user: "${EXTN}"}'),
            "dp/d.yaml:2: default[0].ring_user: unknown variable ${EXTN} (use ${EXTEN}, ${EXTEN:1}, "
            "${CALLERID}, ${1} or a variable a collect action sets)",
        ),
        (
            rules("- {match: {regex: '2(\\d)'}, trunk: {name: carrier, number: \"${2}\"}}"),
            "dp/d.yaml:2: default[0].trunk.number: ${2} needs regex group 2, but the regex has 1 group",
        ),
        # conditions
        (
            rules('- match: {exact: "1"}', "  when: {time: '8-18'}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.time: '8-18' is not a time range like 08:00-18:00",
        ),
        (
            rules('- match: {exact: "1"}', "  when: {time: '18:00-18:00'}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.time: '18:00-18:00' is an empty time range",
        ),
        (
            rules('- match: {exact: "1"}', "  when:", "    weekdays: [mon, mnd]", "  reject: 404"),
            "dp/d.yaml:4: default[0].when.weekdays[1]: 'mnd' is not a weekday (mon, tue, wed, thu, fri, "
            "sat, sun) or a range like mon-fri",
        ),
        (
            rules('- match: {exact: "1"}', "  when: {weekdays: [fri-mon]}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.weekdays[0]: 'fri-mon' runs backwards "
            "(write mon-fri, or list the days)",
        ),
        (
            rules(
                '- match: {exact: "1"}',
                "  when:",
                "    dates:",
                "      - 2026-12-25",
                "      - 2026-13-01",
                "  reject: 404",
            ),
            "dp/d.yaml:6: default[0].when.dates[1]: '2026-13-01' is not a date like 2026-12-25 "
            "or a range like 2026-12-24..2026-12-26",
        ),
        (
            rules('- match: {exact: "1"}', "  when: {dates: ['2026-12-26..2026-12-24']}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.dates[0]: '2026-12-26..2026-12-24' ends before it starts",
        ),
        (
            rules('- match: {exact: "1"}', "  when: {timezone: Europe/Amsterdm}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.timezone: 'Europe/Amsterdm' is not a known time zone "
            "(like Europe/Amsterdam)",
        ),
        (
            rules('- match: {exact: "1"}', "  when: {tiem: '08:00-18:00'}", "  reject: 404"),
            "dp/d.yaml:3: default[0].when.tiem: unknown key",
        ),
        # file structure
        (
            "default:\n  - match: {exact: [1}\n",
            "dp/d.yaml:2: invalid YAML: did not find expected ',' or ']' "
            "(while parsing a flow sequence at line 2)",
        ),
        ("- a\n- b\n", "dp/d.yaml:1: the file must map context names to lists of rules"),
        (
            "default: []\nbad name: []\n",
            "dp/d.yaml:2: bad name: not a context name (use letters, digits and . _ - : +)",
        ),
        ("default: []\ndefault: []\n", "dp/d.yaml:2: duplicate key 'default' (first at line 1)"),
        ("default: {match: x}\n", "dp/d.yaml:1: default: should be a list"),
        ("default: []\ngroup:Sales: []\n", "dp/d.yaml:2: group:Sales: no user is in group 'Sales'"),
        ("default: []\nfrom-trunk:kpn: []\n", "dp/d.yaml:2: from-trunk:kpn: unknown trunk 'kpn'"),
    ],
)
def test_one_mistake(problems: Load, text: str, expected: str) -> None:
    assert problems(d=text) == [expected]


def test_context_in_two_files(problems: Load) -> None:
    assert problems(a="default: []\n", b="x: []\n\ndefault: []\n") == [
        "dp/b.yaml:3: default: context already defined at dp/a.yaml:1"
    ]


def test_user_and_device_contexts_must_exist(problems: Load) -> None:
    cfg = CONFIG.model_copy(
        update={
            "users": (CONFIG.users[0].model_copy(update={"context": "sales"}),),
            "devices": (CONFIG.devices[0].model_copy(update={"context": "lobby"}),),
        }
    )
    assert problems(cfg, d="other: []\n") == [
        "dp: user 201 has context 'sales', which no dialplan defines",
        "dp: device lobby has context 'lobby', which no dialplan defines",
    ]


def test_every_problem_in_file_order(problems: Load) -> None:
    a = rules('- {match: {exact: "1"}, ring_user: "209"}', '- {match: {exact: "2"}, goto: nowhere}')
    assert problems(a=a, b="x:\n  - {match: {exact: '1'}}\n") == [
        "dp/a.yaml:2: default[0].ring_user: unknown user '209'",
        "dp/a.yaml:3: default[1].goto: unknown context 'nowhere'",
        "dp/b.yaml:2: x[0]: a rule needs one action: ring_user, ring_device, ring_queue, feature, "
        "announcement, ivr, number_entry, play, collect, say_digits, say_number, trunk, reject, goto",
    ]


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dialplans(tmp_path / "nope", CONFIG)
    assert str(info.value) == f"{tmp_path / 'nope'}: dialplan directory does not exist"


def test_empty_directory_is_an_empty_plan(tmp_path: Path) -> None:
    cfg = Config.model_validate({"api": {"token": "test-token"}})
    assert load_dialplans(tmp_path, cfg).contexts == {}


def test_number_entry_checks(tmp_path: Path) -> None:
    d = tmp_path / "dp"
    d.mkdir()
    (d / "n.yaml").write_text(
        "default:\n"
        "  - match: {exact: '1'}\n"
        "    number_entry: {min: 9, max: 3, next: nowhere, pattern: '(('}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_dialplans(d, CONFIG)
    text = str(err.value)
    assert "min 9 is more than max 3" in text and "not a regular expression" in text
