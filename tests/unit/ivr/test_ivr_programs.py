"""IVR programs as pure state machines: number entry with validation, checksums."""

from __future__ import annotations

import pytest

from pbx.ivr.program import Attach, Goto, Hangup, NumberEntry, Play, StopPlay, elfproef_ok, luhn_ok


@pytest.mark.parametrize(("digits", "ok"), [("79927398713", True), ("79927398710", False), ("0", True)])
def test_luhn(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok


@pytest.mark.parametrize(
    ("digits", "ok"), [("111222333", True), ("123456782", True), ("123456789", False), ("000000000", False)]
)
def test_elfproef(digits: str, ok: bool) -> None:
    assert elfproef_ok(digits) is ok


def entry(**kw: object) -> NumberEntry:
    return NumberEntry("enter-your-number", 9, 9, validator="elfproef", next_context="queue", **kw)  # type: ignore[arg-type]


def test_valid_bsn_with_terminator_timeouts_from_the_prompts_end() -> None:
    p = entry()
    assert p.start(0.0) == [Play(("enter-your-number",))]
    assert p.deadline is None  # the first-digit timeout starts when the prompt has been heard
    p.on_play_done(3.0)
    assert p.deadline == 13.0
    out = p.on_digit("1", 4.0)
    assert out == [StopPlay()] and p.deadline == 9.0
    for d in "11222333":
        out = p.on_digit(d, 5.0)
    assert out[0] == Attach("number_entry", {"digits": "111222333", "valid": True})
    assert out[1] == Play(("number_accepted",), interruptible=False) and out[2] == Goto("queue")


def test_invalid_entries_are_retried_then_passed_on_as_invalid() -> None:
    p = entry(retries=2)
    p.start(0.0)
    for d in "123456789":
        out = p.on_digit(d, 1.0)
    assert out[0] == Play(("number_invalid", "please_try_again"), interruptible=False)
    assert out[1] == Play(("enter-your-number",))  # try 2
    for d in "123456789":
        out = p.on_digit(d, 2.0)
    assert out[0] == Attach("number_entry", {"digits": "123456789", "valid": False})
    assert out[-1] == Goto("queue") and p.results == ["123456789", "123456789"]


def test_silence_means_no_entry_and_hash_ends_early() -> None:
    p = NumberEntry("enter", 1, 6, retries=1)
    p.start(0.0)
    p.on_play_done(1.0)
    assert p.on_timer(10.9) == [] and p.deadline == 11.0
    out = p.on_timer(11.0)
    assert out[0] == Attach("number_entry", {"digits": None, "valid": None}) and out[-1] == Hangup()
    q = NumberEntry("enter", 1, 6, retries=1)
    q.start(0.0)
    q.on_digit("4", 1.0)
    q.on_digit("2", 1.5)
    out = q.on_digit("#", 2.0)
    assert out[0] == Attach("number_entry", {"digits": "42", "valid": True})


def test_pattern_validation() -> None:
    p = NumberEntry("enter", 4, 4, pattern=r"[1-9]\d{3}", retries=1)
    assert p.valid("1234") and not p.valid("0123") and not p.valid("123")
