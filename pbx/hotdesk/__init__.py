"""Hotdesking (HD manual, SPEC section 4, issue 6): sessions, the `*35` dialogue, PIN lockouts.

Pure like the rest of the core: `now` (monotonic) and `wall` (epoch seconds) go in, steps and
effects come out. See docs/hotdesk.md.
"""

from pbx.hotdesk.core import DeviceState, HotdeskCore, HotdeskSnapshot, HotdeskStats
from pbx.hotdesk.dialogue import HotdeskDialogue
from pbx.hotdesk.model import (
    Ask,
    Collect,
    DeleteSession,
    DialogueInput,
    DialogueOver,
    Digits,
    Done,
    EndReason,
    HotdeskEffect,
    LockedOut,
    LockKind,
    Lockout,
    LockoutLifted,
    NotifyDevice,
    Outcome,
    PersistSession,
    PinRejected,
    Session,
    SessionEnded,
    SessionStarted,
    Step,
    Timeout,
)
from pbx.hotdesk.prompts import Play, SayDigits, Speech, prompt_names
from pbx.hotdesk.records import RECORD_KIND, from_record, record_key, to_record

__all__ = [
    "RECORD_KIND",
    "Ask",
    "Collect",
    "DeleteSession",
    "DeviceState",
    "DialogueInput",
    "DialogueOver",
    "Digits",
    "Done",
    "EndReason",
    "HotdeskCore",
    "HotdeskDialogue",
    "HotdeskEffect",
    "HotdeskSnapshot",
    "HotdeskStats",
    "LockKind",
    "LockedOut",
    "Lockout",
    "LockoutLifted",
    "NotifyDevice",
    "Outcome",
    "PersistSession",
    "PinRejected",
    "Play",
    "SayDigits",
    "Session",
    "SessionEnded",
    "SessionStarted",
    "Speech",
    "Step",
    "Timeout",
    "from_record",
    "prompt_names",
    "record_key",
    "to_record",
]
