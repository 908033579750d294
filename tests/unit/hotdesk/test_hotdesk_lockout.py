"""Wrong PINs: counted per user and per source, lockout after max_failures for lockout_seconds,
its own prompt, reset on success, visible in snapshots, lifted by time or by hand."""

from __future__ import annotations

import pytest
from hotdesk_kit import WALL0, advance, fresh, run

from pbx.hotdesk import (
    Ask,
    Digits,
    Done,
    HotdeskCore,
    LockedOut,
    LockKind,
    Lockout,
    LockoutLifted,
    Outcome,
    PinRejected,
)


@pytest.fixture
def core() -> HotdeskCore:
    return fresh(max_failures=3, lockout_seconds=600)


def wrong(core: HotdeskCore, user: str, source: str, now: float) -> Done:
    _, done = run(core, "desk1", (user, "0000"), source=source, now=now)
    return done


def test_user_locked_out_after_n_wrong_pins_from_anywhere(core: HotdeskCore) -> None:
    assert wrong(core, "101", "192.0.2.1", 10).effects == (PinRejected("101", "192.0.2.1", "desk1"),)
    wrong(core, "101", "192.0.2.2", 20)
    done = wrong(core, "101", "192.0.2.3", 30)
    assert done.outcome is Outcome.LOCKED_OUT
    assert done.prompts == ("wrong_pin", "too_many_attempts")
    assert done.effects == (PinRejected("101", "192.0.2.3", "desk1"), LockedOut(LockKind.USER, "101", 630))
    # the right PIN is not even checked while locked, from any source
    _, done = run(core, "desk2", ("101", "1011"), source="192.0.2.99", now=40)
    assert (done.outcome, done.prompts, done.effects) == (Outcome.LOCKED_OUT, ("too_many_attempts",), ())
    assert core.sessions() == []
    assert core.lockouts(now=40) == [Lockout(LockKind.USER, "101", 30, 630)]
    assert core.snapshot(now=40).lockouts == (Lockout(LockKind.USER, "101", 30, 630),)
    # other users are not affected
    assert run(core, "desk2", ("102", "1022"), source="192.0.2.99", now=41)[1].outcome is Outcome.LOGGED_IN
    # the lockout ends on its deadline
    assert core.next_deadline() == 10 + 600  # the first: forgetting the count of 192.0.2.1
    assert LockoutLifted(LockKind.USER, "101") in advance(core, 41, 630)
    assert core.lockouts(now=630) == []
    assert run(core, "desk1", ("101", "1011"), now=631)[1].outcome is Outcome.LOGGED_IN
    assert (core.limiter.failures_total, core.limiter.lockouts_total) == (3, 1)


def test_source_locked_out_after_n_wrong_pins_for_anyone(core: HotdeskCore) -> None:
    wrong(core, "101", "192.0.2.7", 10)
    wrong(core, "102", "192.0.2.7", 11)
    done = wrong(core, "999", "192.0.2.7", 12)  # an unknown extension counts against the source
    src = "192.0.2.7"
    assert done.effects == (PinRejected(None, src, "desk1"), LockedOut(LockKind.SOURCE, src, 612))
    _, done = run(core, "desk1", ("201", "2011"), source="192.0.2.7", now=13)
    assert done.outcome is Outcome.LOCKED_OUT
    # another source logs in fine, and the users themselves are not locked
    assert run(core, "desk1", ("101", "1011"), source="192.0.2.8", now=14)[1].outcome is Outcome.LOGGED_IN
    assert core.lockouts(now=14) == [Lockout(LockKind.SOURCE, "192.0.2.7", 12, 612)]


def test_count_resets_on_success(core: HotdeskCore) -> None:
    wrong(core, "101", "192.0.2.1", 10)
    wrong(core, "101", "192.0.2.1", 11)
    assert core.limiter.failures(LockKind.USER, "101", 11) == 2
    assert run(core, "desk1", ("101", "1011"), source="192.0.2.1", now=12)[1].outcome is Outcome.LOGGED_IN
    assert core.limiter.failures(LockKind.USER, "101", 12) == 0
    assert core.limiter.failures(LockKind.SOURCE, "192.0.2.1", 12) == 0
    run(core, "desk1", ("101",), now=13)  # log out (no PIN needed)
    wrong(core, "101", "192.0.2.1", 14)
    wrong(core, "101", "192.0.2.1", 15)
    assert core.lockouts(now=15) == []  # two, not four


def test_failures_are_forgotten_after_a_quiet_lockout_period(core: HotdeskCore) -> None:
    wrong(core, "101", "192.0.2.1", 10)
    wrong(core, "101", "192.0.2.1", 20)
    advance(core, 20, 620)
    assert core.limiter.failures(LockKind.USER, "101", 620) == 0
    assert core.next_deadline() is None  # nothing left to remember
    wrong(core, "101", "192.0.2.1", 630)
    wrong(core, "101", "192.0.2.1", 640)
    assert core.lockouts(now=640) == []


def test_unlock_by_hand(core: HotdeskCore) -> None:
    for t in (1, 2, 3):
        wrong(core, "101", f"192.0.2.{t}", t)
    assert core.unlock(LockKind.USER, "101")
    assert not core.unlock(LockKind.USER, "101")
    assert run(core, "desk1", ("101", "1011"), now=4)[1].outcome is Outcome.LOGGED_IN


def test_interactive_retries_count_and_a_lockout_ends_the_call(core: HotdeskCore) -> None:
    dialogue, step = core.feature("desk1", ("101",), "192.0.2.1", 10, WALL0 + 10)
    step = dialogue.handle(Digits("1111"), 11, WALL0 + 11)
    assert isinstance(step, Ask) and step.prompts == ("wrong_pin", "enter_pin")
    assert step.effects == (PinRejected("101", "192.0.2.1", "desk1"),)  # published at once
    step = dialogue.handle(Digits("2222"), 12, WALL0 + 12)
    assert isinstance(step, Ask)
    step = dialogue.handle(Digits("3333"), 13, WALL0 + 13)  # the third: max_failures is 3
    assert isinstance(step, Done) and step.outcome is Outcome.LOCKED_OUT
    assert step.prompts == ("wrong_pin", "too_many_attempts")
    assert LockedOut(LockKind.USER, "101", 613) in step.effects
    assert LockedOut(LockKind.SOURCE, "192.0.2.1", 613) in step.effects


def test_locked_source_without_address_is_not_counted() -> None:
    core = fresh(max_failures=2)
    for t in (1, 2):
        run(core, "desk1", ("999", "0000"), source=None, now=t)
    assert core.lockouts(now=3) == []  # an unknown user and no source: nothing to lock
