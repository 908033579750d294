"""Shared config and a dialogue driver for the hotdesk tests (pure: no loop, no sockets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pbx.config.models import Config
from pbx.hotdesk import Ask, Digits, Done, HotdeskCore, Timeout

WALL0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
SOURCE = "192.0.2.10"

USERS: list[dict[str, Any]] = [
    {"extension": "101", "name": "Bedrijf A", "pin": "1011", "numbers": ["+31534800101"]},
    {"extension": "102", "name": "Bedrijf B", "pin": "1022", "numbers": ["+31534800102"]},
    {"extension": "201", "name": "Anna", "pin": "2011"},
    {"extension": "203", "name": "Carla", "pin": "2033"},
    {"extension": "204", "name": "Daan", "hotdesk": False},
]
DEVICES: list[dict[str, Any]] = [
    {"username": "desk1", "password": "pw-desk1"},
    {"username": "desk2", "password": "pw-desk2"},
    {"username": "lift", "password": "pw-lift", "hotdesk": False},
    {"username": "lobby", "password": "pw-lobby", "user": "201"},
    {"username": "203", "password": "pw-203"},  # owner_by_name: Carla's own phone
]


def make_config(
    users: Sequence[dict[str, Any]] = USERS, devices: Sequence[dict[str, Any]] = DEVICES, **hotdesk: Any
) -> Config:
    return Config.model_validate(
        {
            "api": {"token": "test-token"},
            "auth": {"secret": "s" * 16},
            "users": list(users),
            "devices": list(devices),
            "hotdesk": hotdesk,
        }
    )


def fresh(**hotdesk: Any) -> HotdeskCore:
    """A core on the test config, restored (with nothing) at monotonic 0 / WALL0."""
    c = HotdeskCore(make_config(**hotdesk))
    assert c.restore([], 0.0, WALL0) == []
    return c


def run(
    core: HotdeskCore,
    device: str,
    args: Sequence[str],
    keys: Sequence[str | None] = (),
    *,
    source: str | None = SOURCE,
    now: float = 10.0,
) -> tuple[list[Ask], Done]:
    """Dial *35 with `args` on `device`, answer each Ask with the next of `keys` (None: nothing
    keyed, a timeout); the Asks seen and the final Done."""
    dialogue, step = core.feature(device, args, source, now, WALL0 + now)
    asks: list[Ask] = []
    pending = list(keys)
    while isinstance(step, Ask):
        asks.append(step)
        assert pending, f"unexpected question {step.prompts}"
        key = pending.pop(0)
        step = dialogue.handle(Timeout() if key is None else Digits(key), now, WALL0 + now)
    assert not pending, f"keys left over: {pending}"
    return asks, step


def login(core: HotdeskCore, user: str, device: str, now: float = 1.0) -> None:
    """Set the scene through the admin command (no PIN, no lockout)."""
    outcome, _ = core.login(user, device, now, WALL0 + now)
    assert outcome.value == "logged_in"


def lock_user(core: HotdeskCore, user: str, now: float = 5.0) -> None:
    """Lock a user out by wrong PINs from many sources (so no source gets locked)."""
    for i in range(core.config.hotdesk.max_failures):
        core.limiter.failed(user, f"198.51.100.{i}", now)
    assert core.limiter.locked(user, None, now)


def advance(core: HotdeskCore, start: float, end: float) -> list[object]:
    """Fire every deadline in (start, end] in order, as the driver's one timer would; wall time
    keeps its offset WALL0 to the monotonic clock (pbx.clock.FakeClock's rule)."""
    out: list[object] = []
    while (d := core.next_deadline()) is not None and d <= end:
        out += core.on_timer(max(d, start), WALL0 + max(d, start))
    return out
