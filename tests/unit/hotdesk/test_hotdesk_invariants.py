"""Any sequence of hotdesk operations keeps the invariants the shell relies on: replaying the
store effects gives exactly the sessions in memory, replaying NotifyDevice gives every device's
effective user, and a user is on one device at most."""

from __future__ import annotations

from typing import Any

from hotdesk_kit import DEVICES, USERS, WALL0, fresh, make_config
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.hotdesk import (
    DeleteSession,
    Digits,
    Done,
    HotdeskCore,
    NotifyDevice,
    PersistSession,
    from_record,
    record_key,
    to_record,
)

EXTS = ["101", "102", "201", "203", "204", "999"]
PHONES = ["desk1", "desk2", "lift", "lobby", "203"]
PINS = {"101": "1011", "102": "1022", "201": "2011", "203": "2033"}

FORM = st.integers(0, 2)
TZ = "Europe/Amsterdam"
op = st.one_of(
    # (dial, phone, extension, right PIN?, form: 0 = *35, 1 = *35*ext, 2 = *35*ext*pin)
    st.tuples(st.just("dial"), st.sampled_from(PHONES), st.sampled_from(EXTS), st.booleans(), FORM),
    st.tuples(st.just("admin_login"), st.sampled_from(EXTS), st.sampled_from(PHONES)),
    st.tuples(st.just("force_logout"), st.sampled_from(EXTS)),
    st.tuples(st.just("reload"), st.sampled_from(EXTS[:4]), st.sampled_from(PHONES[:2])),
    st.tuples(st.just("registration"), st.sampled_from(PHONES), st.booleans()),
    st.tuples(st.just("wait"), st.integers(1, 4000)),
)


def run_op(core: HotdeskCore, o: tuple[Any, ...], now: float) -> list[object]:
    wall = WALL0 + now
    match o:
        case ("dial", phone, ext, right_pin, form):
            pin = PINS.get(ext, "0000") if right_pin else "0000"
            args = [(), (ext,), (ext, pin)][form]
            dialogue, step = core.feature(phone, args, "192.0.2.1", now, wall)
            out: list[object] = []
            keys = iter([ext, pin, pin, pin, pin] if form == 0 else [pin, pin, pin])
            while not isinstance(step, Done):
                out += step.effects
                step = dialogue.handle(Digits(next(keys)), now, wall)
            return out + list(step.effects)
        case ("admin_login", ext, phone):
            return list(core.login(ext, phone, now, wall)[1])
        case ("force_logout", ext):
            return list(core.force_logout(ext, now, wall)[1])
        case ("reload", ext, phone):  # drop one user and one device
            users = [u for u in USERS if u["extension"] != ext]
            devices = [d for d in DEVICES if d["username"] != phone and d.get("user") != ext]
            cfg = make_config(users, devices, auto_logout="18:00", timezone=TZ, unregistered_logout=600)
            return list(core.apply_config(cfg, now, wall))
        case ("registration", phone, up):
            return list(core.registration_changed(phone, up, now, wall))
    raise AssertionError(o)


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=30))
def test_effects_replay_to_the_state_in_memory(ops: list[tuple[Any, ...]]) -> None:
    core = fresh(auto_logout="18:00", timezone=TZ, unregistered_logout=600)
    store: dict[str, dict[str, Any]] = {}
    shown = {d["username"]: core.user_on(d["username"]) for d in DEVICES}
    now = 1.0
    for o in [*ops, ("wait", 0)]:  # the last wait fires what is due, as the driver would
        effects: list[object] = []
        if o[0] == "wait":
            end = now + o[1]
            while (d := core.next_deadline()) is not None and d <= end:
                now = max(now, d)
                effects += core.on_timer(now, WALL0 + now)
            now = end
        else:
            effects = run_op(core, o, now)
            now += 1
        for e in effects:
            if isinstance(e, PersistSession):
                store[record_key(e.session.user)] = to_record(e.session)
            elif isinstance(e, DeleteSession):
                store.pop(record_key(e.user), None)
            elif isinstance(e, NotifyDevice):
                shown[e.device] = e.user
        assert sorted((from_record(r) for r in store.values()), key=str) == sorted(core.sessions(), key=str)
        for device, user in shown.items():
            if core.config.device(device) is not None:
                assert core.user_on(device) == user, (device, o)
        devices = [s.device for s in core.sessions()]
        assert len(devices) == len(set(devices))
        for s in core.sessions():
            assert core.devices_of(s.user) == (s.device,)
    # and a restart from the store gives the same sessions
    restarted = HotdeskCore(core.config)
    assert restarted.restore(list(store.values()), now, WALL0 + now) == []
    assert restarted.sessions() == core.sessions()
