"""`Collect` (Asterisk Read()) and `SayThen` as pure state machines: every timeout, the terminator,
min/max, the tries, and where the digits go. Time is passed in; nothing sleeps."""

from __future__ import annotations

import pytest

from pbx.ivr.program import Collect, Goto, Hangup, Play, SayThen, SetVar, StopPlay


def collect(**kw: object) -> Collect:
    args: dict[str, object] = {
        "first_timeout": 10.0, "inter_timeout": 5.0, "retries": 3, "next_context": "by-ext",
        "failed_context": None, "variable": "DIGITS",
    }  # fmt: skip
    args.update(kw)
    return Collect("enter_extension", 3, 4, **args)  # type: ignore[arg-type]


def keys(p: Collect, digits: str, at: float) -> list[object]:
    out: list[object] = []
    for d in digits:
        out = list(p.on_digit(d, at))
    return out


def test_max_digits_ends_the_entry_at_once_and_routes_the_digits() -> None:
    p = collect()
    assert p.start(0.0) == [Play(("enter_extension",))]
    assert p.deadline is None  # the first-digit clock starts when the prompt has been heard
    assert p.on_digit("2", 1.0) == [StopPlay()]  # the first key cuts the prompt short
    assert p.deadline == 6.0  # inter-digit timeout from now on
    assert p.on_digit("0", 2.0) == [] and p.deadline == 7.0
    assert p.on_digit("1", 3.0) == []
    assert p.on_digit("9", 4.0) == [SetVar("DIGITS", "2019"), Goto("by-ext", "2019")]
    assert p.deadline is None and p.on_digit("5", 4.5) == []  # done: later keys are not taken


def test_terminator_ends_early_when_min_is_reached() -> None:
    p = collect()
    p.start(0.0)
    p.on_play_done(2.0)
    assert keys(p, "202#", 3.0) == [SetVar("DIGITS", "202"), Goto("by-ext", "202")]


def test_inter_digit_timeout_ends_a_long_enough_entry() -> None:
    p = collect()
    p.start(0.0)
    p.on_play_done(2.0)
    keys(p, "203", 3.0)
    assert p.deadline == 8.0
    assert p.on_timer(7.99) == []
    assert p.on_timer(8.0) == [SetVar("DIGITS", "203"), Goto("by-ext", "203")]


def test_first_digit_timeout_counts_from_the_end_of_the_prompt_and_retries_with_the_prompt() -> None:
    p = collect()
    p.start(0.0)
    p.on_play_done(4.0)
    assert p.deadline == 14.0
    assert p.on_timer(13.9) == []
    out = p.on_timer(14.0)
    assert out == [Play(("please_try_again",), interruptible=False), Play(("enter_extension",))]
    assert p.tries == 2 and p.deadline is None and p.digits == ""


def test_too_few_digits_by_terminator_or_timeout_is_a_failed_try() -> None:
    p = collect()
    p.start(0.0)
    assert keys(p, "20#", 1.0)[-1] == Play(("enter_extension",))  # 2 < min 3: try again
    p.on_play_done(3.0)
    keys(p, "2", 4.0)
    out = p.on_timer(9.0)  # inter-digit timeout with 1 key
    assert out[-1] == Play(("enter_extension",)) and p.tries == 3
    assert p.results == ["20", "2"]


def test_after_the_last_try_it_goes_to_failed_with_what_was_keyed() -> None:
    p = collect(retries=2, failed_context="operator")
    p.start(0.0)
    keys(p, "1#", 1.0)
    assert keys(p, "#", 2.0) == [StopPlay(), SetVar("DIGITS", ""), Goto("operator")]  # original number


def test_without_failed_it_says_goodbye_and_hangs_up() -> None:
    p = collect(retries=1, retry_prompt=None)
    p.start(0.0)
    p.on_play_done(1.0)
    assert p.on_timer(11.0) == [SetVar("DIGITS", ""), Play(("goodbye",), interruptible=False), Hangup()]


def test_no_retry_prompt_plays_only_the_prompt_again() -> None:
    p = collect(retry_prompt=None)
    p.start(0.0)
    assert keys(p, "#", 1.0) == [StopPlay(), Play(("enter_extension",))]


def test_star_is_a_key_and_another_terminator_can_be_chosen() -> None:
    p = collect(terminator="*")
    p.start(0.0)
    assert keys(p, "#12*", 1.0) == [SetVar("DIGITS", "#12"), Goto("by-ext", "#12")]
    q = collect(terminator="")  # no terminator: every key counts
    q.start(0.0)
    assert keys(q, "1*#2", 1.0) == [SetVar("DIGITS", "1*#2"), Goto("by-ext", "1*#2")]


def test_min_equal_max() -> None:
    p = Collect("enter_pin", 4, 4, next_context="pin", retries=1)
    p.start(0.0)
    assert keys(p, "123#", 1.0) == [SetVar("COLLECTED", "123"), Play(("goodbye",), interruptible=False),
                                    Hangup()]  # fmt: skip
    q = Collect("enter_pin", 4, 4, next_context="pin")
    q.start(0.0)
    assert keys(q, "1234", 1.0) == [SetVar("COLLECTED", "1234"), Goto("pin", "1234")]


@pytest.mark.parametrize(
    ("how", "value", "lang", "prompts"),
    [
        ("digits", "201", "nl", ("num_2", "num_0", "num_1")),
        ("digits", "+31*#", "en", ("num_3", "num_1", "star", "hash")),  # '+' has no prompt
        ("number", "21", "nl", ("num_1", "and", "num_20")),
        ("number", "21", "en", ("num_20", "num_1")),
        ("number", "1234", "en", ("num_1", "num_2", "num_3", "num_4")),  # > 999: digit by digit
        ("number", "007", "en", ("num_7",)),
    ],
)
def test_say_then_speaks_in_the_calls_language(
    how: str, value: str, lang: str, prompts: tuple[str, ...]
) -> None:
    p = SayThen((), False, "next", how=how, value=value)
    p.language = lang
    assert p.start(0.0) == [Play(prompts, interruptible=False)]
    assert p.on_digit("1", 0.5) == []  # not interruptible
    assert p.on_play_done(1.0) == [Goto("next")]


def test_say_then_an_empty_value_goes_on_at_once_and_interruptible_stops_at_a_key() -> None:
    assert SayThen((), False, None, how="digits", value="").start(0.0) == [Hangup()]
    p = SayThen((), True, None, how="number", value="5")
    assert p.start(0.0) == [Play(("num_5",), interruptible=True)]
    assert p.on_digit("1", 0.1) == [StopPlay(), Hangup()]
    assert p.on_play_done(0.2) == []  # only once
