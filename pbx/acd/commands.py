"""Agent commands from feature codes (*45-*48) and the API: logins, groups, status and pause,
manual wrap-up, dispositions. Each runs inside one engine step (`AcdEngine.handle`); what cannot
be done is a `Refused` effect with a reason the phone can speak and the API can return."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx.acd import effects as fx
from pbx.acd import events as ev
from pbx.acd.model import Agent, Chosen

if TYPE_CHECKING:
    from pbx.acd.engine import AcdEngine

_SUPERVISORS = ("supervisor", "admin")


def allowed(acd: AcdEngine, ext: str, by: str | None, command: str) -> Agent | None:
    agent = acd.agents.get(ext)
    if agent is None:
        acd._refuse(ext, command, "unknown_agent")
        return None
    if by is not None and by != ext:
        boss = acd.config.user(by)
        if boss is None or boss.role not in _SUPERVISORS:
            acd._refuse(ext, command, "not_allowed")
            return None
    return agent


def login(acd: AcdEngine, e: ev.Login | ev.Logout | ev.ToggleLogin, now: float) -> None:
    command = {ev.Login: "login", ev.Logout: "logout", ev.ToggleLogin: "toggle_login"}[type(e)]
    agent = allowed(acd, e.agent, e.by, command)
    if agent is None:
        return
    mine = [n for n in acd.member_of.get(agent.ext, ()) if acd._visible(agent, acd.queues[n])]
    if e.queue is not None:
        q = acd._queue_by_ref(e.queue)
        if q is None:
            return acd._refuse(agent.ext, command, "unknown_queue")
        if q.cfg.name not in acd.member_of.get(agent.ext, ()):
            return acd._refuse(agent.ext, command, "not_a_member")
        if not acd._visible(agent, q) and not isinstance(e, ev.Logout):
            return acd._refuse(agent.ext, command, "not_in_group")
        targets = [q.cfg.name]
    else:
        targets = mine if not isinstance(e, ev.Logout) else sorted(agent.queues)
    if not targets and not isinstance(e, ev.Logout):
        return acd._refuse(agent.ext, command, "no_queues")
    logout = isinstance(e, ev.Logout) or (
        isinstance(e, ev.ToggleLogin) and any(t in agent.queues for t in targets)
    )
    if logout:
        acd._logout(agent, [t for t in targets if t in agent.queues], now)
        acd._out.append(fx.Confirmed(agent.ext, "logout", ",".join(targets)))
    else:
        acd._login(agent, targets, now)
        acd._out.append(fx.Confirmed(agent.ext, "login", ",".join(targets)))


def choose_group(acd: AcdEngine, ext: str, group: str | None, now: float) -> None:
    agent = allowed(acd, ext, None, "choose_group")
    if agent is None:
        return
    if group is not None and group not in agent.groups:
        return acd._refuse(ext, "choose_group", "not_in_group")
    acd._touch(agent)
    agent.group = group
    acd._logout(agent, [n for n in agent.queues if not acd._visible(agent, acd.queues[n])], now)
    acd._out.append(fx.Confirmed(ext, "choose_group", group or ""))


def status(acd: AcdEngine, e: ev.SetStatus | ev.TogglePause, now: float) -> None:
    by = e.by if isinstance(e, ev.SetStatus) else None
    agent = allowed(acd, e.agent, by, "status")
    if agent is None:
        return
    if isinstance(e, ev.TogglePause):
        status = Chosen.AVAILABLE if agent.chosen is Chosen.PAUSED else Chosen.PAUSED
    else:
        status = e.status
    if status is Chosen.LOGGED_OUT:
        acd._logout(agent, sorted(agent.queues), now)
        acd._out.append(fx.Confirmed(agent.ext, "status", status.value))
        return
    if agent.chosen is Chosen.LOGGED_OUT:
        return acd._refuse(agent.ext, "status", "not_logged_in")
    reason = e.reason if status is Chosen.PAUSED else None
    if reason is not None and reason not in acd.pause_names:
        return acd._refuse(agent.ext, "status", "unknown_reason")
    if status is agent.chosen and reason == agent.reason and status is not Chosen.PAUSED:
        acd._out.append(fx.Confirmed(agent.ext, "status", status.value))
        return
    acd._touch(agent)
    agent.choose(status, now, reason)
    if status is not Chosen.AVAILABLE:
        acd._drop_offer(agent, f"agent_{status.value}", now)
    else:
        agent.missed = 0
    acd._out.append(fx.Confirmed(agent.ext, "status", status.value if reason is None else f"paused:{reason}"))


def wrapup(acd: AcdEngine, ext: str, on: bool | None, now: float) -> None:
    agent = allowed(acd, ext, None, "wrapup")
    if agent is None:
        return
    acd._touch(agent)
    on = (not agent.in_wrapup(now)) if on is None else on
    if on:
        agent.manual_wrapup = True
        acd._drop_offer(agent, "agent_wrapup", now)
        acd._out.append(fx.WrapupStarted(ext, None))
    else:
        was = agent.in_wrapup(now)
        agent.manual_wrapup = False
        agent.wrapup_until = None
        if was:
            acd._out.append(fx.WrapupEnded(ext))
    acd._out.append(fx.Confirmed(ext, "wrapup", "on" if on else "off"))


def disposition(acd: AcdEngine, ext: str, code: str, call_id: str | None) -> None:
    agent = allowed(acd, ext, None, "disposition")
    if agent is None:
        return
    if code not in acd.disposition_names:
        return acd._refuse(ext, "disposition", "unknown_disposition")
    call = call_id or next(iter(agent.calls), None) or agent.last_call
    if call is None:
        return acd._refuse(ext, "disposition", "no_call")
    acd._out.append(fx.Disposition(ext, call, code, acd.disposition_names[code]))
    acd._out.append(fx.Confirmed(ext, "disposition", code))
