"""The B2BUA: calls made of legs (dialogs), relayed by a call controller; see docs/calls.md."""

from pbx.calls.call import Call, CallAnswered, CallEnded, CallStarted, CallState
from pbx.calls.leg import Leg, LegState
from pbx.calls.manager import CallInfo, CallManager, LegInfo
from pbx.calls.routing import Caller, Reject, Ring

__all__ = [
    "Call",
    "CallAnswered",
    "CallEnded",
    "CallInfo",
    "CallManager",
    "CallStarted",
    "CallState",
    "Caller",
    "Leg",
    "LegInfo",
    "LegState",
    "Reject",
    "Ring",
]
