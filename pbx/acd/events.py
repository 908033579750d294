"""What goes into the ACD engine: past-tense facts from the call layer and registrar, and commands
from phones (feature codes) and the API. Each is one atomic step of `AcdEngine.handle`.

Facts are idempotent: a repeated or late one (a second CallEnded, an answer for a caller who
already hung up) changes nothing it should not. Commands that cannot be done come back as a
`Refused` effect, never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx.acd.model import Chosen

# --- facts from the call layer -------------------------------------------------------------------


@dataclass(frozen=True)
class CallerJoined:
    """The PBX answered a caller and put them in `queue` (dialplan ring_queue, a transfer to a
    queue, a requeue). `since` keeps the time of an earlier queue entry (the caller's place)."""

    call_id: str
    queue: str
    caller_number: str = ""
    caller_name: str = ""
    did: str = ""
    priority: int = 0
    since: float | None = None


@dataclass(frozen=True)
class OfferAnswered:
    call_id: str
    agent: str


@dataclass(frozen=True)
class OfferDeclined:
    """The agent's phone refused the offer (486, 603): next agent, except in an urgent queue."""

    call_id: str
    agent: str


@dataclass(frozen=True)
class OfferNoAnswer:
    """The offer failed without a decline (408, 480, every contact failed): next agent."""

    call_id: str
    agent: str


@dataclass(frozen=True)
class CallerHungUp:
    call_id: str


@dataclass(frozen=True)
class AgentCallStarted:
    """The agent's phone is in a call the ACD did not offer: direct, transfer, outbound."""

    agent: str
    call_id: str
    direction: str = "inbound"  # "inbound" or "outbound"
    number: str = ""


@dataclass(frozen=True)
class CallEnded:
    """The agent's own leg of a call ended (their BYE, the other side's, or their transfer)."""

    call_id: str
    agent: str


@dataclass(frozen=True)
class AgentReachability:
    """The agent has (or no longer has) a registered device they are logged in to."""

    agent: str
    reachable: bool


# --- commands (feature codes, API) ---------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """Log in to `queue`, or to all the agent's queues (those of the chosen group) when None."""

    agent: str
    queue: str | None = None
    by: str | None = None  # who asks, when not the agent: must be a supervisor or admin (VC 3.1.1)


@dataclass(frozen=True)
class Logout:
    agent: str
    queue: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class ToggleLogin:
    """*45 (all queues: logged in to any -> log out of all, else log in to all) and *45*<number>."""

    agent: str
    queue: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class ChooseGroup:
    """OP/VC 1.1, 1.3: keep the logins of queues the group also has, log out of the rest."""

    agent: str
    group: str | None


@dataclass(frozen=True)
class SetStatus:
    """API: AVAILABLE, OFFLINE or PAUSED (with a reason code). LOGGED_OUT is Logout."""

    agent: str
    status: Chosen
    reason: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class TogglePause:
    """*46 / *46*<reason code>."""

    agent: str
    reason: str | None = None


@dataclass(frozen=True)
class SetWrapup:
    """*47 toggles (on=None); the API sets it. Manual wrap-up stays on until switched off (OP 2.4);
    switching it off also ends a running automatic wrap-up."""

    agent: str
    on: bool | None = None


@dataclass(frozen=True)
class SetDisposition:
    """*48*<code>: the disposition of the agent's last call (or `call_id`)."""

    agent: str
    code: str
    call_id: str | None = None


@dataclass(frozen=True)
class CherryPick:
    """OP 2.1.2: offer this waiting caller to this agent now, even from a queue they are not
    logged in to. The agent must be reachable and not on a call or ringing."""

    agent: str
    call_id: str


@dataclass(frozen=True)
class MoveCaller:
    """A supervisor moves a waiting caller to another queue (keeping their place: `since`), or
    changes their priority (queue None). Not an abandon: the caller never left."""

    call_id: str
    queue: str | None = None
    priority: int | None = None


AcdInput = (
    CallerJoined
    | OfferAnswered
    | OfferDeclined
    | OfferNoAnswer
    | CallerHungUp
    | AgentCallStarted
    | CallEnded
    | AgentReachability
    | Login
    | Logout
    | ToggleLogin
    | ChooseGroup
    | SetStatus
    | TogglePause
    | SetWrapup
    | SetDisposition
    | CherryPick
    | MoveCaller
)
