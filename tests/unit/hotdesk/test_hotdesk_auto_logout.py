"""The optional automatic logouts, driven by an injected clock: at a time of day (users forget to
log out), and after a session's device stayed unregistered for a while."""

from __future__ import annotations

from datetime import UTC, datetime

from hotdesk_kit import WALL0, advance, fresh, login, make_config, run

from pbx.hotdesk import (
    DeleteSession,
    EndReason,
    HotdeskCore,
    NotifyDevice,
    Outcome,
    Session,
    SessionEnded,
    to_record,
)

# WALL0 is Friday 2027-01-15 08:00 UTC = 09:00 in Amsterdam (CET, UTC+1)
AT_1800_AMS = datetime(2027, 1, 15, 17, 0, tzinfo=UTC).timestamp()


def test_auto_logout_at_the_time_of_day() -> None:
    core = fresh(auto_logout="18:00", timezone="Europe/Amsterdam")
    first = AT_1800_AMS - WALL0  # monotonic time of 18:00 (the clock's wall offset is WALL0)
    assert core.next_deadline() == first
    login(core, "101", "desk1", now=10.0)
    login(core, "201", "desk2", now=11.0)
    assert advance(core, 11.0, first - 1) == []
    effects = advance(core, first - 1, first)
    assert effects == [
        SessionEnded("101", "desk1", EndReason.AUTO_LOGOUT, AT_1800_AMS),
        DeleteSession("101"),
        NotifyDevice("desk1", None),
        SessionEnded("201", "desk2", EndReason.AUTO_LOGOUT, AT_1800_AMS),
        DeleteSession("201"),
        NotifyDevice("desk2", None),
        NotifyDevice("lobby", "201"),  # 201's own phone is theirs again
    ]
    assert core.sessions() == []
    assert core.next_deadline() == first + 86400  # tomorrow, same time
    assert core.stats.logouts == {EndReason.AUTO_LOGOUT: 2}


def test_auto_logout_follows_daylight_saving_time() -> None:
    core = fresh(auto_logout="03:00", timezone="Europe/Amsterdam")
    # Saturday 2027-03-27 12:00 UTC; the clocks go forward in the night to Sunday 28 March
    wall = datetime(2027, 3, 27, 12, 0, tzinfo=UTC).timestamp()
    core.apply_config(make_config(auto_logout="03:00", timezone="Europe/Amsterdam"), 0.0, wall)
    assert core.next_deadline() == datetime(2027, 3, 28, 1, 0, tzinfo=UTC).timestamp() - wall  # 03:00 CEST


def test_a_wall_clock_that_lags_does_not_log_out_early() -> None:
    core = fresh(auto_logout="18:00", timezone="Europe/Amsterdam")
    login(core, "101", "desk1", now=10.0)
    first = AT_1800_AMS - WALL0
    # the monotonic deadline came, but the wall clock was stepped back by 5 s meanwhile
    assert core.on_timer(first, AT_1800_AMS - 5) == []
    assert core.next_deadline() == first + 5
    assert core.on_timer(first + 5, AT_1800_AMS)[0] == SessionEnded(
        "101", "desk1", EndReason.AUTO_LOGOUT, AT_1800_AMS
    )


def test_restore_ends_sessions_an_auto_logout_would_have_ended_while_down() -> None:
    cfg = make_config(auto_logout="18:00", timezone="Europe/Amsterdam")
    sessions = [Session("101", "desk1", WALL0), Session("102", "desk2", AT_1800_AMS + 60)]
    records = [to_record(s) for s in sessions]
    core = HotdeskCore(cfg)
    restart = AT_1800_AMS + 3600  # 19:00: 101's session started before 18:00, 102's after
    effects = core.restore(records, 0.0, restart)
    assert effects == [SessionEnded("101", "desk1", EndReason.AUTO_LOGOUT, restart), DeleteSession("101")]
    assert [s.user for s in core.sessions()] == ["102"]
    assert core.next_deadline() == AT_1800_AMS + 86400 - restart


def test_logout_after_the_device_stays_unregistered() -> None:
    core = fresh(unregistered_logout=600)
    login(core, "101", "desk1", now=10.0)
    assert core.registration_changed("desk1", False, 100.0, WALL0 + 100) == []
    assert core.next_deadline() == 700.0
    core.registration_changed("desk1", True, 500.0, WALL0 + 500)  # back in time: nothing happens
    assert advance(core, 500.0, 700.0) == []
    assert core.sessions() != []
    core.registration_changed("desk1", False, 800.0, WALL0 + 800)
    effects = advance(core, 800.0, 1400.0)
    assert effects == [
        SessionEnded("101", "desk1", EndReason.UNREGISTERED, WALL0 + 1400),
        DeleteSession("101"),
        NotifyDevice("desk1", None),
    ]
    assert core.next_deadline() is None


def test_unregistered_timeout_counts_from_a_login_on_an_unregistered_device() -> None:
    core = fresh(unregistered_logout=600)
    core.registration_changed("desk2", False, 0.0, WALL0)  # nobody there: no deadline yet
    assert core.next_deadline() is None
    assert run(core, "desk2", ("101", "1011"), now=300.0)[1].outcome is Outcome.LOGGED_IN
    assert core.next_deadline() == 900.0
    assert advance(core, 300.0, 900.0)[0] == SessionEnded("101", "desk2", EndReason.UNREGISTERED, WALL0 + 900)


def test_restore_with_registered_devices_starts_the_unregistered_clock() -> None:
    records = [to_record(Session("101", "desk1", WALL0)), to_record(Session("102", "desk2", WALL0))]
    core = HotdeskCore(make_config(unregistered_logout=600))
    assert core.restore(records, 0.0, WALL0, registered=["desk2"]) == []
    assert core.next_deadline() == 600.0
    assert advance(core, 0.0, 600.0)[0] == SessionEnded("101", "desk1", EndReason.UNREGISTERED, WALL0 + 600)
    assert [s.user for s in core.sessions()] == ["102"]


def test_no_automatic_logout_unless_configured() -> None:
    core = fresh()
    login(core, "101", "desk1")
    core.registration_changed("desk1", False, 2.0, WALL0 + 2)
    assert core.next_deadline() is None
