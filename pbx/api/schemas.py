"""JSON shapes of the HTTP API (they also make the OpenAPI description)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Registration(BaseModel):
    user: str
    aor: str
    contact: str
    expires_in: int
    source: str
    user_agent: str | None = None
    instance: str | None = None
    reachable: bool | None = None
    registered_at: float
    node_id: str


class UserPresence(BaseModel):
    extension: str
    name: str
    present: bool
    devices: list[str]
    contacts: int


class Ban(BaseModel):
    ip: str
    reason: str
    since: float
    expires_in: int


class Problem(BaseModel):
    detail: str


class HistoryEntry(BaseModel):
    """One call as one user saw it; times are wall-clock epoch seconds."""

    id: str
    call_id: str
    user: str
    direction: str  # in, out, internal
    other_number: str
    other_name: str | None
    device: str | None  # out: the device that called; in: the device that answered
    start: float
    answer: float | None
    end: float
    duration: float  # answered seconds
    queue_wait: float | None
    result: str  # answered, no_answer, busy, cancelled, declined, failed, rejected:<status>
    did: str | None
    recorded: bool
    disposition: str | None = None  # the agent's disposition code (*48*<code>), on their rows


class HistoryPage(BaseModel):
    user: str
    items: list[HistoryEntry]
    next: str | None  # pass as `before` for the next (older) page; null on the last page


class CallLeg(BaseModel):
    id: str  # "a" (the caller's dialog) or "b1", "b2", ... (one per device rung)
    role: str  # uas (A leg) or uac (B leg)
    state: str  # trying, early, confirmed, terminating, ended
    peer: str  # the device (or trunk) on this leg
    sip_call_id: str


class LiveCall(BaseModel):
    id: str
    caller: str
    callee: str
    state: str  # setup, answered
    started: float  # wall-clock epoch seconds
    answered: float | None
    duration: float  # seconds since the INVITE
    legs: list[CallLeg]


class OriginateRequest(BaseModel):
    """Click-to-dial: ring `user`'s phone first, then dial `number` as if the user dialled it."""

    model_config = {"extra": "forbid"}

    user: str = Field(min_length=1, description="extension of the user whose phone rings first")
    number: str = Field(
        min_length=1,
        pattern=r"^[0-9*#+]+$",
        description="what the user would dial: an extension or outside number (`*7<n>*` picks the caller ID)",
    )


class Originated(BaseModel):
    id: str


class HotdeskSession(BaseModel):
    user: str
    device: str
    since: float = Field(description="wall clock, epoch seconds")


class HotdeskLockout(BaseModel):
    kind: str = Field(description="user or source")
    key: str = Field(description="the extension or the source address")
    expires_in: int = Field(description="seconds until PINs may be tried again")


class HotdeskState(BaseModel):
    sessions: list[HotdeskSession]
    lockouts: list[HotdeskLockout]


class HotdeskLogin(BaseModel):
    """Log a user in on a device without a PIN (an administrator's action, as in 3CX)."""

    model_config = {"extra": "forbid"}

    user: str = Field(min_length=1)
    device: str = Field(min_length=1)
