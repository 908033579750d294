"""Config reloads end sessions cleanly; sessions come back from their records after a restart;
the hotdesk config section validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from hotdesk_kit import DEVICES, USERS, WALL0, fresh, login, make_config
from pydantic import ValidationError

from pbx.config import ConfigError, load_config
from pbx.hotdesk import (
    RECORD_KIND,
    DeleteSession,
    EndReason,
    HotdeskCore,
    LockKind,
    NotifyDevice,
    Session,
    SessionEnded,
    from_record,
    record_key,
    to_record,
)

W = WALL0 + 50


def without(items: list[dict[str, object]], key: str, value: str) -> list[dict[str, object]]:
    return [i for i in items if i[key] != value]


NO_DESK1 = without(DEVICES, "username", "desk1")
DESK1_OFF = [*NO_DESK1, {"username": "desk1", "password": "x", "hotdesk": False}]
USER_101_OFF = [*without(USERS, "extension", "101"), {"extension": "101", "hotdesk": False}]


def test_reload_removing_a_user_logs_them_out_cleanly() -> None:
    core = fresh()
    login(core, "101", "desk1")
    login(core, "102", "desk2")
    core.limiter.failed("101", None, 1.0)
    effects = core.apply_config(make_config(users=without(USERS, "extension", "101")), 50.0, W)
    assert effects == [
        SessionEnded("101", "desk1", EndReason.USER_REMOVED, W),
        DeleteSession("101"),
        NotifyDevice("desk1", None),
    ]
    assert [s.user for s in core.sessions()] == ["102"]
    assert core.limiter.failures(LockKind.USER, "101", 50.0) == 0  # forgotten with the user
    assert core.stats.logouts == {EndReason.USER_REMOVED: 1}


@pytest.mark.parametrize(
    ("users", "devices", "reason"),
    [
        (USERS, NO_DESK1, EndReason.DEVICE_REMOVED),
        (USERS, DESK1_OFF, EndReason.HOTDESK_DISABLED),
        (USER_101_OFF, DEVICES, EndReason.HOTDESK_DISABLED),
    ],
    ids=["device removed", "device lost hotdesk", "user lost hotdesk"],
)
def test_reload_ends_sessions_that_are_no_longer_allowed(
    users: list[dict[str, object]], devices: list[dict[str, object]], reason: EndReason
) -> None:
    core = fresh()
    login(core, "101", "desk1")
    effects = core.apply_config(make_config(users=users, devices=devices), 50.0, W)
    assert effects[:2] == [SessionEnded("101", "desk1", reason, W), DeleteSession("101")]
    assert core.sessions() == []


def test_reload_notifies_devices_whose_fixed_user_changed() -> None:
    core = fresh()
    devices = [*without(DEVICES, "username", "lobby"), {"username": "lobby", "password": "x", "user": "102"}]
    assert core.apply_config(make_config(devices=devices), 50.0, W) == [NotifyDevice("lobby", "102")]
    assert core.user_on("lobby") == "102" and core.devices_of("201") == ()


def test_reload_keeps_valid_sessions_and_takes_new_limits() -> None:
    core = fresh()
    login(core, "101", "desk1")
    assert core.apply_config(make_config(max_failures=2, lockout_seconds=60), 50.0, W) == []
    assert core.session_of("101") == Session("101", "desk1", WALL0 + 1)
    assert (core.limiter.max_failures, core.limiter.lockout_seconds) == (2, 60)


def test_records_round_trip() -> None:
    s = Session("101", "desk1", WALL0 + 1.5)
    assert from_record(to_record(s)) == s
    assert (RECORD_KIND, record_key("101")) == ("hotdesk_session", "101")


def test_restore_after_a_restart() -> None:
    before = fresh()
    login(before, "101", "desk1")
    login(before, "201", "desk2")
    records = [to_record(s) for s in before.sessions()]
    after = HotdeskCore(make_config())
    assert after.restore(records, 5.0, WALL0 + 1000) == []
    assert after.sessions() == before.sessions()
    assert after.user_on("desk1") == "101" and after.user_on("lobby") is None  # 201 is still away


def test_restore_drops_what_the_config_no_longer_allows() -> None:
    records = [
        to_record(Session("101", "desk1", WALL0)),
        to_record(Session("999", "desk2", WALL0)),  # user removed while the daemon was down
        to_record(Session("102", "lift", WALL0)),  # the lift lost hotdesk
    ]
    core = HotdeskCore(make_config())
    effects = core.restore(records, 5.0, W)
    assert SessionEnded("999", "desk2", EndReason.USER_REMOVED, W) in effects
    assert SessionEnded("102", "lift", EndReason.HOTDESK_DISABLED, W) in effects
    assert DeleteSession("999") in effects and DeleteSession("102") in effects
    assert [s.user for s in core.sessions()] == ["101"]


def test_restore_two_sessions_on_one_device_the_newer_wins() -> None:
    records = [to_record(Session("102", "desk1", WALL0 + 9)), to_record(Session("101", "desk1", WALL0 + 2))]
    core = HotdeskCore(make_config())
    effects = core.restore(records, 5.0, W)
    assert effects == [SessionEnded("101", "desk1", EndReason.IDENTITY_SWITCH, W), DeleteSession("101")]
    assert core.user_on("desk1") == "102"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_failures": 0}, "greater than or equal to 1"),
        ({"lockout_seconds": 0}, "greater than or equal to 1"),
        ({"auto_logout": "25:00"}, "'25:00' is not a time like 03:00"),
        ({"auto_logout": "3am"}, "'3am' is not a time like 03:00"),
        ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
        ({"unregistered_logout": 10}, "greater than or equal to 60"),
        ({"max_tries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_hotdesk_section_validation(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_config(**section)


def test_hotdesk_section_from_yaml(tmp_path: Path) -> None:
    (tmp_path / "pbx.yaml").write_text(
        "api: {token: test-token}\n"
        "hotdesk:\n"
        "  max_failures: 3\n"
        "  auto_logout: 03:00          # unquoted: must stay a time, not YAML 1.1's sexagesimal 180\n"
        "  timezone: Europe/Amsterdam\n"
        "  unregistered_logout: 3600\n"
    )
    h = load_config(tmp_path).hotdesk
    assert (h.max_failures, h.lockout_seconds, h.auto_logout) == (3, 300, "03:00")
    assert (h.timezone, h.unregistered_logout, h.owner_by_name) == ("Europe/Amsterdam", 3600, True)
    (tmp_path / "pbx.yaml").write_text("api: {token: test-token}\nhotdesk:\n  auto_logout: '24:00'\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert [str(p) for p in err.value.problems] == [
        f"{tmp_path / 'pbx.yaml'}:3: hotdesk.auto_logout: '24:00' is not a time like 03:00"
    ]
