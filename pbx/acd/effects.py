"""What comes out of the ACD engine: imperative effects the shell must carry out, and past-tense
notices for history, metrics, logs and the API event stream. Frozen, so tests compare lists.

| effect | the shell |
|---|---|
| Offer | rings the agent's device(s) for the caller (display name, X-PBX-Queue, X-PBX-DID) |
| CancelOffer | CANCELs that ringing leg (or drops it with BYE if it answered too late) |
| HoldCall | puts the agent's other call on hold (re-INVITE) before bridging an urgent call |
| Overflow | sends the caller to `target` (a user; None: reject/announce); the engine forgot them |
| Announce | plays position and expected wait to the caller |
| PersistAgent | writes the agent's record to the store under (kind, key) |
| Refused | tells the phone (prompt) or API client (409) why a command was not done |
| everything else | a notice: history, metrics, logs, the API event stream |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- imperative ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    call_id: str
    agent: str
    queue: str
    queue_label: str
    caller_number: str
    caller_name: str
    did: str
    urgent: bool
    ring_timeout: int  # the engine enforces it; the shell may also use it for its INVITE timer


@dataclass(frozen=True)
class CancelOffer:
    call_id: str
    agent: str
    reason: str  # answered_elsewhere, no_answer, caller_hangup, overflow, agent_unreachable, ...


@dataclass(frozen=True)
class HoldCall:
    agent: str
    call_id: str


@dataclass(frozen=True)
class Overflow:
    call_id: str
    queue: str
    target: str | None  # a user extension; None: no target, reject or play an announcement
    reason: str  # max_wait, full, empty


@dataclass(frozen=True)
class Announce:
    call_id: str
    queue: str
    position: int  # 1 = next; the next caller is never announced to
    expected_wait: int | None  # seconds; None when nothing has been answered yet to estimate from


@dataclass(frozen=True)
class PersistAgent:
    key: str
    record: dict[str, Any]
    kind: str = "acd_agent"


@dataclass(frozen=True)
class Refused:
    agent: str
    command: str
    reason: str


# --- notices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """A command was done: the phone plays its confirmation (e.g. "logged in", "paused")."""

    agent: str
    command: str
    detail: str = ""


@dataclass(frozen=True)
class AgentChanged:
    agent: str
    chosen: str
    activity: str
    reason: str | None


@dataclass(frozen=True)
class Queued:
    call_id: str
    queue: str
    position: int


@dataclass(frozen=True)
class Requeued:
    """Overflow into another queue, done by the engine itself (the caller keeps their time)."""

    call_id: str
    from_queue: str
    to_queue: str
    reason: str


@dataclass(frozen=True)
class CallerAnswered:
    call_id: str
    queue: str
    agent: str
    waited: float  # seconds in queue before the answer (history)


@dataclass(frozen=True)
class CallerAbandoned:
    call_id: str
    queue: str
    waited: float


@dataclass(frozen=True)
class OfferMissed:
    call_id: str
    agent: str
    reason: str  # no_answer, declined


@dataclass(frozen=True)
class AutoPaused:
    agent: str
    missed: int


@dataclass(frozen=True)
class WrapupStarted:
    agent: str
    until: float | None  # None: manual, until switched off


@dataclass(frozen=True)
class WrapupEnded:
    agent: str


@dataclass(frozen=True)
class Disposition:
    agent: str
    call_id: str
    code: str
    name: str


@dataclass(frozen=True)
class Repaired:
    """The reconciler found engine state that disagreed with the real dialogs or registrations."""

    agent: str | None
    call_id: str | None
    what: str


Effect = (
    Offer
    | CancelOffer
    | HoldCall
    | Overflow
    | Announce
    | PersistAgent
    | Refused
    | Confirmed
    | AgentChanged
    | Queued
    | Requeued
    | CallerAnswered
    | CallerAbandoned
    | OfferMissed
    | AutoPaused
    | WrapupStarted
    | WrapupEnded
    | Disposition
    | Repaired
)
