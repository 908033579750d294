"""Sessions: one device per user, hot identity switch, fixed users, queries, admin commands, and
the effects each change produces (HD manual; SPEC section 4)."""

from __future__ import annotations

import pytest
from hotdesk_kit import SOURCE, WALL0, fresh, login, make_config, run

from pbx.hotdesk import (
    DeleteSession,
    DeviceState,
    Digits,
    Done,
    EndReason,
    HotdeskCore,
    NotifyDevice,
    Outcome,
    PersistSession,
    Session,
    SessionEnded,
    SessionStarted,
)
from pbx.hotdesk import prompts as p
from pbx.hotdesk.model import DialogueOver
from pbx.media.prompts import REQUIRED_PROMPTS


@pytest.fixture
def core() -> HotdeskCore:
    return fresh()


def test_one_shot_login_effects(core: HotdeskCore) -> None:
    _, done = run(core, "desk1", ("101", "1011"), now=10.0)
    s = Session("101", "desk1", WALL0 + 10)
    assert done.effects == (
        SessionStarted("101", "desk1", WALL0 + 10),
        PersistSession(s),
        NotifyDevice("desk1", "101"),
    )
    assert (done.user, done.language) == ("101", "nl")
    assert core.session_of("101") == core.session_on("desk1") == s
    assert (core.user_on("desk1"), core.device_of("101")) == ("101", "desk1")


def test_hot_identity_switch(core: HotdeskCore) -> None:
    """*35*101*<pin> then *35*102*<pin> on one phone: the second login logs the first out there,
    and the phone calls out as 102 from then on (the manual's two companies on one phone)."""
    run(core, "desk1", ("101", "1011"), now=10.0)
    _, done = run(core, "desk1", ("102", "1022"), now=20.0)
    assert done.outcome is Outcome.LOGGED_IN
    assert done.prompts == ("logged_in_as", "num_1", "num_0", "num_2")
    assert done.effects == (
        SessionEnded("101", "desk1", EndReason.IDENTITY_SWITCH, WALL0 + 20),
        DeleteSession("101"),
        SessionStarted("102", "desk1", WALL0 + 20),
        PersistSession(Session("102", "desk1", WALL0 + 20)),
        NotifyDevice("desk1", "102"),
    )
    assert core.user_on("desk1") == "102"
    assert core.device_of("101") is None and core.devices_of("101") == ()
    # the same speed-dial key again toggles 102 out; the phone then has nobody
    _, done = run(core, "desk1", ("102", "1022"), now=30.0)
    assert done.outcome is Outcome.LOGGED_OUT and core.user_on("desk1") is None


def test_login_on_a_new_device_logs_out_of_the_previous_one(core: HotdeskCore) -> None:
    run(core, "desk1", ("101", "1011"), now=10.0)
    _, done = run(core, "desk2", ("101",), ["1011"], now=20.0)
    assert done.effects == (
        SessionEnded("101", "desk1", EndReason.REPLACED_BY_LOGIN_ELSEWHERE, WALL0 + 20),
        DeleteSession("101"),
        SessionStarted("101", "desk2", WALL0 + 20),
        PersistSession(Session("101", "desk2", WALL0 + 20)),
        NotifyDevice("desk2", "101"),
        NotifyDevice("desk1", None),  # the old phone gets an update: nobody is on it now
    )
    assert core.devices_of("101") == ("desk2",)
    assert core.user_on("desk1") is None


def test_logout_effects_and_what_a_phone_without_user_may_call(core: HotdeskCore) -> None:
    login(core, "101", "desk1")
    assert core.may_call("desk1", "0612345678")
    _, done = run(core, "desk1", (), now=20.0)
    assert done.effects == (
        SessionEnded("101", "desk1", EndReason.LOGOUT, WALL0 + 20),
        DeleteSession("101"),
        NotifyDevice("desk1", None),
    )
    assert (done.user, done.prompts) == ("101", ("logged_out",))
    assert not core.may_call("desk1", "0612345678")
    assert not core.may_call("desk1", "102")
    assert core.may_call("desk1", "112")  # emergency numbers from the config
    assert core.may_call("desk1", "911", ["911"])
    assert core.may_call("desk1", "*35", hotdesk_feature=True)  # or nobody could ever log in


def test_fixed_user_device_is_replaced_by_a_login_until_logout(core: HotdeskCore) -> None:
    assert core.user_on("lobby") == "201" and core.devices_of("201") == ("lobby",)
    assert core.session_on("lobby") is None
    # *35 on a phone with only a fixed user: nobody to log out, so it asks who is logging in
    asks, done = run(core, "lobby", (), ["101", "1011"], now=10.0)
    assert [a.prompts for a in asks] == [("enter_extension",), ("enter_pin",)]
    assert done.outcome is Outcome.LOGGED_IN
    assert core.user_on("lobby") == "101"
    assert core.devices_of("201") == ()  # 201's phone is taken: 201 rings nowhere meanwhile
    _, done = run(core, "lobby", (), now=20.0)
    assert done.outcome is Outcome.LOGGED_OUT
    assert NotifyDevice("lobby", "201") in done.effects
    assert core.user_on("lobby") == "201" and core.devices_of("201") == ("lobby",)


def test_fixed_user_logging_in_elsewhere_vacates_their_own_phone(core: HotdeskCore) -> None:
    """One device per user: while 201 is hotdesked on desk1, the lobby phone is nobody's."""
    _, done = run(core, "desk1", ("201", "2011"), now=10.0)
    assert NotifyDevice("lobby", None) in done.effects
    assert core.user_on("lobby") is None and not core.may_call("lobby", "0612345678")
    assert core.devices_of("201") == ("desk1",)
    _, done = run(core, "desk1", ("201", "2011"), now=20.0)  # toggles out
    assert done.effects[-2:] == (NotifyDevice("desk1", None), NotifyDevice("lobby", "201"))
    assert core.user_on("lobby") == "201"


def test_owner_by_name() -> None:
    assert fresh().user_on("203") == "203"  # device 203, user 203: Carla's own phone
    strict = fresh(owner_by_name=False)
    assert strict.user_on("203") is None and strict.devices_of("203") == ()
    assert strict.user_on("lobby") == "201"  # an explicit fixed user stays


def test_assignments_and_snapshot(core: HotdeskCore) -> None:
    login(core, "101", "desk1", now=3.0)
    assert core.assignments() == [
        DeviceState("desk1", "101", "hotdesk"),
        DeviceState("desk2", None, None),
        DeviceState("lift", None, None),
        DeviceState("lobby", "201", "fixed"),
        DeviceState("203", "203", "fixed"),
    ]
    snap = core.snapshot(now=4.0)
    assert snap.sessions == (Session("101", "desk1", WALL0 + 3),)
    assert snap.lockouts == ()


def test_admin_commands(core: HotdeskCore) -> None:
    assert core.login("999", "desk1", 1.0, WALL0)[0] is Outcome.UNKNOWN_USER
    assert core.login("101", "lift", 1.0, WALL0)[0] is Outcome.REFUSED_DEVICE
    assert core.login("101", "nosuchphone", 1.0, WALL0)[0] is Outcome.REFUSED_DEVICE
    assert core.login("204", "desk1", 1.0, WALL0)[0] is Outcome.REFUSED_USER
    assert core.force_logout("101", 1.0, WALL0) == (Outcome.NOT_LOGGED_IN, [])
    assert core.force_logout("999", 1.0, WALL0) == (Outcome.UNKNOWN_USER, [])
    outcome, effects = core.login("101", "desk1", 2.0, WALL0 + 2)
    assert outcome is Outcome.LOGGED_IN and SessionStarted("101", "desk1", WALL0 + 2) in effects
    assert core.login("101", "desk1", 3.0, WALL0 + 3) == (Outcome.LOGGED_IN, [])  # already: no change
    assert core.session_of("101") == Session("101", "desk1", WALL0 + 2)
    outcome, effects = core.force_logout("101", 4.0, WALL0 + 4)
    assert outcome is Outcome.LOGGED_OUT
    assert effects == [
        SessionEnded("101", "desk1", EndReason.ADMIN, WALL0 + 4),
        DeleteSession("101"),
        NotifyDevice("desk1", None),
    ]
    assert core.stats.logins == 1 and core.stats.logouts == {EndReason.ADMIN: 1}


def test_admin_login_ignores_a_lockout(core: HotdeskCore) -> None:
    for i in range(5):
        core.limiter.failed("101", f"198.51.100.{i}", 1.0)
    assert core.login("101", "desk1", 2.0, WALL0 + 2)[0] is Outcome.LOGGED_IN


def test_decisions_use_the_state_when_the_pin_arrives(core: HotdeskCore) -> None:
    dialogue, step = core.feature("desk1", ("101",), SOURCE, 10.0, WALL0 + 10)
    assert step.prompts == ("enter_pin",)
    login(core, "101", "desk2", now=11.0)  # meanwhile the admin puts 101 on desk2
    done = dialogue.handle(Digits("1011#"), 12.0, WALL0 + 12)
    assert isinstance(done, Done) and done.outcome is Outcome.LOGGED_IN
    assert SessionEnded("101", "desk2", EndReason.REPLACED_BY_LOGIN_ELSEWHERE, WALL0 + 12) in done.effects
    # a reload that takes hotdesking away from the phone while a PIN is being keyed
    dialogue, _ = core.feature("desk1", ("102",), SOURCE, 13.0, WALL0 + 13)
    devices = [{"username": "desk1", "password": "x", "hotdesk": False}]
    core.apply_config(make_config(devices=devices), 14.0, WALL0 + 14)
    done = dialogue.handle(Digits("1022"), 15.0, WALL0 + 15)
    assert isinstance(done, Done) and done.outcome is Outcome.REFUSED_DEVICE
    assert core.sessions() == []


def test_dialogue_misuse_raises(core: HotdeskCore) -> None:
    dialogue, step = core.feature("desk1", ("101", "1011"), SOURCE, 1.0, WALL0)
    assert isinstance(step, Done)
    with pytest.raises(DialogueOver):
        dialogue.handle(Digits("1"), 2.0, WALL0)
    with pytest.raises(ValueError):
        core.feature("desk1", ("1", "2", "3"), SOURCE, 1.0, WALL0)


def test_language_seam() -> None:
    cfg = make_config()
    core = HotdeskCore(cfg, language_of=lambda u: "en" if u is not None and u.extension == "102" else "nl")
    _, done = run(core, "desk1", ("102", "1022"))
    assert done.language == "en"
    _, done = run(core, "desk1", ("101", "1011"))
    assert done.language == "nl"
    # the default comes from the media section
    en = HotdeskCore(cfg.model_copy(update={"media": cfg.media.model_copy(update={"language": "en"})}))
    asks, done = run(en, "desk1", (), ["101", "1011"])
    assert {a.language for a in asks} == {"en"} and done.language == "en"


def test_every_prompt_exists_in_the_media_library() -> None:
    names = {p.ENTER_EXTENSION, p.ENTER_PIN, p.LOGGED_IN_AS, p.LOGGED_OUT, p.WRONG_PIN}
    names |= {p.TOO_MANY_ATTEMPTS, p.NOT_ALLOWED_USER, p.NOT_ALLOWED_DEVICE, p.GOODBYE}
    names |= set(p.prompt_names([p.SayDigits("0123456789")], "nl"))
    assert names <= REQUIRED_PROMPTS
