"""History rows, the effect that stores one, call results, and the paging cursor.

A row is one call as one user saw it (OP/VC "Geschiedenis"): an internal call from 201 to 202 is
two rows, 201 `out` and 202 `in`. Times are wall-clock seconds (epoch), as elsewhere in the API.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Literal

Direction = Literal["in", "out", "internal"]
DIRECTIONS: tuple[str, ...] = ("in", "out", "internal")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str  # "<call id>-<user>-<direction>": stable, so writing a row twice changes nothing
    call_id: str
    user: str  # the extension whose history this is
    direction: Direction  # out: the user called; in: the user was called; internal: called themselves
    other_number: str  # the dialled number (out) or the caller's number (in)
    other_name: str | None  # from the users (and later the phonebooks); None if unknown
    device: str | None  # out: the device that called; in: the device that answered (None: nobody)
    start: float  # wall time of the INVITE
    answer: float | None
    end: float
    duration: float  # seconds from answer to end; 0 if not answered
    queue_wait: float | None  # seconds in a queue before the answer; filled by the ACD
    result: str  # answered, no_answer, busy, cancelled, declined, failed, rejected:<status>
    did: str | None  # the number the caller dialled on a trunk (inbound calls only)
    recorded: bool  # recording was on for this call (a flag for now, SPEC section 3)
    disposition: str | None = None  # the agent's disposition code (*48*<code>, API); agent rows only


@dataclass(frozen=True, slots=True)
class PersistHistory:
    """Store this row (in the same transaction as the rest of the step's effects)."""

    row: HistoryRow


@dataclass(frozen=True, slots=True)
class SetDisposition:
    """Set the disposition of `user`'s rows of a call already stored (it often comes after the end:
    the agent keys *48*<code> during wrap-up)."""

    call_id: str
    user: str
    code: str


def result_of(reason: str, answered: bool, rang: bool) -> str:
    """The history result of a call from CallEnded's reason.

    Once answered, a call is `answered` however it ended (BYE from either side, ACK timeout, a
    lost dialog). A 480 after every device failed is `no_answer` when some phone rang (people
    did not pick up) and `failed` when none did (phones errored or timed out). A final status
    the PBX has no word for (488, 604, ...) is `rejected:<status>`.
    """
    if answered:
        return "answered"
    match reason:
        case "busy" | "declined" | "no_answer":
            return reason
        case "cancelled" | "caller_hangup" | "api_hangup":
            return "cancelled"
        case "unavailable":
            return "no_answer" if rang else "failed"
        case "not_found":
            return "rejected:404"
    status = reason.removeprefix("failed_")
    if status != reason and status.isdigit():
        return f"rejected:{status}"
    return "failed"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: rows are ordered newest first by (start, id)."""

    start: float
    id: str


def encode_cursor(row: HistoryRow) -> str:
    raw = f"{row.start!r}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The inverse of encode_cursor; ValueError (with a reason) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        start, sep, row_id = raw.partition("|")
        value = float(start)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor returned by this API (use the 'next' value of a page)") from None
    if not sep or not row_id or not math.isfinite(value):
        raise ValueError("not a cursor returned by this API (use the 'next' value of a page)")
    return Cursor(value, row_id)
