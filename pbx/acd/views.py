"""Read-only views of the engine for the API, metrics and wallboards: queue statistics (OP/VC 3.1),
agent snapshots, waiting callers, and why an agent gets no queue calls right now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from pbx.acd.engine import AcdEngine
from pbx.acd.model import Activity, Agent, Chosen


@dataclass(frozen=True)
class QueueStats:
    name: str
    label: str
    colour: str
    urgent: bool
    logged_in: int
    available: int  # logged in, available, reachable and idle: could take a call now
    waiting: int
    longest_wait: float
    average_wait: float | None  # of answered callers
    entered: int  # "offered" in OP 3.1: callers that came into the queue
    answered: int
    abandoned: int
    overflowed: int
    offers: int  # times an agent's phone was rung
    no_answer: int
    declined: int
    service_level: float | None  # answered within `service_level_seconds` / (answered + abandoned)
    service_level_seconds: int


@dataclass(frozen=True)
class CallView:
    call_id: str
    queue: str | None
    direction: str
    number: str
    duration: float


@dataclass(frozen=True)
class AgentSnapshot:
    ext: str
    name: str
    # one word for consoles: on_call, offered, wrapup, logged_out, paused, offline, unreachable, available
    status: str
    since: float  # monotonic start of that status
    time_in_status: float
    chosen: str
    reason: str | None
    reason_name: str | None
    activity: str
    queues: tuple[str, ...]  # logged in to
    member_of: tuple[str, ...]
    group: str | None
    reachable: bool
    wrapup_left: float | None  # None: not in wrap-up; inf: manual
    offered_call: str | None
    calls: tuple[CallView, ...]
    urgent_logged_out: bool  # member of an urgent queue but not logged in to it ("colours red")


@dataclass(frozen=True)
class WaitingView:
    call_id: str
    queue: str
    position: int
    caller_number: str
    caller_name: str
    did: str
    waited: float  # in this queue
    ringing: tuple[str, ...]  # agents whose phone rings for this caller


def queue_stats(acd: AcdEngine, now: float) -> list[QueueStats]:
    out = []
    for q in acd.queues.values():
        logged = [a for m in q.cfg.members if (a := acd.agents.get(m)) is not None and q.cfg.name in a.queues]
        available = sum(
            1 for a in logged if a.chosen is Chosen.AVAILABLE and a.activity is Activity.IDLE and a.reachable
        )
        c = q.counters
        done = c.answered + c.abandoned
        out.append(
            QueueStats(
                name=q.cfg.name,
                label=q.cfg.label or q.cfg.name,
                colour=q.cfg.colour,
                urgent=q.cfg.urgent,
                logged_in=len(logged),
                available=available,
                waiting=len(q.waiting),
                longest_wait=q.longest_wait(now),
                average_wait=c.wait_total / c.answered if c.answered else None,
                entered=c.entered,
                answered=c.answered,
                abandoned=c.abandoned,
                overflowed=c.overflowed,
                offers=c.offers,
                no_answer=c.no_answer,
                declined=c.declined,
                service_level=c.answered_in_sl / done if done else None,
                service_level_seconds=q.cfg.service_level,
            )
        )
    return out


def waiting(acd: AcdEngine, queue: str, now: float) -> list[WaitingView]:
    q = acd.queues.get(queue)
    if q is None:
        return []
    return [
        WaitingView(
            w.call_id,
            q.cfg.name,
            q.position(w),
            w.caller_number,
            w.caller_name,
            w.did,
            now - w.entered,
            tuple(sorted(w.offers)),
        )
        for w in sorted(q.waiting.values(), key=lambda w: w.rank)
    ]


def _status(agent: Agent) -> tuple[str, float]:
    match agent.activity:
        case Activity.ON_CALL | Activity.OFFERED | Activity.WRAPUP:
            return agent.activity.value, agent.activity_since
    if agent.chosen is not Chosen.AVAILABLE:
        return agent.chosen.value, agent.chosen_since
    if agent.activity is Activity.UNREACHABLE:
        return "unreachable", agent.activity_since
    return "available", max(agent.chosen_since, agent.activity_since)


def agent_snapshot(acd: AcdEngine, ext: str, now: float) -> AgentSnapshot | None:
    agent = acd.agents.get(ext)
    if agent is None:
        return None
    status, since = _status(agent)
    member_of = tuple(acd.member_of.get(ext, ()))
    wrapup_left = None
    if agent.manual_wrapup:
        wrapup_left = float("inf")
    elif agent.wrapup_until is not None and agent.wrapup_until > now:
        wrapup_left = agent.wrapup_until - now
    return AgentSnapshot(
        ext=ext,
        name=agent.name,
        status=status,
        since=since,
        time_in_status=now - since,
        chosen=agent.chosen.value,
        reason=agent.reason,
        reason_name=acd.pause_names.get(agent.reason) if agent.reason else None,
        activity=agent.activity.value,
        queues=tuple(sorted(agent.queues)),
        member_of=member_of,
        group=agent.group,
        reachable=agent.reachable,
        wrapup_left=wrapup_left,
        offered_call=agent.offer,
        calls=tuple(
            CallView(c.call_id, c.queue, c.direction, c.number, now - c.started) for c in agent.calls.values()
        ),
        urgent_logged_out=any(acd.queues[q].cfg.urgent and q not in agent.queues for q in member_of),
    )


def agent_snapshots(acd: AcdEngine, now: float) -> list[AgentSnapshot]:
    return [s for ext in sorted(acd.agents) if (s := agent_snapshot(acd, ext, now)) is not None]


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def why_not(
    acd: AcdEngine, ext: str, now: float, wall: float, queue: str | None = None, tz: tzinfo = UTC
) -> str:
    """Why `ext` gets no queue calls (of `queue`) right now, in words for a console."""
    agent = acd.agents.get(ext)
    if agent is None:
        return f"{ext} is not an agent"

    def clock(t: float) -> str:
        return datetime.fromtimestamp(t + wall - now, tz).strftime("%H:%M")

    if queue is not None:
        q = acd.queues.get(queue)
        if q is None:
            return f"there is no queue {queue}"
        if queue not in acd.member_of.get(ext, ()):
            return f"not a member of queue {queue}"
        if queue not in agent.queues:
            return f"not logged in to queue {queue}"
    if not agent.queues:
        return "not logged in to any queue"
    if agent.activity is Activity.ON_CALL:
        return f"on a call for {duration(now - agent.activity_since)}"
    if agent.activity is Activity.OFFERED:
        return f"phone ringing for a queue call for {duration(now - agent.activity_since)}"
    if not agent.reachable:
        if agent.reachable_since <= 0:
            return "phone not registered"
        return f"phone unregistered {duration(now - agent.reachable_since)}"
    if agent.chosen is Chosen.PAUSED:
        name = acd.pause_names.get(agent.reason or "", agent.reason)
        what = f"paused ({name})" if name else "paused"
        return f"{what} since {clock(agent.chosen_since)}"
    if agent.chosen is Chosen.OFFLINE:
        return f"working offline since {clock(agent.chosen_since)}"
    if agent.manual_wrapup:
        return f"in manual wrap-up since {clock(agent.activity_since)}"
    if agent.wrapup_until is not None and agent.wrapup_until > now:
        return f"wrap-up ends in {duration(agent.wrapup_until - now)}"
    names = [queue] if queue is not None else sorted(agent.queues)
    if not any(acd.queues[n].waiting for n in names if n in acd.queues):
        return "available, nobody is waiting"
    return "available"


def agents_by_status(acd: AcdEngine) -> dict[tuple[str, str], int]:
    """(queue, status) -> number of agents logged in to that queue in that status (metrics)."""
    out: dict[tuple[str, str], int] = {}
    for agent in acd.agents.values():
        status, _ = _status(agent)
        for name in agent.queues:
            out[name, status] = out.get((name, status), 0) + 1
    return out
