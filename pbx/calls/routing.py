# How this works
# --------------
# Routing turns a dialled string into what the call layer does (`Resolution`): ring users or
# devices, go out through a trunk, answer the call with a program (announcement, IVR, queue, a
# feature code), or reject it. The dialplan (pbx/dialplan) decides; without one the built-in
# routing applies. Before routing, `*7<n>*<number>` picks the caller ID for the call; a phone
# nobody is logged in to may reach only the emergency numbers and the hotdesk code.
"""Routing: dialled string + caller -> Ring | Outbound | Reject | Answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pbx import dialplan as dp
from pbx.acd import events as acd_ev
from pbx.acd.events import AcdInput
from pbx.calls.queues import AcdCommandProgram, QueueProgram
from pbx.ivr.hotdesk import HotdeskProgram
from pbx.ivr.program import Announcement, Collect, Menu, NumberEntry, PlayThen, Program, SayThen
from pbx.sip.addr import Addr

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager


@dataclass(frozen=True, slots=True)
class Caller:
    device: str  # the authenticated device (digest user name), or "trunk:<name>"
    extension: str | None  # the user logged in there; None: nobody (emergency numbers only)
    display: str
    source: Addr
    trunk: str | None = None  # the call came in from this trunk
    number: str | None = None  # from a trunk: the caller's number (From user part)


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring every registered contact of these users' devices and of these devices."""

    users: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outbound:
    """Send the call out through a trunk, presenting `presented` as the caller's number."""

    trunk: str
    number: str
    presented: str | None


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The PBX answers the call itself and runs a program on it (announcement, IVR menu, ...)."""

    program: Callable[[], Program]
    what: str  # for logs: "announcement after-hours", "ivr welcome"
    language: str | None = None  # prompts in this language (a queue's), else the caller's


Resolution = Ring | Outbound | Reject | Answer
Resolver = Callable[[str, Caller, float], Resolution]

# Per-call choice of the presented number (SPEC 1, "kies met welk nummer je uitbelt"): dial
# *7<n>*<number> to present the n-th of the user's numbers (1-based) on this call.
CHOOSE_NUMBER = re.compile(r"\*7([1-9])\*(.+)")


def identity(caller: Caller) -> str:
    """The caller's number as the callee sees it: extension, device, or the trunk caller's number."""
    if caller.trunk is not None:
        return caller.number or "anonymous"
    return caller.extension or caller.device


class Router:
    """The routing decisions of one CallManager (its config, dialplan, hotdesk and queues)."""

    def __init__(self, mgr: CallManager) -> None:
        self.m = mgr

    def resolve(self, dialled: str, caller: Caller, wall: float) -> Resolution:
        """Whom to ring for `dialled`: the dialplan decides; without one, the built-in routing."""
        cfg = self.m.config
        presented: str | None = None
        nobody = caller.trunk is None and caller.extension is None and dialled not in cfg.emergency_numbers
        if caller.trunk is None:
            m = CHOOSE_NUMBER.fullmatch(dialled)
            user = cfg.user(caller.extension) if caller.extension is not None else None
            if m is not None:
                numbers = user.numbers if user is not None else ()
                if int(m[1]) > len(numbers):
                    return Reject(403, "Number Not Allowed")
                presented, dialled = numbers[int(m[1]) - 1], m[2]
            elif user is not None:
                presented = user.default_number or (user.numbers[0] if user.numbers else None)
        if self.m.dialplan is None:
            return Reject(403, "Not Logged In") if nobody else self._builtin_route(dialled, caller, presented)
        plan = self.m.dialplan
        if caller.trunk is not None:
            contexts = plan.contexts_for_trunk(caller.trunk)
        else:
            contexts = plan.contexts_for(user=caller.extension, device=caller.device)
        decision = plan.route(dialled, contexts, datetime.fromtimestamp(wall, UTC), caller.extension,
                              {"CALLERID": identity(caller)})  # fmt: skip
        action = decision.action
        if nobody and not (isinstance(action, dp.Feature) and action.name == "hotdesk"):
            return Reject(403, "Not Logged In")  # a phone nobody is logged in to: 112 and *35 only
        return self.from_action(action, caller, presented)

    def from_action(self, action: dp.Action, caller: Caller, presented: str | None) -> Resolution:
        if isinstance(action, dp.RingUser):
            return Ring(users=(action.extension,))
        if isinstance(action, dp.RingDevice):
            return Ring(devices=(action.username,))
        if isinstance(action, dp.ToTrunk):
            if caller.trunk is not None:
                return Reject(403, "No Transit")  # trunk to trunk would be an open relay for toll fraud
            return Outbound(action.trunk, action.number, presented)
        if isinstance(action, dp.Reject):
            return Reject(action.status, action.reason)
        if isinstance(action, dp.RingQueue):
            if self.m.queues is None:
                return Reject(480, "Queue Not Available")
            queue = action.name
            q = self.m.config.queue(queue)
            key = q.callback_key if q is not None else None
            lang = q.language if q is not None else None
            return Answer(lambda: QueueProgram(queue, key), f"queue {queue}", lang)
        if isinstance(action, dp.Announcement):
            name = action.name
            return Answer(lambda: Announcement(name), f"announcement {name}")
        if isinstance(action, dp.PlayPrompts):
            pp = action
            return Answer(lambda: PlayThen(pp.prompts, pp.interruptible, pp.next), f"play {pp.prompts[0]}")
        if isinstance(action, dp.NumberEntry):
            ne = action
            return Answer(
                lambda: NumberEntry(ne.prompt, ne.min_digits, ne.max_digits, validator=ne.validator,
                                    pattern=ne.pattern, next_context=ne.next),
                f"number entry {ne.prompt}",
            )  # fmt: skip
        if isinstance(action, dp.Collect):
            c = action
            return Answer(
                lambda: Collect(c.prompt, c.min_digits, c.max_digits, first_timeout=c.first_timeout,
                                inter_timeout=c.inter_timeout, retries=c.tries, next_context=c.next,
                                terminator=c.terminator, variable=c.variable, failed_context=c.failed,
                                retry_prompt=c.retry_prompt),
                f"collect {c.prompt}",
            )  # fmt: skip
        if isinstance(action, dp.Say):
            say = action
            return Answer(lambda: SayThen((), say.interruptible, say.next, how=say.how, value=say.value),
                          f"say_{say.how} {say.value}")  # fmt: skip
        if isinstance(action, dp.Ivr):
            prompt, options = action.prompt, dict(action.options)
            return Answer(lambda: Menu(prompt, options), f"ivr {prompt}")
        if isinstance(action, dp.Feature) and action.name == "hotdesk" and self.m.hotdesk is not None:
            hd, device, source, args = self.m.hotdesk, caller.device, caller.source.host, action.args
            return Answer(lambda: HotdeskProgram(hd, device, source, args), f"hotdesk {len(args)} args")
        if isinstance(action, dp.Feature) and self.m.queues is not None:
            command = self._acd_command(action, caller)
            if command is None:
                return Reject(403 if caller.extension is None else 480, "Not An Agent")
            return Answer(lambda: AcdCommandProgram(command), f"feature {action.name}")
        return Reject(480, "Service Not Available")  # pickup: not yet

    def _acd_command(self, action: dp.Feature, caller: Caller) -> AcdInput | None:
        """*45 [*queue number], *46 [*reason], *47, *48*code as the ACD's commands."""
        agent, args = caller.extension, action.args
        if agent is None:
            return None
        if action.name == "queue_login":
            queue = None
            if args:
                queue = next((q.name for q in self.m.config.queues if q.number == args[0]), args[0])
            return acd_ev.ToggleLogin(agent, queue)
        if action.name == "pause":
            return acd_ev.TogglePause(agent, args[0] if args else None)
        if action.name == "wrapup":
            return acd_ev.SetWrapup(agent)
        if action.name == "disposition" and args:
            return acd_ev.SetDisposition(agent, args[0])
        if action.name == "cherry_pick" and args and self.m.queues is not None:
            queue = next((q.name for q in self.m.config.queues if q.number == args[0]), args[0])
            head = self.m.queues.head_of(queue)
            return acd_ev.CherryPick(agent, head or f"{queue}:nobody-waiting")
        return None

    def _builtin_route(self, dialled: str, caller: Caller, presented: str | None) -> Resolution:
        """No dialplans: a user's extension rings that user; a number that starts with one of a
        trunk's prefixes goes out through that trunk as dialled; emergency numbers go out through
        the first trunk."""
        cfg = self.m.config
        if cfg.user(dialled) is not None:
            return Ring(users=(dialled,))
        if caller.trunk is None:
            for t in cfg.trunks:
                if any(dialled.startswith(p) for p in t.prefixes):
                    return Outbound(t.name, dialled, presented)
            if dialled in cfg.emergency_numbers and cfg.trunks:
                return Outbound(cfg.trunks[0].name, dialled, presented)
        return Reject(404)
