"""The hotdesk vocabulary: sessions, outcomes, end reasons, effects, and the dialogue's steps.

Everything here is frozen data. Effects are imperative (`PersistSession`, `NotifyDevice`) or past
tense events (`SessionStarted`, `LockedOut`), as elsewhere in the PBX; the shell executes or
publishes them. Wall times are epoch seconds (the shell's `Clock.wall()`), monotonic times are
the `now` every call is given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pbx.hotdesk.prompts import Speech, prompt_names


class Outcome(enum.Enum):
    """How a `*35` dialogue (or an admin command) ended."""

    LOGGED_IN = "logged_in"
    LOGGED_OUT = "logged_out"
    WRONG_PIN = "wrong_pin"  # also an unknown extension: callers cannot tell (no enumeration)
    LOCKED_OUT = "locked_out"  # too many wrong PINs for this user or from this source
    REFUSED_USER = "refused_user"  # the user may not hotdesk (User.hotdesk false)
    REFUSED_DEVICE = "refused_device"  # this device may not be hotdesked (Device.hotdesk false, unknown)
    NO_INPUT = "no_input"  # nothing was keyed, twice
    UNKNOWN_USER = "unknown_user"  # admin commands only
    NOT_LOGGED_IN = "not_logged_in"  # admin force logout of a user without a session


class EndReason(enum.Enum):
    """Why a hotdesk session ended (SessionEnded.reason, metrics label, history)."""

    LOGOUT = "logout"  # *35 in one of its forms
    REPLACED_BY_LOGIN_ELSEWHERE = "replaced_by_login_elsewhere"  # the user logged in on another device
    IDENTITY_SWITCH = "identity_switch"  # another user logged in on this device
    ADMIN = "admin"  # DELETE /api/hotdesk/{user}
    USER_REMOVED = "user_removed"  # config reload: the user is gone
    DEVICE_REMOVED = "device_removed"  # config reload: the device is gone
    HOTDESK_DISABLED = "hotdesk_disabled"  # config reload: user or device lost hotdesk permission
    AUTO_LOGOUT = "auto_logout"  # the configured time of day
    UNREGISTERED = "unregistered"  # the device stayed unregistered for unregistered_logout seconds


class LockKind(enum.Enum):
    USER = "user"
    SOURCE = "source"


@dataclass(frozen=True, slots=True)
class Session:
    """A user hotdesk-logged-in on a device, since `since` (wall)."""

    user: str
    device: str
    since: float


# --- effects --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    user: str
    device: str
    wall: float


@dataclass(frozen=True, slots=True)
class SessionEnded:
    user: str
    device: str
    reason: EndReason
    wall: float


@dataclass(frozen=True, slots=True)
class PersistSession:
    """Store (insert or replace) this session; key `records.record_key(session.user)`."""

    session: Session


@dataclass(frozen=True, slots=True)
class DeleteSession:
    user: str


@dataclass(frozen=True, slots=True)
class NotifyDevice:
    """The device's effective user changed (now `user`, None = nobody): update its display/presence
    and send it an unsolicited NOTIFY where the phone supports one."""

    device: str
    user: str | None


@dataclass(frozen=True, slots=True)
class PinRejected:
    """A wrong PIN (or an unknown extension) was keyed."""

    user: str | None  # None when the extension is unknown
    source: str | None
    device: str


@dataclass(frozen=True, slots=True)
class LockedOut:
    """`key` (a user extension or a source address) may not try PINs until `until` (monotonic)."""

    kind: LockKind
    key: str
    until: float


@dataclass(frozen=True, slots=True)
class LockoutLifted:
    kind: LockKind
    key: str


HotdeskEffect = (
    SessionStarted
    | SessionEnded
    | PersistSession
    | DeleteSession
    | NotifyDevice
    | PinRejected
    | LockedOut
    | LockoutLifted
)


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout for snapshots: since/until are monotonic (the shell converts them to wall time)."""

    kind: LockKind
    key: str
    since: float
    until: float


# --- the dialogue's inputs and steps --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digits:
    """What the caller keyed: the digits, the terminator `#` may be left on (it is dropped)."""

    digits: str


@dataclass(frozen=True, slots=True)
class Timeout:
    """Nothing was keyed before the first-digit timeout."""


DialogueInput = Digits | Timeout


@dataclass(frozen=True, slots=True)
class Collect:
    """How the media layer collects digits (issue 5's `collect`). Collection ends at `max_digits`,
    at the terminator, or `inter_digit_timeout` after the last digit (with what was keyed)."""

    min_digits: int
    max_digits: int
    first_digit_timeout: float
    inter_digit_timeout: float
    terminator: str = "#"


@dataclass(frozen=True, slots=True)
class Ask:
    """Speak `speech` (interruptible by the first digit), then collect digits per `collect`."""

    speech: tuple[Speech, ...]
    collect: Collect
    language: str
    effects: tuple[HotdeskEffect, ...] = ()  # a wrong PIN before asking again: counted already

    @property
    def prompts(self) -> tuple[str, ...]:
        return prompt_names(self.speech, self.language)


@dataclass(frozen=True, slots=True)
class Done:
    """The dialogue is over: speak `speech`, then hang up. `effects` are for the shell."""

    outcome: Outcome
    speech: tuple[Speech, ...]
    language: str
    effects: tuple[HotdeskEffect, ...]
    user: str | None = None  # whom it was about, when known

    @property
    def prompts(self) -> tuple[str, ...]:
        return prompt_names(self.speech, self.language)


Step = Ask | Done


class DialogueOver(Exception):
    """Input fed to a dialogue that already returned `Done` (a bug in the caller)."""


class InvalidDialogueTransition(Exception):
    def __init__(self, state: object, new: object) -> None:
        super().__init__(f"hotdesk dialogue cannot go from {state} to {new}")
        self.state = state
        self.new = new
