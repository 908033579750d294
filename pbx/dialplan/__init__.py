"""Dialplans: `dialplans/*.yaml` -> a validated `Dialplan` that routes dialled strings (pure)."""

from pbx.dialplan.load import default_dialplan_dir, load_dialplans, load_optional_dialplans
from pbx.dialplan.model import (
    Action,
    Announcement,
    Collect,
    Feature,
    Ivr,
    NumberEntry,
    PlayPrompts,
    Reject,
    RingDevice,
    RingQueue,
    RingUser,
    Say,
    ToTrunk,
)
from pbx.dialplan.router import MAX_GOTO, TRUNK_CONTEXT, Decision, Dialplan, Step, route

__all__ = [
    "MAX_GOTO",
    "TRUNK_CONTEXT",
    "Action",
    "Announcement",
    "Collect",
    "Decision",
    "Dialplan",
    "Feature",
    "Ivr",
    "NumberEntry",
    "PlayPrompts",
    "Reject",
    "RingDevice",
    "RingQueue",
    "RingUser",
    "Say",
    "Step",
    "ToTrunk",
    "default_dialplan_dir",
    "load_dialplans",
    "load_optional_dialplans",
    "route",
]
