"""Issue 6's table: every *35 form x every state, with the questions asked, the result and what is
said at the end. User 101 (PIN 1011) dials on desk1 unless the row says otherwise; 204 may not
hotdesk; the lift phone may not be hotdesked."""

from __future__ import annotations

import pytest
from hotdesk_kit import fresh, lock_user, login, run

from pbx.hotdesk import HotdeskCore, Outcome


@pytest.fixture
def core() -> HotdeskCore:
    return fresh()


EXT = ("enter_extension",)
PIN = ("enter_pin",)
AGAIN = ("wrong_pin", "enter_pin")
IN_101 = ("logged_in_as", "num_1", "num_0", "num_1")
OUT = ("logged_out",)
NO_USER = NO_DEVICE = ("not_allowed",)  # the outcomes tell the two refusals apart
LOCKED = ("too_many_attempts",)
WRONG = ("wrong_pin",)


D1, D2 = {"101": "desk1"}, {"101": "desk2"}  # afterwards: 101 on desk1, on desk2
L_IN, L_OUT, WRONG_, LOCKED_ = Outcome.LOGGED_IN, Outcome.LOGGED_OUT, Outcome.WRONG_PIN, Outcome.LOCKED_OUT
R_USER, R_DEVICE, NO_INPUT = Outcome.REFUSED_USER, Outcome.REFUSED_DEVICE, Outcome.NO_INPUT


def set_state(core: HotdeskCore, state: str) -> str:
    """Put the core in `state`; the device to dial from."""
    if state == "here":
        login(core, "101", "desk1")
    elif state == "elsewhere":
        login(core, "101", "desk2")
    elif state == "locked":
        lock_user(core, "101")
    return "lift" if state == "no-device" else "desk1"


Row = tuple[str, tuple[str, ...], str, str, list[tuple[str, ...]], Outcome, tuple[str, ...], dict[str, str]]

# States: out (101 logged out), here (101 on desk1), elsewhere (101 on desk2), no-user (dialling
# 204, who may not hotdesk), no-device (dialling from the lift phone), locked (101 locked out).
# Keys: what is keyed at each question, space-separated; "-" is a timeout.
TABLE: list[Row] = [
    # (id, args, state, keys, questions, outcome, said at the end, sessions after)
    ("*35 logged out", (), "out", "101 1011", [EXT, PIN], L_IN, IN_101, D1),
    ("*35 logged in here", (), "here", "", [], L_OUT, OUT, {}),
    ("*35 logged in elsewhere", (), "elsewhere", "101 1011", [EXT, PIN], L_IN, IN_101, D1),
    ("*35 user not allowed", (), "no-user", "204", [EXT], R_USER, NO_USER, {}),
    ("*35 device not allowed", (), "no-device", "", [], R_DEVICE, NO_DEVICE, {}),
    ("*35 locked out", (), "locked", "101", [EXT], LOCKED_, LOCKED, {}),
    ("*35 wrong PIN thrice", (), "out", "101 1 12345 9999", [EXT, PIN, AGAIN, AGAIN], WRONG_, WRONG, {}),
    ("*35 wrong PIN, then right", (), "out", "101 9999 1011", [EXT, PIN, AGAIN], L_IN, IN_101, D1),
    ("*35 unknown extension", (), "out", "999 1234 1234 1234", [EXT, PIN, AGAIN, AGAIN], WRONG_, WRONG, {}),
    ("*35 nothing keyed", (), "out", "- -", [EXT, EXT], NO_INPUT, ("goodbye",), {}),
    ("*35 only #, then PIN#", (), "out", "101 # 1011#", [EXT, PIN, PIN], L_IN, IN_101, D1),
    # *35*<ext>
    ("*35*ext logged out", ("101",), "out", "1011", [PIN], L_IN, IN_101, D1),
    ("*35*ext logged in here", ("101",), "here", "", [], L_OUT, OUT, {}),
    ("*35*ext logged in elsewhere", ("101",), "elsewhere", "1011", [PIN], L_IN, IN_101, D1),
    ("*35*ext user not allowed", ("204",), "no-user", "", [], R_USER, NO_USER, {}),
    ("*35*ext device not allowed", ("101",), "no-device", "", [], R_DEVICE, NO_DEVICE, {}),
    ("*35*ext locked out", ("101",), "locked", "", [], LOCKED_, LOCKED, {}),
    ("*35*ext wrong PIN thrice", ("101",), "out", "1111 2222 3333", [PIN, AGAIN, AGAIN], WRONG_, WRONG, {}),
    ("*35*ext unknown extension", ("999",), "out", "1234 1234 1234", [PIN, AGAIN, AGAIN], WRONG_, WRONG, {}),
    # *35*<ext>*<pin>: one shot, nothing asked
    ("*35*ext*pin logged out", ("101", "1011"), "out", "", [], L_IN, IN_101, D1),
    ("*35*ext*pin logged in here", ("101", "1011"), "here", "", [], L_OUT, OUT, {}),
    ("*35*ext*pin logged in elsewhere", ("101", "1011"), "elsewhere", "", [], L_IN, IN_101, D1),
    ("*35*ext*pin user not allowed", ("204", "1234"), "no-user", "", [], R_USER, NO_USER, {}),
    ("*35*ext*pin device not allowed", ("101", "1011"), "no-device", "", [], R_DEVICE, NO_DEVICE, {}),
    ("*35*ext*pin locked out, right PIN", ("101", "1011"), "locked", "", [], LOCKED_, LOCKED, {}),
    ("*35*ext*pin wrong PIN", ("101", "9999"), "out", "", [], WRONG_, WRONG, {}),
    ("*35*ext*pin wrong PIN, elsewhere", ("101", "9999"), "elsewhere", "", [], WRONG_, WRONG, D2),
    ("*35*ext*pin unknown extension", ("999", "1234"), "out", "", [], WRONG_, WRONG, {}),
]


@pytest.mark.parametrize(
    ("args", "state", "keys", "questions", "outcome", "said", "after"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_form_by_state(
    core: HotdeskCore,
    args: tuple[str, ...],
    state: str,
    keys: str,
    questions: list[tuple[str, ...]],
    outcome: Outcome,
    said: tuple[str, ...],
    after: dict[str, str],
) -> None:
    device = set_state(core, state)
    asks, done = run(core, device, args, [None if k == "-" else k for k in keys.split()])
    assert [a.prompts for a in asks] == questions
    assert done.outcome is outcome
    assert done.prompts == said
    assert {s.user: s.device for s in core.sessions()} == after


def test_the_table_covers_every_form_and_state() -> None:
    for n in (0, 1, 2):
        states = {r[2] for r in TABLE if len(r[1]) == n}
        assert states >= {"out", "here", "elsewhere", "no-user", "no-device", "locked"}


def test_source_locked_out_is_refused_before_any_question(core: HotdeskCore) -> None:
    for i in range(core.config.hotdesk.max_failures):
        core.limiter.failed(f"9{i}", "192.0.2.66", 1.0)
    asks, done = run(core, "desk1", (), [], source="192.0.2.66")
    assert (asks, done.outcome, done.prompts) == ([], Outcome.LOCKED_OUT, LOCKED)
    # logging out needs no PIN, so a locked-out source may still do that
    login(core, "101", "desk1")
    _, done = run(core, "desk1", ("101", "1011"), [], source="192.0.2.66")
    assert done.outcome is Outcome.LOGGED_OUT


def test_collect_specs(core: HotdeskCore) -> None:
    asks, _ = run(core, "desk1", (), ["101", "1011"])
    ext, pin = (a.collect for a in asks)
    assert (ext.min_digits, ext.max_digits, ext.terminator) == (1, 3, "#")  # longest extension: 3
    assert (pin.min_digits, pin.max_digits, pin.terminator) == (4, 8, "#")  # never the PIN's length
    assert ext.first_digit_timeout > 0 and ext.inter_digit_timeout > 0
