"""Hotdesk sessions: who is on which device, and everything that changes it (pure).

How it works:
- A *session* is a user hotdesk-logged-in on a device (HD manual: "een gebruiker kan slechts op
  één toestel tegelijk ingelogd zijn"). Sessions are indexed both ways; a device holds at most
  one, a user at most one.
- A device's *effective user* (`user_on`) is its session's user, else its fixed user (config
  `Device.user`, or with `hotdesk.owner_by_name` the user whose extension is the device's
  username), unless that fixed user is hotdesk-logged-in elsewhere: one device per user, so
  their own phone is vacated meanwhile. A device without an effective user may only call the
  emergency numbers (`may_call`).
- Logging in moves the user (their old session ends: replaced_by_login_elsewhere) and replaces
  whoever was on the device (their session ends: identity_switch). Every change comes out as
  effects: SessionEnded/SessionStarted for history and the API, DeleteSession/PersistSession for
  the store, NotifyDevice for each device whose effective user changed.
- Wrong PINs go to a `PinLimiter` (lockout.py); the `*35` dialogue lives in dialogue.py and calls
  back into `login`/`logout` here when it is done.
- Deadlines (one `next_deadline`, `on_timer(now, wall)`): lockout expiry, the optional daily
  automatic logout (a wall time of day, converted to a monotonic deadline and re-checked against
  the wall clock when it fires) and the optional logout of sessions whose device stayed
  unregistered (told by `registration_changed`).
The shell must call `restore` once at start (with the stored records, possibly none).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pbx.config.models import Config, User
from pbx.hotdesk.dialogue import HotdeskDialogue
from pbx.hotdesk.lockout import PinLimiter
from pbx.hotdesk.model import (
    DeleteSession,
    EndReason,
    HotdeskEffect,
    LockKind,
    Lockout,
    NotifyDevice,
    Outcome,
    PersistSession,
    Session,
    SessionEnded,
    SessionStarted,
    Step,
)
from pbx.hotdesk.records import from_record
from pbx.hotdesk.schedule import last_occurrence, next_occurrence, parse_time_of_day

LanguageOf = Callable[[User | None], str]


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Who a device is for: `how` is "hotdesk" (a session), "fixed" (config) or None (nobody)."""

    device: str
    user: str | None
    how: Literal["hotdesk", "fixed"] | None


@dataclass(frozen=True, slots=True)
class HotdeskSnapshot:
    """For `GET /api/hotdesk`: sessions by user, and the lockouts now in force."""

    sessions: tuple[Session, ...]
    lockouts: tuple[Lockout, ...]


@dataclass(slots=True)
class HotdeskStats:
    """Monotonic totals for metrics (active sessions: `len(core.sessions())`)."""

    logins: int = 0
    logouts: dict[EndReason, int] = field(default_factory=dict)


class HotdeskCore:
    def __init__(self, config: Config, *, language_of: LanguageOf | None = None) -> None:
        self.config = config
        # Seam: a per-user `language` (once the config has one) wins over the media default.
        self._language_of = language_of or (
            lambda u: str(getattr(u, "language", None) or self.config.media.language)
        )
        self.limiter = PinLimiter(config.hotdesk.max_failures, config.hotdesk.lockout_seconds)
        self.stats = HotdeskStats()
        self._by_user: dict[str, Session] = {}
        self._by_device: dict[str, str] = {}
        self._fixed: dict[str, str] = {}  # device -> its fixed user
        self._homes: dict[str, tuple[str, ...]] = {}  # user -> devices they are the fixed user of
        self._unregistered: dict[str, float] = {}  # device -> since (monotonic)
        self._heap: list[tuple[float, int, str]] = []  # (deadline, seq, device): unregistered logout
        self._seq = itertools.count()
        self._daily: tuple[float, float] | None = None  # (monotonic deadline, wall target)
        self._index_config()

    def _index_config(self) -> None:
        cfg = self.config
        self._fixed = {}
        for d in cfg.devices:
            if d.user is not None:
                self._fixed[d.username] = d.user
            elif cfg.hotdesk.owner_by_name and cfg.user(d.username) is not None:
                self._fixed[d.username] = d.username
        homes: dict[str, list[str]] = {}
        for dev, user in self._fixed.items():
            homes.setdefault(user, []).append(dev)
        self._homes = {u: tuple(ds) for u, ds in homes.items()}

    # --- queries ------------------------------------------------------------------------------------
    def user_on(self, device: str) -> str | None:
        """The user a device acts as (rings for, calls as), or None."""
        user = self._by_device.get(device)
        if user is not None:
            return user
        fixed = self._fixed.get(device)
        return fixed if fixed is not None and fixed not in self._by_user else None

    def session_on(self, device: str) -> Session | None:
        user = self._by_device.get(device)
        return self._by_user[user] if user is not None else None

    def session_of(self, user: str) -> Session | None:
        return self._by_user.get(user)

    def devices_of(self, user: str) -> tuple[str, ...]:
        """Every device that rings for `user`: their session's, else their free fixed devices."""
        s = self._by_user.get(user)
        if s is not None:
            return (s.device,)
        return tuple(d for d in self._homes.get(user, ()) if d not in self._by_device)

    def device_of(self, user: str) -> str | None:
        devices = self.devices_of(user)
        return devices[0] if devices else None

    def may_call(
        self,
        device: str,
        dialled: str,
        emergency_numbers: Sequence[str] | None = None,
        *,
        hotdesk_feature: bool = False,
    ) -> bool:
        """A device without a user may call only the emergency numbers, and the hotdesk code
        (the dialplan decides what that is: pass `hotdesk_feature` for a `feature: hotdesk` rule)."""
        numbers = self.config.emergency_numbers if emergency_numbers is None else emergency_numbers
        return hotdesk_feature or dialled in numbers or self.user_on(device) is not None

    def may_hotdesk(self, device: str) -> bool:
        d = self.config.device(device)
        return d is not None and d.hotdesk

    def sessions(self) -> list[Session]:
        return sorted(self._by_user.values(), key=lambda s: s.user)

    def assignments(self) -> list[DeviceState]:
        out: list[DeviceState] = []
        for d in self.config.devices:
            user = self.user_on(d.username)
            how: Literal["hotdesk", "fixed"] | None = None
            if user is not None:
                how = "hotdesk" if d.username in self._by_device else "fixed"
            out.append(DeviceState(d.username, user, how))
        return out

    def lockouts(self, now: float) -> list[Lockout]:
        return self.limiter.lockouts(now)

    def snapshot(self, now: float) -> HotdeskSnapshot:
        return HotdeskSnapshot(tuple(self.sessions()), tuple(self.lockouts(now)))

    def language_for(self, user: str | None) -> str:
        return self._language_of(self.config.user(user) if user is not None else None)

    # --- the *35 dialogue -----------------------------------------------------------------------------
    def feature(
        self, device: str, args: Sequence[str], source: str | None, now: float, wall: float
    ) -> tuple[HotdeskDialogue, Step]:
        """`*35` dialled on `device` from `source` (an IP; None: no per-source counting), with the
        dialplan's feature arguments: () for *35, (ext,) for *35*ext, (ext, pin) for the one shot."""
        self._arm_daily(now, wall)
        dialogue = HotdeskDialogue(self, device, source, tuple(args))
        return dialogue, dialogue.start(now, wall)

    # --- commands ---------------------------------------------------------------------------------------
    def login(self, user: str, device: str, now: float, wall: float) -> tuple[Outcome, list[HotdeskEffect]]:
        """Log `user` in on `device` without a PIN (the admin's POST /api/hotdesk/login, and the
        dialogue once the PIN is right). Permissions still apply; lockouts do not."""
        self._arm_daily(now, wall)
        u = self.config.user(user)
        if u is None:
            return Outcome.UNKNOWN_USER, []
        if not self.may_hotdesk(device):
            return Outcome.REFUSED_DEVICE, []
        if not u.hotdesk:
            return Outcome.REFUSED_USER, []
        old = self._by_user.get(user)
        if old is not None and old.device == device:
            return Outcome.LOGGED_IN, []  # already there: nothing changes, `since` stays
        occupant = self._by_device.get(device)
        affected = [device, *self._homes.get(user, ())]
        if old is not None:
            affected.append(old.device)
        if occupant is not None:
            affected += self._homes.get(occupant, ())
        before = self._effective(affected)
        out: list[HotdeskEffect] = []
        if occupant is not None:
            out += self._drop(occupant, EndReason.IDENTITY_SWITCH, wall)
        if old is not None:
            out += self._drop(user, EndReason.REPLACED_BY_LOGIN_ELSEWHERE, wall)
        s = Session(user, device, wall)
        self._by_user[user] = s
        self._by_device[device] = user
        self.stats.logins += 1
        if device in self._unregistered:
            self._unregistered[device] = now  # the unregistered timeout counts from the login
            self._push_unregistered(device)
        out += [SessionStarted(user, device, wall), PersistSession(s)]
        return Outcome.LOGGED_IN, out + self._notifies(before)

    def logout(self, user: str, reason: EndReason, wall: float) -> list[HotdeskEffect]:
        """End `user`'s session (nothing if they have none)."""
        s = self._by_user.get(user)
        if s is None:
            return []
        before = self._effective([s.device, *self._homes.get(user, ())])
        return self._drop(user, reason, wall) + self._notifies(before)

    def force_logout(self, user: str, now: float, wall: float) -> tuple[Outcome, list[HotdeskEffect]]:
        """DELETE /api/hotdesk/{user}."""
        if self.config.user(user) is None and user not in self._by_user:
            return Outcome.UNKNOWN_USER, []
        effects = self.logout(user, EndReason.ADMIN, wall)
        return (Outcome.LOGGED_OUT if effects else Outcome.NOT_LOGGED_IN), effects

    def unlock(self, kind: LockKind, key: str) -> bool:
        return self.limiter.unlock(kind, key)

    def registration_changed(
        self, device: str, registered: bool, now: float, wall: float
    ) -> list[HotdeskEffect]:
        """The device got its first live binding (True) or lost its last one (False)."""
        self._arm_daily(now, wall)
        if registered:
            self._unregistered.pop(device, None)
        elif device not in self._unregistered:
            self._unregistered[device] = now
            self._push_unregistered(device)
        return []

    # --- config and restart -----------------------------------------------------------------------------
    def apply_config(self, config: Config, now: float, wall: float) -> list[HotdeskEffect]:
        """A reloaded config: sessions whose user or device is gone, or lost hotdesk permission,
        end cleanly; devices whose effective user changed (a new fixed user) are notified."""
        devices = [d.username for d in self.config.devices] + [d.username for d in config.devices]
        before = self._effective(devices + [s.device for s in self._by_user.values()])
        old_users = {u.extension for u in self.config.users}
        self.config = config
        self._index_config()
        self.limiter.configure(config.hotdesk.max_failures, config.hotdesk.lockout_seconds)
        out: list[HotdeskEffect] = []
        for s in list(self._by_user.values()):
            reason = self._invalid(s)
            if reason is not None:
                out += self._drop(s.user, reason, wall)
        for user in old_users - {u.extension for u in config.users}:
            self.limiter.forget_user(user)
        self._daily = None
        self._arm_daily(now, wall)
        self._heap = []
        for device in self._unregistered:
            self._push_unregistered(device)
        return out + self._notifies(before)

    def restore(
        self,
        records: Iterable[dict[str, Any]],
        now: float,
        wall: float,
        registered: Iterable[str] | None = None,
    ) -> list[HotdeskEffect]:
        """Sessions from the store after a restart. Those no longer valid under the config, and
        those an automatic logout would have ended while the daemon was down, end here.
        `registered` (devices with a live binding), if given, starts the unregistered timeout for
        the other session devices."""
        out: list[HotdeskEffect] = []
        sessions = sorted((from_record(r) for r in records), key=lambda s: s.since)
        at = self.config.hotdesk.auto_logout
        missed = (
            last_occurrence(wall, parse_time_of_day(at), self.config.hotdesk.timezone)
            if at is not None
            else None
        )
        for s in sessions:
            reason = self._invalid(s)
            if reason is None and missed is not None and s.since < missed:
                reason = EndReason.AUTO_LOGOUT
            if reason is not None:
                out += [SessionEnded(s.user, s.device, reason, wall), DeleteSession(s.user)]
                self._count_logout(reason)
                continue
            occupant = self._by_device.get(s.device)
            if occupant is not None:  # two rows for one device: the newer wins, as its login did
                out += self._drop(occupant, EndReason.IDENTITY_SWITCH, wall)
            self._by_user[s.user] = s
            self._by_device[s.device] = s.user
        if registered is not None:
            live = set(registered)
            for s in self._by_user.values():
                if s.device not in live:
                    self.registration_changed(s.device, False, now, wall)
        self._arm_daily(now, wall)
        return out

    def _invalid(self, s: Session) -> EndReason | None:
        u = self.config.user(s.user)
        d = self.config.device(s.device)
        if u is None:
            return EndReason.USER_REMOVED
        if d is None:
            return EndReason.DEVICE_REMOVED
        if not u.hotdesk or not d.hotdesk:
            return EndReason.HOTDESK_DISABLED
        return None

    # --- timers -------------------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        candidates = [self.limiter.next_deadline(), self._heap[0][0] if self._heap else None]
        if self._daily is not None:
            candidates.append(self._daily[0])
        due = [c for c in candidates if c is not None]
        return min(due) if due else None

    def on_timer(self, now: float, wall: float) -> list[HotdeskEffect]:
        out: list[HotdeskEffect] = list(self.limiter.on_timer(now))
        timeout = self.config.hotdesk.unregistered_logout
        while self._heap and self._heap[0][0] <= now:
            _, _, device = heapq.heappop(self._heap)
            since = self._unregistered.get(device)
            user = self._by_device.get(device)
            if timeout is not None and since is not None and user is not None and since + timeout <= now:
                out += self.logout(user, EndReason.UNREGISTERED, wall)
        if self._daily is not None and self._daily[0] <= now:
            target = self._daily[1]
            self._daily = None
            if wall >= target:
                for user in sorted(self._by_user):
                    out += self.logout(user, EndReason.AUTO_LOGOUT, wall)
            else:  # the wall clock lags the monotonic one (it was stepped back): not yet
                self._daily = (now + target - wall, target)
            self._arm_daily(now, wall)
        return out

    def _arm_daily(self, now: float, wall: float) -> None:
        at = self.config.hotdesk.auto_logout
        if at is None or self._daily is not None:
            return
        target = next_occurrence(wall, parse_time_of_day(at), self.config.hotdesk.timezone)
        self._daily = (now + (target - wall), target)

    def _push_unregistered(self, device: str) -> None:
        timeout = self.config.hotdesk.unregistered_logout
        if timeout is not None and device in self._by_device:
            heapq.heappush(self._heap, (self._unregistered[device] + timeout, next(self._seq), device))

    # --- helpers ------------------------------------------------------------------------------------------
    def _effective(self, devices: Iterable[str]) -> dict[str, str | None]:
        return {d: self.user_on(d) for d in dict.fromkeys(devices)}

    def _notifies(self, before: dict[str, str | None]) -> list[HotdeskEffect]:
        out: list[HotdeskEffect] = []
        for device, was in before.items():
            now_user = self.user_on(device)
            if now_user != was:
                out.append(NotifyDevice(device, now_user))
        return out

    def _drop(self, user: str, reason: EndReason, wall: float) -> list[HotdeskEffect]:
        s = self._by_user.pop(user)
        del self._by_device[s.device]
        self._count_logout(reason)
        return [SessionEnded(user, s.device, reason, wall), DeleteSession(user)]

    def _count_logout(self, reason: EndReason) -> None:
        self.stats.logouts[reason] = self.stats.logouts.get(reason, 0) + 1
