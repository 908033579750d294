# How this works
# --------------
# The ACD engine (pbx.acd) decides who gets which caller; this turns its decisions into SIP and
# media, and SIP back into its facts:
#   dialplan ring_queue -> the PBX answers the caller (an application call running QueueProgram:
#     music on hold) and tells the engine `CallerJoined`;
#   engine `Offer(call, agent)` -> INVITE without SDP to every contact of the agent's devices, with
#     the caller's number and name in From, `X-PBX-Queue` and `X-PBX-DID`, `Alert-Info` for urgent;
#     the agent's 200 -> engine `OfferAnswered`, then the caller is joined to the agent by a
#     re-INVITE (the originate flow's phases 2-4) and it becomes an ordinary call;
#     every contact failing -> `OfferDeclined` (486/603) or `OfferNoAnswer`; the caller waits on;
#   engine `CancelOffer` -> CANCEL/BYE that agent's legs;   `Announce` -> "you are number N in the
#     queue (your expected wait is M minutes)", then the music again;   `Overflow` -> ring the
#     overflow user, or say "closed" and hang up;
#   the caller hanging up while waiting -> `CallerHungUp`; a joined queue call ending -> the
#     engine's `CallEnded(call, agent)` (wrap-up starts);
#   feature codes *45 *46 *47 *48 -> the engine's commands; its `Confirmed`/`Refused` is spoken.
"""Queue calls: the ACD engine's offers, announcements and overflows carried out as SIP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbx import log
from pbx.acd import effects as fx
from pbx.acd import events as ev
from pbx.acd.callbacks import Callback, CallbackBook, PersistCallback
from pbx.acd.engine import AcdEngine
from pbx.calls.hold import HoldControl
from pbx.ivr.program import Command, Hangup, Play, Program, StopPlay
from pbx.media.say import expected_wait, queue_position, say_digits

if TYPE_CHECKING:
    from pbx.calls.appcall import AppFlow
    from pbx.calls.manager import CallManager
    from pbx.calls.originate import OriginateFlow
    from pbx.calls.routing import Caller

logger = log.get("pbx.acd")

MUSIC = ("moh:default",)


@dataclass
class Enqueue:
    """A command for the application call: tell the ACD this caller joined `queue`."""

    queue: str


@dataclass
class RequestCallback:
    """A command for the application call: this caller wants to be called back (keeps the place)."""

    queue: str


@dataclass
class QueueProgram(Program):
    """A caller waiting in a queue: join, then music until the ACD connects or overflows them;
    with a call-back key, "press 1 to be called back" first and the key is listened for."""

    queue: str
    callback_key: str | None = None
    deadline: float | None = None
    asked: bool = False

    def start(self, now: float) -> list[Command]:
        offer: list[Command] = [Play(("press_1_callback",), interruptible=True)] if self.callback_key else []
        return [Enqueue(self.queue), *offer, Play(MUSIC, interruptible=True, loop=True)]  # type: ignore[list-item]

    def on_digit(self, digit: str, now: float) -> list[Command]:
        if self.callback_key is None or digit != self.callback_key or self.asked:
            return []
        self.asked = True
        return [StopPlay(), RequestCallback(self.queue), Play(("will_be_called_back",), interruptible=False),  # type: ignore[list-item]
                Hangup()]  # fmt: skip


@dataclass
class AcdCommandProgram(Program):
    """*45 / *46 / *47 / *48: one engine command, its result spoken, then hang up."""

    command: ev.AcdInput
    deadline: float | None = None

    def start(self, now: float) -> list[Command]:
        return [RunAcd(self.command)]  # type: ignore[list-item]


@dataclass
class RunAcd:
    command: ev.AcdInput


CONFIRM_PROMPTS = {
    "cherry_pick": ("please_hold",),
    "login": ("logged_in_to_queue",),
    "logout": ("logged_out_of_queue",),
    "wrapup": ("number_accepted",),
    "disposition": ("number_accepted",),
}


def confirmation(
    effects: list[fx.Effect], agent: str, numbers: dict[str, str] | None = None, lang: str = "nl"
) -> tuple[str, ...]:
    """What to say after a feature code: the engine's answer, and for a queue login or logout the
    numbers of the queues it was about ("logged in to queue 3 0 0, 3 0 2"): recorded queue names
    do not exist, their numbers are what agents dial anyway."""
    for e in effects:
        if isinstance(e, fx.Refused) and e.agent == agent:
            return ("not_allowed",)
        if isinstance(e, fx.Confirmed) and e.agent == agent:
            if e.command == "status":
                return ("paused",) if e.detail.startswith("paused") else ("available",)
            said: tuple[str, ...] = CONFIRM_PROMPTS.get(e.command, ("number_accepted",))
            if e.command in ("login", "logout") and numbers:
                for name in (n for n in e.detail.split(",") if n):
                    if name in numbers:
                        said += tuple(say_digits(numbers[name], lang))
            return said
    return ("invalid",)


class QueueCalls:
    """The call layer's side of the ACD: one per CallManager."""

    def __init__(self, mgr: CallManager, engine: AcdEngine) -> None:
        self.mgr = mgr
        self.engine = engine
        self.book = CallbackBook()
        self.callbacks: dict[str, OriginateFlow] = {}  # call-back id -> its offer under way
        self.waiting: dict[str, AppFlow] = {}  # call id -> the caller's application call
        self.offers: dict[tuple[str, str], OriginateFlow] = {}  # (call id, agent) -> its legs
        self.joined: dict[str, str] = {}  # call id -> agent, once connected (for wrap-up)
        self.direct: dict[str, list[str]] = {}  # non-queue calls with agents on them
        self.offer_queue: dict[tuple[str, str], str] = {}  # (call id, agent) -> the offering queue
        self.joined_queue: dict[str, str] = {}  # call id -> the queue it was answered from

    # --- into the engine ---------------------------------------------------------------------------
    def handle(self, event: ev.AcdInput, now: float, wall: float) -> list[fx.Effect]:
        effects = self.engine.handle(event, now, wall)
        self.carry_out(effects, now, wall)
        return effects

    def enqueue(self, flow: AppFlow, queue: str, now: float, wall: float) -> None:
        app, caller = flow.app, flow.caller
        self.waiting[app.id] = flow
        did = app.dialled if caller.trunk is not None else ""
        since = app.data.get("queue_since")  # a requeued caller keeps their original arrival
        at = float(since) if isinstance(since, int | float) else None
        self.handle(ev.CallerJoined(app.id, queue, app.caller, caller.display, did, since=at), now, wall)
        logger.debug("queue_joined", call_id=app.id, queue=queue)  # queue_position follows at info

    def caller_gone(self, call_id: str, now: float, wall: float) -> None:
        if self.waiting.pop(call_id, None) is not None:
            self.handle(ev.CallerHungUp(call_id), now, wall)

    def call_ended(self, call_id: str, now: float, wall: float) -> None:
        self.joined_queue.pop(call_id, None)
        agent = self.joined.pop(call_id, None)
        if agent is not None:
            self.handle(ev.CallEnded(call_id, agent), now, wall)
        for other in self.direct.pop(call_id, []):
            self.handle(ev.CallEnded(call_id, other), now, wall)

    def direct_call(self, call_id: str, parties: list[tuple[str, str, str]], now: float, wall: float) -> None:
        """A call the ACD did not offer was answered: (agent, direction, other number) for every
        agent on it who is logged in to a queue, so the engine counts them busy (and starts
        wrap-up after, if configured). Agents in no queue are not the engine's concern (and a
        call-heavy office of agents who are not working queues costs it nothing)."""
        working = [(a, d, n) for a, d, n in parties if self.working(a)]
        if not working or call_id in self.joined:
            return
        self.direct[call_id] = [a for a, _, _ in working]
        for agent, direction, number in working:
            self.handle(ev.AgentCallStarted(agent, call_id, direction, number), now, wall)

    def working(self, ext: str) -> bool:
        agent = self.engine.agents.get(ext)
        return agent is not None and bool(agent.queues)

    # --- out of the engine ---------------------------------------------------------------------------
    def carry_out(self, effects: list[fx.Effect], now: float, wall: float) -> None:
        for e in effects:
            if isinstance(e, fx.Offer):
                self._offer(e, now, wall)
            elif isinstance(e, fx.CancelOffer):
                flow = self.offers.pop((e.call_id, e.agent), None)
                if flow is not None and flow.o.callback_of is not None:
                    if flow.o.user_leg is None:  # only while the agent's phone rings
                        self.callbacks.pop(e.call_id, None)
                        flow.abandon(e.reason, now, wall)
                        self.mgr.originator.forget(flow)
                        cb = self.book.items.get(e.call_id)
                        if cb is not None and cb.state == "offered":
                            cb.state = "open"  # still waiting in the queue for the next agent
                elif flow is not None:
                    flow.withdraw(e.reason, now, wall)
                    self.mgr.originator.forget(flow)
            elif isinstance(e, fx.Announce):
                self._announce(e, now, wall)
            elif isinstance(e, fx.Overflow):
                self._overflow(e, now, wall)
            elif isinstance(e, fx.HoldCall):
                self._hold(e, now)
                self.mgr.emit(e)
            else:
                self.mgr.emit(e)  # persisted (PersistAgent) or logged and counted by the shell

    def _offer(self, e: fx.Offer, now: float, wall: float) -> None:
        cb = self.book.items.get(e.call_id)
        if cb is not None:
            self._offer_callback(cb, e, now, wall)
            return
        caller = self.waiting.get(e.call_id)
        if caller is None:
            self.handle(ev.OfferNoAnswer(e.call_id, e.agent), now, wall)
            return
        flow = self.mgr.offers.offer_to_agent(caller, e, now, wall)
        if flow is None:  # no registered contact after all: the engine moves on
            self.handle(ev.OfferNoAnswer(e.call_id, e.agent), now, wall)
            return
        self.offers[(e.call_id, e.agent)] = flow
        self.offer_queue[(e.call_id, e.agent)] = e.queue
        logger.info("queue_offer", call_id=e.call_id, queue=e.queue, agent=e.agent)

    def offer_answered(self, flow: OriginateFlow, now: float, wall: float) -> None:
        o = flow.o
        assert o.offer_agent is not None
        self.handle(ev.OfferAnswered(o.call_id, o.offer_agent), now, wall)

    def offer_failed(self, flow: OriginateFlow, reason: str, now: float, wall: float) -> None:
        o = flow.o
        assert o.offer_agent is not None
        if self.offers.pop((o.call_id, o.offer_agent), None) is None:
            return  # withdrawn by the engine already
        self.mgr.originator.forget(flow)
        kind = ev.OfferDeclined if reason in ("busy", "declined") else ev.OfferNoAnswer
        self.handle(kind(o.call_id, o.offer_agent), now, wall)

    def connected(self, flow: OriginateFlow) -> None:
        o = flow.o
        assert o.offer_agent is not None
        self.offers.pop((o.call_id, o.offer_agent), None)
        self.waiting.pop(o.call_id, None)
        self.joined[o.call_id] = o.offer_agent
        self.joined_queue[o.call_id] = self.offer_queue.pop((o.call_id, o.offer_agent), "")
        logger.debug("queue_connected", call_id=o.call_id, agent=o.offer_agent)  # queue_answered is at info

    # --- call-backs (OP 3.6, VC 4.2) ------------------------------------------------------------------
    def request_callback(self, flow: AppFlow, queue: str, now: float, wall: float) -> Callback:
        """A waiting caller pressed the key: the call-back takes their place in the queue."""
        app = flow.app
        self.waiting.pop(app.id, None)
        self.handle(ev.CallerHungUp(app.id), now, wall)
        entered = app.started_wall
        cb, _new = self.book.request(app.caller, flow.caller.display, queue, wall, entered_wall=entered)
        self._join_callback(cb, now, wall)
        logger.info("callback_requested", call_id=app.id, callback=cb.id, number=cb.number, queue=queue)
        return cb

    def withdraw_to_callback(self, call_id: str, now: float, wall: float) -> bool:
        """A supervisor turns a waiting caller into a call-back: told so, then hung up."""
        flow = self.waiting.get(call_id)
        w = self.engine.calls.get(call_id)
        if flow is None or w is None:
            return False
        flow.run([StopPlay(), RequestCallback(w.queue), Play(("will_be_called_back",), interruptible=False),
                  Hangup()], now, wall)  # fmt: skip
        return True

    def schedule_callback(self, number: str, name: str, queue: str, due_wall: float | None,
                          now: float, wall: float) -> Callback:  # fmt: skip
        cb, _new = self.book.request(number, name, queue, wall, due_wall=due_wall)
        self.mgr.emit(PersistCallback(cb))
        self.tick(now, wall)
        return cb

    def cancel_callback(self, cb_id: str, now: float, wall: float) -> Callback | None:
        cb = self.book.cancel(cb_id)
        if cb is not None:
            if cb.queued:
                cb.queued = False
                self.handle(ev.CallerHungUp(cb.id), now, wall)
            self.mgr.emit(PersistCallback(cb))
        return cb

    def retry_callback(self, cb_id: str, now: float, wall: float) -> Callback | None:
        cb = self.book.retry(cb_id, wall)
        if cb is not None:
            self.mgr.emit(PersistCallback(cb))
            self.tick(now, wall)
        return cb

    def _join_callback(self, cb: Callback, now: float, wall: float) -> None:
        cb.queued = True
        self.mgr.emit(PersistCallback(cb))
        since = now - max(0.0, wall - cb.entered_wall)  # the original arrival: the caller's place
        self.handle(ev.CallerJoined(cb.id, cb.queue, cb.number, cb.name, since=since), now, wall)

    def tick(self, now: float, wall: float) -> None:
        """Call-backs whose time has come (scheduled, or the next attempt) join their queue."""
        for cb in self.book.due(wall):
            self._join_callback(cb, now, wall)

    def next_deadline(self, now: float, wall: float) -> float | None:
        due = self.book.next_due_wall()
        return None if due is None else now + max(0.0, due - wall)

    def _offer_callback(self, cb: Callback, e: fx.Offer, now: float, wall: float) -> None:
        flow = self.mgr.offers.callback_to_agent(cb, e.agent, now, wall)
        if flow is None:
            self.handle(ev.OfferNoAnswer(cb.id, e.agent), now, wall)
            return
        cb.state, cb.agent = "offered", e.agent
        self.callbacks[cb.id] = flow
        self.offers[(cb.id, e.agent)] = flow
        self.mgr.emit(PersistCallback(cb))
        logger.info("callback_offer", callback=cb.id, agent=e.agent, number=cb.number)

    def callback_event(self, flow: OriginateFlow, what: str, now: float, wall: float, reason: str) -> None:
        o = flow.o
        cb = self.book.items.get(o.callback_of or "")
        agent = cb.agent if cb is not None else None
        if cb is None or agent is None:
            return
        if what == "agent_answered":
            self.handle(ev.OfferAnswered(cb.id, agent), now, wall)
            return
        self.callbacks.pop(cb.id, None)
        self.offers.pop((cb.id, agent), None)
        self.mgr.originator.forget(flow)
        if what == "agent_failed":  # the agent did not take it: the call-back waits on in the queue
            cb.state = "open"
            self.mgr.emit(PersistCallback(cb))
            kind = ev.OfferDeclined if reason in ("busy", "declined") else ev.OfferNoAnswer
            self.handle(kind(cb.id, agent), now, wall)
            return
        # the customer was dialled: answered, or not (then a later attempt, or failed)
        self.book.attempt_result(cb, "answered" if what == "connected" else reason, wall)
        self.mgr.emit(PersistCallback(cb))
        logger.info("callback_attempt", callback=cb.id, result=cb.results[-1], state=cb.state)
        if what == "connected":
            self.joined[o.call_id] = agent  # the agent's wrap-up starts when this call ends
        else:
            self.handle(ev.CallEnded(cb.id, agent), now, wall)

    def head_of(self, queue: str) -> str | None:
        """The call id of the caller who has waited longest in `queue` (the cherry-pick code)."""
        waiting = [w for w in self.engine.calls.values() if w.queue == queue and not w.offers]
        return min(waiting, key=lambda w: (w.since, w.seq)).call_id if waiting else None

    def is_tracked(self, call_id: str) -> bool:
        return call_id in self.joined or call_id in self.direct

    def _announce(self, e: fx.Announce, now: float, wall: float) -> None:
        flow = self.waiting.get(e.call_id)
        if flow is None:
            return
        lang = flow.app.language
        prompts = queue_position(e.position, lang)
        if e.expected_wait is not None:
            prompts += expected_wait(max(1, round(e.expected_wait / 60)), lang)
        commands: list[Command] = [StopPlay(), Play(tuple(prompts), interruptible=False),
                                   Play(MUSIC, interruptible=False, loop=True)]  # fmt: skip
        flow.run(commands, now, wall)

    def _hold(self, e: fx.HoldCall, now: float) -> None:
        """The agent answered an urgent call while on this one (OP 5.2): the PBX holds this one for
        them (their phone gets an `inactive` re-INVITE, the other party music on hold)."""
        call = self.mgr.call(e.call_id)
        leg = other = None
        if call is not None and call.winner is not None and call.state.value == "answered":
            hd = self.mgr.hotdesk
            for mine, theirs in ((call.winner, call.a), (call.a, call.winner)):
                who = hd.user_on(mine.peer_name) if hd is not None else mine.peer_name
                if who == e.agent:
                    leg, other = mine, theirs
                    break
        if call is None or leg is None or other is None:
            logger.info("hold_call_skipped", call_id=e.call_id, agent=e.agent, why="no such answered call")
            return
        if call.hold is None:
            call.hold = HoldControl(call, call.ctx.moh_language)
        done = call.hold.hold_for(leg, other, now)
        logger.info("hold_call", call_id=e.call_id, agent=e.agent, held=done)

    def _overflow(self, e: fx.Overflow, now: float, wall: float) -> None:
        cb = self.book.items.get(e.call_id)
        if cb is not None:  # a call-back is not a caller on the line: it waits for its next turn
            cb.queued = False
            if e.reason in ("unknown_queue", "queue_removed"):
                cb.state = "failed"
                self.book.counters["failed"] += 1
            else:
                cb.state, cb.due_wall = "open", wall + self.book.retry_spacing
            self.mgr.emit(PersistCallback(cb))
            logger.info("callback_overflow", callback=cb.id, reason=e.reason, state=cb.state)
            return
        flow = self.waiting.pop(e.call_id, None)
        if flow is None:
            return
        logger.info("queue_overflow", call_id=e.call_id, queue=e.queue, target=e.target, reason=e.reason)
        if e.target is not None and self.mgr.config.user(e.target) is not None:
            from pbx.calls.routing import Ring  # here: routing imports this module

            self.mgr.bridge_app(flow, Ring(users=(e.target,)), now, wall)
            return
        flow.run([StopPlay(), Play(("closed",), interruptible=False), Hangup()], now, wall)


def caller_of(flow: AppFlow) -> Caller:
    return flow.caller
