"""JSON shapes of the HTTP API (they also make the OpenAPI description)."""

from __future__ import annotations

from pydantic import BaseModel


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
