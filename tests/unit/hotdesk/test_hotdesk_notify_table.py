"""Which devices are told their user changed (NotifyDevice, hence the check-sync NOTIFY), in every
kind of change: login, logout, takeover by a login elsewhere, identity switch, admin logout, a
fixed user's own phone vacated and given back. Pure: HotdeskCore only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hotdesk_kit import DEVICES, WALL0, fresh, login, make_config, run

from pbx.hotdesk import HotdeskCore, NotifyDevice
from pbx.hotdesk.notify import should_notify


def notified(effects: object) -> dict[str, str | None]:
    return {e.device: e.user for e in effects if isinstance(e, NotifyDevice)}  # type: ignore[attr-defined]


def by_phone(device: str, args: tuple[str, ...]) -> Callable[[HotdeskCore], object]:
    return lambda core: run(core, device, args, now=10.0)[1].effects


Scene = Callable[[HotdeskCore], None]
Action = Callable[[HotdeskCore], object]
CASES: list[tuple[str, Scene, Action, dict[str, str | None]]] = [
    # (case, scene, action, devices notified -> their new user)
    ("login on a free phone", lambda c: None, by_phone("desk1", ("101", "1011")), {"desk1": "101"}),
    (
        "logout by *35 on the phone",
        lambda c: login(c, "101", "desk1"),
        by_phone("desk1", ()),
        {"desk1": None},
    ),
    (
        "logout by *35*ext*pin toggle",
        lambda c: login(c, "101", "desk1"),
        by_phone("desk1", ("101", "1011")),
        {"desk1": None},
    ),
    (
        "takeover: login elsewhere moves the user",
        lambda c: login(c, "101", "desk1"),
        by_phone("desk2", ("101", "1011")),
        {"desk1": None, "desk2": "101"},
    ),
    (
        "identity switch on one phone",
        lambda c: login(c, "101", "desk1"),
        by_phone("desk1", ("102", "1022")),
        {"desk1": "102"},
    ),
    (
        "fixed user hotdesks elsewhere: own phone vacated",
        lambda c: None,
        by_phone("desk1", ("203", "2033")),
        {"desk1": "203", "203": None},
    ),
    (
        "fixed user logs out elsewhere: own phone theirs again",
        lambda c: login(c, "203", "desk1"),
        by_phone("desk1", ()),
        {"desk1": None, "203": "203"},
    ),
    (
        "login on a fixed user's phone replaces them there",
        lambda c: None,
        by_phone("lobby", ("101", "1011")),
        {"lobby": "101"},
    ),
    (
        "takeover from a fixed user's phone gives it back",
        lambda c: login(c, "101", "lobby"),
        by_phone("desk1", ("101", "1011")),
        {"lobby": "201", "desk1": "101"},
    ),
    (
        "admin force-logout",
        lambda c: login(c, "101", "desk1"),
        lambda c: c.force_logout("101", 10.0, WALL0 + 10)[1],
        {"desk1": None},
    ),
    (
        "admin login takes over",
        lambda c: login(c, "101", "desk1"),
        lambda c: c.login("101", "desk2", 10.0, WALL0 + 10)[1],
        {"desk1": None, "desk2": "101"},
    ),
    ("wrong PIN: nobody", lambda c: None, by_phone("desk1", ("101", "9999")), {}),
    ("refused device: nobody", lambda c: None, by_phone("lift", ("101", "1011")), {}),
]


@pytest.mark.parametrize("case, scene, action, expected", CASES, ids=[c[0] for c in CASES])
def test_devices_notified(case: str, scene: Scene, action: Action, expected: dict[str, str | None]) -> None:
    core = fresh()
    scene(core)
    effects = action(core)
    assert notified(effects) == expected, case
    for device, user in expected.items():  # what was said is what the core now answers
        assert core.user_on(device) == user


def test_switches() -> None:
    cfg = make_config()
    assert should_notify(cfg, "desk1") and not should_notify(cfg, "nope")
    assert not should_notify(make_config(notify="none"), "desk1")
    devices = [dict(d, notify=False) if d["username"] == "desk1" else d for d in DEVICES]
    cfg = make_config(devices=devices)
    assert not should_notify(cfg, "desk1") and should_notify(cfg, "desk2")
