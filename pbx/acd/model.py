# How this works
# --------------
# An agent's status is two things kept apart (SPEC section 5):
#
#   Chosen    what the agent asked for: LOGGED_OUT (in no queue), AVAILABLE, OFFLINE (working
#             offline: direct calls and transfers only, 8x8 "Offline werken") or PAUSED (with a
#             reason code, 8x8 "Pauze" + statuscode).
#   Activity  what the engine is doing with them: IDLE, OFFERED (a queue call rings their phone),
#             ON_CALL (any call, queue or direct), WRAPUP (until a deadline, or manual until
#             switched off) or UNREACHABLE (no registered device).
#
# Activity is never set by hand: handlers change the facts (the offer, the calls, the wrap-up
# deadline, the registration) and `Agent.settle` derives the activity from them, moving along
# ACTIVITY_ALLOWED. Chosen changes go through `Agent.choose`, checked against CHOSEN_ALLOWED. A
# move the table lacks raises InvalidAgentTransition: a bug in the engine, never something a
# phone or the API can cause (their mistakes are refused with a Refused effect first).
"""Agents and waiting callers: the two status enums, their transition tables and the records."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Chosen(enum.Enum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    OFFLINE = "offline"
    PAUSED = "paused"


class Activity(enum.Enum):
    IDLE = "idle"
    OFFERED = "offered"
    ON_CALL = "on_call"
    WRAPUP = "wrapup"
    UNREACHABLE = "unreachable"


_C = Chosen
CHOSEN_ALLOWED: dict[Chosen, frozenset[Chosen]] = {
    _C.LOGGED_OUT: frozenset({_C.AVAILABLE, _C.PAUSED, _C.OFFLINE}),
    _C.AVAILABLE: frozenset({_C.LOGGED_OUT, _C.PAUSED, _C.OFFLINE}),
    # PAUSED -> PAUSED is a new reason code: its own step, the time in status starts again.
    _C.PAUSED: frozenset({_C.LOGGED_OUT, _C.AVAILABLE, _C.PAUSED, _C.OFFLINE}),
    _C.OFFLINE: frozenset({_C.LOGGED_OUT, _C.AVAILABLE, _C.PAUSED}),
}

_A = Activity
ACTIVITY_ALLOWED: dict[Activity, frozenset[Activity]] = {
    _A.IDLE: frozenset({_A.OFFERED, _A.ON_CALL, _A.WRAPUP, _A.UNREACHABLE}),
    # An offer ends answered (ON_CALL), unanswered (IDLE), with the phone gone (UNREACHABLE), or
    # cancelled by a manual wrap-up the agent switched on while it rang.
    _A.OFFERED: frozenset({_A.IDLE, _A.ON_CALL, _A.WRAPUP, _A.UNREACHABLE}),
    # The phone may unregister during a call; the call is what counts until it ends. An urgent
    # call may ring an agent on a call (OP 5.2): when that call ends first, the offer remains.
    _A.ON_CALL: frozenset({_A.IDLE, _A.OFFERED, _A.WRAPUP, _A.UNREACHABLE}),
    # Wrap-up blocks routed queue calls only: a direct or outbound call may start during it, and
    # the agent may cherry-pick a waiting caller (their own choice, OP 2.1.2).
    _A.WRAPUP: frozenset({_A.IDLE, _A.OFFERED, _A.ON_CALL, _A.UNREACHABLE}),
    _A.UNREACHABLE: frozenset({_A.IDLE, _A.ON_CALL, _A.WRAPUP}),
}


class InvalidAgentTransition(Exception):
    """The engine tried a move its table does not allow: a bug in the engine."""

    def __init__(self, agent: str, old: enum.Enum, new: enum.Enum) -> None:
        super().__init__(f"agent {agent}: no transition from {old.name} to {new.name}")
        self.agent = agent
        self.old = old
        self.new = new


@dataclass
class AgentCall:
    """A call the agent's phone is in: a queue call they answered, or a direct/outbound one."""

    call_id: str
    queue: str | None  # None: not a queue call
    direction: str  # "queue", "inbound" (direct, transfer), "outbound"
    number: str
    started: float
    urgent: bool = False


@dataclass
class Agent:
    ext: str
    name: str
    role: str
    groups: tuple[str, ...]
    chosen: Chosen = Chosen.LOGGED_OUT
    chosen_since: float = 0.0
    reason: str | None = None  # pause reason code while PAUSED
    activity: Activity = Activity.UNREACHABLE
    activity_since: float = 0.0
    queues: set[str] = field(default_factory=set)  # queues logged in to
    group: str | None = None  # the group chosen (OP 1.1); None: all the agent's queues
    reachable: bool = False
    reachable_since: float = 0.0
    offer: str | None = None  # call id of the queue call ringing the phone
    calls: dict[str, AgentCall] = field(default_factory=dict)
    wrapup_until: float | None = None
    manual_wrapup: bool = False
    idle_since: float = 0.0  # for longest_idle: end of the last call or wrap-up, or login
    missed: int = 0  # offers missed in a row (autopause)
    last_call: str | None = None  # for *48 dispositions
    answered: int = 0
    talk_time: float = 0.0

    def choose(self, new: Chosen, now: float, reason: str | None = None) -> None:
        if new not in CHOSEN_ALLOWED[self.chosen]:
            raise InvalidAgentTransition(self.ext, self.chosen, new)
        self.chosen = new
        self.chosen_since = now
        self.reason = reason if new is Chosen.PAUSED else None

    def in_wrapup(self, now: float) -> bool:
        return self.manual_wrapup or (self.wrapup_until is not None and now < self.wrapup_until)

    def target_activity(self, now: float) -> Activity:
        if self.calls:
            return Activity.ON_CALL
        if self.offer is not None:
            return Activity.OFFERED
        if not self.reachable:
            return Activity.UNREACHABLE
        if self.in_wrapup(now):
            return Activity.WRAPUP
        return Activity.IDLE

    def settle(self, now: float) -> bool:
        """Move the activity to what the facts say; True when it changed."""
        new = self.target_activity(now)
        if new is self.activity:
            return False
        if new not in ACTIVITY_ALLOWED[self.activity]:
            raise InvalidAgentTransition(self.ext, self.activity, new)
        if self.activity in (Activity.ON_CALL, Activity.WRAPUP) and new is Activity.IDLE:
            self.idle_since = now
        self.activity = new
        self.activity_since = now
        return True


@dataclass
class Offering:
    """One ringing phone for one caller."""

    agent: str
    started: float
    deadline: float


@dataclass
class Waiting:
    """A caller in a queue. `since` is when they first entered any queue: an overflow into another
    queue keeps their place in time (a caller is not punished for the first queue's failure)."""

    call_id: str
    queue: str
    caller_number: str
    caller_name: str
    did: str
    priority: int  # the caller's own, added to the queue's
    since: float
    entered: float  # entered this queue (max_wait counts from here)
    seq: int  # tie-break: arrival order
    rank: tuple[int, int, float, int] = (0, 0, 0.0, 0)
    offers: dict[str, Offering] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)  # agents who missed this caller in this round
    round_started: float | None = None  # when the first agent of this round rang
    rung: int = 0  # agents rung in this round (ring_progressive widens it)
    next_step: float | None = None  # ring_progressive: when one more agent rings
    rest_until: float | None = None  # retry delay after an unanswered round
    next_announce: float | None = None
    answered_by: str | None = None
