"""Agent state as a plain JSON-able record, for the store's (kind "acd_agent", key ext) rows, and
back after a restart or reload (the pattern of pbx/registrar/records.py).

Monotonic times mean nothing after a restart, so times are stored as wall time (`*_wall`) and
turned back into monotonic with the new process's offset. What is stored is what the agent chose
and what must outlive the process: status and reason, logins, group, manual wrap-up and the
automatic wrap-up deadline. Offers, calls and reachability are not: the dialogs and
registrations they describe are gone or will be reported again.
"""

from __future__ import annotations

from typing import Any

from pbx.acd.model import Agent, Chosen

KIND = "acd_agent"
VERSION = 1


def record_of(agent: Agent, offset: float) -> dict[str, Any]:
    """`offset` is wall - now at the time of the step."""
    return {
        "v": VERSION,
        "ext": agent.ext,
        "chosen": agent.chosen.value,
        "chosen_since_wall": agent.chosen_since + offset,
        "reason": agent.reason,
        "queues": sorted(agent.queues),
        "group": agent.group,
        "manual_wrapup": agent.manual_wrapup,
        "wrapup_until_wall": None if agent.wrapup_until is None else agent.wrapup_until + offset,
        "missed": agent.missed,
    }


def apply_record(
    agent: Agent, record: dict[str, Any], now: float, offset: float, member_of: set[str]
) -> None:
    """Restore `agent` from a record; logins of queues the agent no longer belongs to are dropped
    (a reload may have removed them), and a wrap-up that ended while the daemon was down is over."""
    queues = {q for q in record.get("queues", ()) if q in member_of}
    try:
        chosen = Chosen(record.get("chosen", "logged_out"))
    except ValueError:
        chosen = Chosen.LOGGED_OUT
    if not queues:
        chosen = Chosen.LOGGED_OUT
    elif chosen is Chosen.LOGGED_OUT:
        chosen = Chosen.AVAILABLE
    agent.queues = queues
    agent.chosen = chosen
    agent.chosen_since = float(record.get("chosen_since_wall", now + offset)) - offset
    agent.reason = record.get("reason") if chosen is Chosen.PAUSED else None
    agent.group = record.get("group")
    agent.manual_wrapup = bool(record.get("manual_wrapup", False))
    until = record.get("wrapup_until_wall")
    agent.wrapup_until = float(until) - offset if until is not None and float(until) - offset > now else None
    agent.missed = int(record.get("missed", 0))
