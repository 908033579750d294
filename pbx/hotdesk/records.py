"""Hotdesk sessions as plain JSON-able records, for the store (and back after a restart).

One row per user (a user is on one device at a time), kind `RECORD_KIND`, key the extension.
"""

from __future__ import annotations

from typing import Any

from pbx.hotdesk.model import Session

RECORD_KIND = "hotdesk_session"


def record_key(user: str) -> str:
    return user


def to_record(s: Session) -> dict[str, Any]:
    return {"user": s.user, "device": s.device, "since": s.since}


def from_record(d: dict[str, Any]) -> Session:
    return Session(user=str(d["user"]), device=str(d["device"]), since=float(d["since"]))
