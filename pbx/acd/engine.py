# How this works
# --------------
# AcdEngine is the sans-IO ACD (ARCHITECTURE.md): `handle(event, now, wall)` for a fact or a
# command, `on_timer(now, wall)` when `next_deadline()` has passed; both return effects. Every call
# is one atomic step, in three phases:
#   1. the handler changes facts (offers, calls, wrap-up, logins, chosen status);
#   2. `_dispatch` gives waiting callers to eligible agents, best rank first (queues.py);
#   3. `_finish` settles every agent the step touched along the activity table (model.py), and
#      reports AgentChanged / PersistAgent for those whose status or record changed.
# Eligibility for a queue's calls (`_eligible`) is kept as a set per queue, refreshed whenever an
# agent is touched, so a routing decision looks only at the queues' heads and at agents who can
# take the call: O(queues + candidates), whatever the number of waiting callers.
# commands.py (agent commands) and reconcile.py are part of the engine: they run inside a step
# and use its underscore primitives (_touch, _logout, _drop_offer, _refuse, ...).
"""The ACD engine: queues, agents, offers, wrap-up and overflow, driven by events and deadlines."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

from pbx.acd import commands
from pbx.acd import effects as fx
from pbx.acd import events as ev
from pbx.acd.model import Agent, AgentCall, Chosen, Offering, Waiting
from pbx.acd.queues import MemberTally, QueueState
from pbx.acd.records import apply_record, record_of
from pbx.acd.strategies import Candidate
from pbx.acd.timers import Key, Kind, Timers
from pbx.config.models import Config, Queue

AGENT_ROLES = ("agent", "supervisor")


class AcdEngine:
    def __init__(self, config: Config, rng: random.Random, now: float = 0.0) -> None:
        self.rng = rng
        self.config = config
        self.queues: dict[str, QueueState] = {}
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Waiting] = {}  # every waiting caller, by call id
        self.answered_by: dict[str, set[str]] = {}  # queue call -> agents whose leg is up
        self.timers = Timers()
        self.repairs: dict[str, int] = {}  # reconciler repairs by kind
        self._seq = 0
        self._touched: dict[str, tuple[object, ...]] = {}
        self._out: list[fx.Effect] = []
        self._widen: list[str] = []  # ring_progressive callers due for one more agent
        self._offset = 0.0  # wall - now of the current step, for records
        self._configure(config, now)

    # --- configuration -------------------------------------------------------------------------

    def _configure(self, config: Config, now: float) -> None:
        self.config = config
        self.pause_names = {c.code: c.name for c in config.acd.pause_reasons}
        self.disposition_names = {c.code: c.name for c in config.acd.dispositions}
        for q in config.queues:
            state = self.queues.get(q.name)
            if state is None:
                self.queues[q.name] = QueueState.from_config(q)
            else:
                state.reconfigure(q)
        self.by_number = {q.number: q.name for q in config.queues}
        self.member_of: dict[str, list[str]] = {}
        for q in config.queues:
            for m in q.members:
                self.member_of.setdefault(m, []).append(q.name)
        wanted = {
            u.extension: u for u in config.users if u.role in AGENT_ROLES or u.extension in self.member_of
        }
        for ext, user in wanted.items():
            agent = self.agents.get(ext)
            if agent is None:
                self.agents[ext] = Agent(
                    ext,
                    user.name,
                    user.role,
                    user.groups,
                    chosen_since=now,
                    activity_since=now,
                    idle_since=now,
                )
            else:
                agent.name, agent.role, agent.groups = user.name, user.role, user.groups
                if agent.group is not None and agent.group not in user.groups:
                    agent.group = None

    def apply_config(self, config: Config, now: float, wall: float) -> list[fx.Effect]:
        """Reload: queues and agents follow the new config; state and waiting callers are kept."""
        self._begin(now, wall)
        removed = [name for name in self.queues if config.queue(name) is None]
        self._configure(config, now)
        for q in self.queues.values():
            # `_refresh` only visits the queues an agent is a member of now: a member the reload
            # removed must leave the eligible set here, or the queue keeps offering them calls.
            q.eligible.intersection_update(q.cfg.members)
        for name in removed:
            q = self.queues.pop(name)
            for w in list(q.waiting.values()):
                self._cancel_offers(w, "queue_removed")
                q.remove(w)
                self.calls.pop(w.call_id, None)
                self._out.append(fx.Overflow(w.call_id, name, None, "queue_removed"))
        for ext in [e for e in self.agents if config.user(e) is None or e not in self._wanted(config)]:
            agent = self.agents.pop(ext)
            self._drop_offer(agent, "agent_removed", now)
            for q in self.queues.values():
                q.eligible.discard(ext)
        for q in self.queues.values():
            for w in q.waiting.values():  # a new max_wait re-arms; an unchanged one fires only once
                self.timers.add(w.entered + q.cfg.max_wait, Kind.MAX_WAIT, w.call_id)
        for agent in self.agents.values():
            self._touch(agent)
            allowed = set(self.member_of.get(agent.ext, ()))
            self._logout(agent, [q for q in agent.queues if q not in allowed], now)
        return self._end(now)

    def _wanted(self, config: Config) -> set[str]:
        return {u.extension for u in config.users if u.role in AGENT_ROLES or u.extension in self.member_of}

    # --- the three inputs ----------------------------------------------------------------------

    def handle(self, event: ev.AcdInput, now: float, wall: float) -> list[fx.Effect]:
        self._begin(now, wall)
        match event:
            case ev.CallerJoined():
                self._joined(event, now)
            case ev.OfferAnswered(call_id, agent):
                self._answered(call_id, agent, now)
            case ev.OfferDeclined(call_id, agent):
                self._offer_ended(call_id, agent, "declined", now)
            case ev.OfferNoAnswer(call_id, agent):
                self._offer_ended(call_id, agent, "no_answer", now)
            case ev.CallerHungUp(call_id):
                self._caller_gone(call_id, now)
            case ev.AgentCallStarted():
                self._call_started(event, now)
            case ev.CallEnded(call_id, agent):
                self._call_ended(call_id, agent, now)
            case ev.AgentReachability(agent, reachable):
                self._reachability(agent, reachable, now)
            case ev.Login() | ev.Logout() | ev.ToggleLogin():
                commands.login(self, event, now)
            case ev.ChooseGroup(agent, group):
                commands.choose_group(self, agent, group, now)
            case ev.SetStatus() | ev.TogglePause():
                commands.status(self, event, now)
            case ev.SetWrapup(agent, on):
                commands.wrapup(self, agent, on, now)
            case ev.SetDisposition(agent, code, call_id):
                commands.disposition(self, agent, code, call_id)
            case ev.CherryPick(agent, call_id):
                self._cherry_pick(agent, call_id, now)
            case ev.MoveCaller(call_id, queue, priority):
                self._move(call_id, queue, priority, now)
        return self._end(now)

    def next_deadline(self) -> float | None:
        return self.timers.next(self._still_due)

    def on_timer(self, now: float, wall: float) -> list[fx.Effect]:
        self._begin(now, wall)
        while (due := self.timers.pop_due(now)) is not None:
            when, kind, key = due
            if self._still_due(when, kind, key):
                self._fire(kind, key, when)
        return self._end(now)

    # --- step bookkeeping ----------------------------------------------------------------------

    def _begin(self, now: float, wall: float) -> None:
        self._out = []
        self._touched = {}
        self._offset = wall - now

    def _touch(self, agent: Agent) -> None:
        if agent.ext not in self._touched:
            self._touched[agent.ext] = (agent.chosen, agent.activity, agent.reason, self._persisted(agent))

    def _persisted(self, agent: Agent) -> tuple[object, ...]:
        return (
            agent.chosen,
            agent.reason,
            tuple(sorted(agent.queues)),
            agent.group,
            agent.manual_wrapup,
            agent.wrapup_until,
            agent.missed,
        )

    def _end(self, now: float) -> list[fx.Effect]:
        for ext in list(self._touched):
            if ext in self.agents:
                self._refresh(self.agents[ext], now)
        self._dispatch(now)
        for call_id in self._widen:
            if (w := self.calls.get(call_id)) is not None and w.offers:
                self._ring_more(self.queues[w.queue], w, now)
        self._widen = []
        for ext, (chosen, activity, reason, persisted) in self._touched.items():
            agent = self.agents.get(ext)
            if agent is None:
                continue
            self._refresh(agent, now)
            if (agent.chosen, agent.activity, agent.reason) != (chosen, activity, reason):
                self._out.append(fx.AgentChanged(ext, agent.chosen.value, agent.activity.value, agent.reason))
            if self._persisted(agent) != persisted:
                self._out.append(fx.PersistAgent(ext, record_of(agent, self._offset)))
        out, self._out, self._touched = self._out, [], {}
        return out

    def _refresh(self, agent: Agent, now: float) -> None:
        """Settle the activity and put the agent in or out of each queue's eligible set."""
        agent.settle(now)
        for name in self.member_of.get(agent.ext, ()):
            q = self.queues[name]
            q.candidates.pop(agent.ext, None)
            if self._eligible(agent, q, now):
                q.eligible.add(agent.ext)
            else:
                q.eligible.discard(agent.ext)

    def _eligible(self, agent: Agent, q: QueueState, now: float) -> bool:
        if q.cfg.name not in agent.queues or agent.chosen is not Chosen.AVAILABLE:
            return False
        if not agent.reachable or agent.offer is not None or agent.in_wrapup(now):
            return False
        if agent.calls:  # only an urgent call may ring an agent on a call (OP 5.2), never two
            return q.cfg.urgent and not any(c.urgent for c in agent.calls.values())
        return True

    def eligible(self, agent: str, queue: str, now: float) -> bool:
        """May `agent` be offered a call of `queue` now? (For tests and why-not.)"""
        a, q = self.agents.get(agent), self.queues.get(queue)
        return a is not None and q is not None and self._eligible(a, q, now)

    # --- routing -------------------------------------------------------------------------------

    def _dispatch(self, now: float) -> None:
        while True:
            best: tuple[QueueState, Waiting] | None = None
            for q in self.queues.values():
                if q.eligible and (w := q.head()) is not None and (best is None or w.rank < best[1].rank):
                    best = (q, w)
            if best is None:
                return
            q, w = best
            q.pop()
            self._start_round(q, w, now)

    def _start_round(self, q: QueueState, w: Waiting, now: float) -> None:
        w.round_started = now
        w.rung = 0
        w.rest_until = None
        if w.tried and q.eligible <= w.tried:
            w.tried.clear()  # everyone missed this caller once: start over
        self._ring_more(q, w, now)
        step = q.cfg.progressive_step
        if q.strategy.width(float(step), step) != q.strategy.width(0.0, step):  # it widens over time
            w.next_step = now + step
            self.timers.add(w.next_step, Kind.STEP, w.call_id)

    def _ring_more(self, q: QueueState, w: Waiting, now: float) -> None:
        """Offer the caller to as many more agents as the strategy's width allows now."""
        ringing_for = None if w.round_started is None else now - w.round_started
        width = q.strategy.width(ringing_for, q.cfg.progressive_step)
        want = None if width is None else width - w.rung
        if want is not None and want <= 0:
            return
        skip = w.tried | w.offers.keys() if w.tried or w.offers else ()
        pool = [a for a in q.eligible if a not in skip] if skip else list(q.eligible)
        if not pool:
            return
        penalties = q.cfg.penalties
        if penalties and q.strategy.by_level:
            level = min(penalties.get(a, 0) for a in pool)
            pool = [a for a in pool if penalties.get(a, 0) == level]
        chosen = q.strategy.pick(self._candidates(q, pool), q.memory, self.rng)
        for ext in chosen if want is None else chosen[:want]:
            self._offer(q, w, self.agents[ext], now)

    def _candidates(self, q: QueueState, pool: list[str]) -> list[Candidate]:
        # The hot loop of a decision with many free agents: candidates are cached per queue and
        # dropped whenever the agent is touched (`_refresh`), so most come straight from the cache.
        cache = q.candidates
        for ext in [ext for ext in pool if ext not in cache]:
            t = q.tally.get(ext)
            cache[ext] = Candidate(
                ext,
                q.cfg.penalties.get(ext, 0),
                q.order.get(ext, len(q.order)),
                self.agents[ext].idle_since,
                t.calls if t else 0,
                t.talk_time if t else 0.0,
            )
        return [cache[ext] for ext in pool]

    def _offer(self, q: QueueState, w: Waiting, agent: Agent, now: float) -> None:
        self._touch(agent)
        deadline = now + q.cfg.ring_timeout
        w.offers[agent.ext] = Offering(agent.ext, now, deadline)
        w.rung += 1
        agent.offer = w.call_id
        q.counters.offers += 1
        self.timers.add(deadline, Kind.RING, (w.call_id, agent.ext))
        self._out.append(
            fx.Offer(
                call_id=w.call_id,
                agent=agent.ext,
                queue=q.cfg.name,
                queue_label=q.cfg.label or q.cfg.name,
                caller_number=w.caller_number,
                caller_name=w.caller_name,
                did=w.did,
                urgent=q.cfg.urgent,
                ring_timeout=q.cfg.ring_timeout,
            )
        )
        self._refresh(agent, now)

    # --- callers -------------------------------------------------------------------------------

    def _queue_by_ref(self, ref: str) -> QueueState | None:
        return self.queues.get(ref) or self.queues.get(self.by_number.get(ref, ""))

    def _staffed(self, q: QueueState) -> bool:
        """Someone logged in with a registered phone (paused agents count: they come back)."""
        return any(
            (a := self.agents.get(m)) is not None and q.cfg.name in a.queues and a.reachable
            for m in q.cfg.members
        )

    def _joined(self, e: ev.CallerJoined, now: float) -> None:
        if e.call_id in self.calls:
            return
        q = self._queue_by_ref(e.queue)
        if q is None:
            self._out.append(fx.Overflow(e.call_id, e.queue, None, "unknown_queue"))
            return
        self._enqueue(q, e.call_id, e.caller_number, e.caller_name, e.did, e.priority, e.since or now, now)

    def _enqueue(
        self,
        q: QueueState,
        call_id: str,
        number: str,
        name: str,
        did: str,
        priority: int,
        since: float,
        now: float,
        hops: int = 0,
    ) -> None:
        q.counters.entered += 1
        reason = None
        if q.cfg.max_length and len(q.waiting) >= q.cfg.max_length:
            reason = "full"
        elif not q.cfg.join_when_empty and not self._staffed(q):
            reason = "empty"
        if reason is not None:
            q.counters.overflowed += 1
            self._overflow_to(q, call_id, number, name, did, priority, since, reason, now, hops)
            return
        self._seq += 1
        w = Waiting(call_id, q.cfg.name, number, name, did, priority, since, now, self._seq)
        q.add(w)
        self.calls[call_id] = w
        self.timers.add(now + q.cfg.max_wait, Kind.MAX_WAIT, call_id)
        if q.cfg.announce_frequency:
            w.next_announce = now + q.cfg.announce_frequency
            self.timers.add(w.next_announce, Kind.ANNOUNCE, call_id)
        self._out.append(fx.Queued(call_id, q.cfg.name, q.position(w)))

    def _overflow_to(
        self,
        q: QueueState,
        call_id: str,
        number: str,
        name: str,
        did: str,
        priority: int,
        since: float,
        reason: str,
        now: float,
        hops: int,
    ) -> None:
        target = q.cfg.overflow
        nxt = self.queues.get(target) if target is not None else None
        # A chain of overflows that comes back round stops after as many hops as there are queues.
        if nxt is not None and hops < len(self.queues):
            self._out.append(fx.Requeued(call_id, q.cfg.name, nxt.cfg.name, reason))
            self._enqueue(nxt, call_id, number, name, did, priority, since, now, hops + 1)
        else:
            self._out.append(fx.Overflow(call_id, q.cfg.name, None if nxt is not None else target, reason))

    def _leave(self, w: Waiting) -> QueueState:
        q = self.queues[w.queue]
        q.remove(w)
        self.calls.pop(w.call_id, None)
        return q

    def _caller_gone(self, call_id: str, now: float) -> None:
        w = self.calls.get(call_id)
        if w is None:
            # Hung up after the answer: the agent's leg ends with it, even if its BYE is lost.
            for ext in list(self.answered_by.get(call_id, ())):
                self._call_ended(call_id, ext, now)
            return
        self._cancel_offers(w, "caller_hangup")
        q = self._leave(w)
        q.counters.abandoned += 1
        self._out.append(fx.CallerAbandoned(call_id, q.cfg.name, now - w.since))

    def _move(self, call_id: str, queue: str | None, priority: int | None, now: float) -> None:
        """Supervisor move (issue 8): same caller, same `since`, another queue and/or priority."""
        w = self.calls.get(call_id)
        target = self._queue_by_ref(queue) if queue is not None else self.queues.get(w.queue) if w else None
        if w is None or target is None:
            why = "no such waiting caller" if w is None else "no such queue"
            self._out.append(fx.Refused("", "move", why))
            return
        self._cancel_offers(w, "moved")
        self._leave(w)
        prio = w.priority if priority is None else priority
        self._enqueue(target, w.call_id, w.caller_number, w.caller_name, w.did, prio, w.since, now)
        self._out.append(fx.Confirmed("", "move", f"{call_id}:{target.cfg.name}"))

    def _cancel_offers(self, w: Waiting, reason: str, keep: str | None = None) -> None:
        for ext in list(w.offers):
            if ext == keep:
                continue
            del w.offers[ext]
            agent = self.agents.get(ext)
            if agent is not None and agent.offer == w.call_id:
                self._touch(agent)
                agent.offer = None
            self._out.append(fx.CancelOffer(w.call_id, ext, reason))

    def _answered(self, call_id: str, ext: str, now: float) -> None:
        agent = self.agents.get(ext)
        w = self.calls.get(call_id)
        if agent is None:
            return
        if w is None or (ext not in w.offers and agent.offer is not None):
            # The caller is gone (or this phone rings for someone else): drop the late leg.
            if agent.offer == call_id:
                self._touch(agent)
                agent.offer = None
            if call_id not in agent.calls:
                self._out.append(fx.CancelOffer(call_id, ext, "caller_gone"))
            return
        self._touch(agent)
        q = self.queues[w.queue]
        self._cancel_offers(w, "answered_elsewhere", keep=ext)
        w.offers.pop(ext, None)
        agent.offer = None
        agent.missed = 0
        self._leave(w)
        waited = now - w.entered
        q.counters.answered += 1
        q.counters.wait_total += waited
        if waited <= q.cfg.service_level:
            q.counters.answered_in_sl += 1
        q.tally.setdefault(ext, MemberTally()).calls += 1
        agent.answered += 1
        if q.cfg.urgent:
            self._out += [fx.HoldCall(ext, c) for c in agent.calls]
        agent.calls[call_id] = AgentCall(call_id, q.cfg.name, "queue", w.caller_number, now, q.cfg.urgent)
        self.answered_by.setdefault(call_id, set()).add(ext)
        self._out.append(fx.CallerAnswered(call_id, q.cfg.name, ext, now - w.since))

    def _offer_ended(self, call_id: str, ext: str, reason: str, now: float) -> None:
        agent = self.agents.get(ext)
        w = self.calls.get(call_id)
        if agent is not None and agent.offer == call_id and (w is None or ext not in w.offers):
            self._touch(agent)  # an offer the engine forgot about: never leave the agent ringing
            agent.offer = None
        if w is None or ext not in w.offers or agent is None:
            return
        q = self.queues[w.queue]
        if reason == "declined" and q.cfg.urgent:
            # An urgent caller cannot be declined (OP 2.2): ring the same phone again. The offer
            # keeps its first deadline, so a phone that always says 486 still moves on in time.
            # Counted as a decline and a new offer: the statistics show what the phone did.
            q.counters.declined += 1
            q.counters.offers += 1
            self._out.append(fx.OfferMissed(call_id, ext, reason))
            self._out.append(self._offer_effect(q, w, ext))
            return
        self._touch(agent)
        del w.offers[ext]
        agent.offer = None
        w.tried.add(ext)
        self._out.append(fx.OfferMissed(call_id, ext, reason))
        if reason == "declined":
            q.counters.declined += 1
        elif reason == "no_answer":
            q.counters.no_answer += 1
            agent.missed += 1
            limit = q.cfg.autopause_after
            if limit and agent.missed >= limit and agent.chosen is Chosen.AVAILABLE:
                agent.choose(Chosen.PAUSED, now, self.config.acd.autopause_reason)
                self._out.append(fx.AutoPaused(ext, agent.missed))
        self._round_over_if_silent(q, w, now)

    def _offer_effect(self, q: QueueState, w: Waiting, ext: str) -> fx.Offer:
        return fx.Offer(
            w.call_id,
            ext,
            q.cfg.name,
            q.cfg.label or q.cfg.name,
            w.caller_number,
            w.caller_name,
            w.did,
            q.cfg.urgent,
            q.cfg.ring_timeout,
        )

    def _round_over_if_silent(self, q: QueueState, w: Waiting, now: float) -> None:
        if w.offers:
            return
        w.round_started = None
        w.next_step = None
        if q.cfg.retry_delay:
            w.rest_until = now + q.cfg.retry_delay
            self.timers.add(w.rest_until, Kind.REST, w.call_id)
        else:
            q.push(w)

    def _drop_offer(self, agent: Agent, reason: str, now: float) -> None:
        """The agent can no longer take the call ringing their phone (logged out, paused, gone)."""
        if agent.offer is None:
            return
        self._touch(agent)
        call_id, agent.offer = agent.offer, None
        w = self.calls.get(call_id)
        self._out.append(fx.CancelOffer(call_id, agent.ext, reason))
        if w is not None and agent.ext in w.offers:
            del w.offers[agent.ext]
            self._round_over_if_silent(self.queues[w.queue], w, now)

    def _cherry_pick(self, ext: str, call_id: str, now: float) -> None:
        agent, w = self.agents.get(ext), self.calls.get(call_id)
        if agent is None or w is None:
            self._refuse(ext, "cherry_pick", "unknown_agent" if agent is None else "no_such_caller")
            return
        if not agent.reachable or agent.calls or agent.offer is not None:
            self._refuse(ext, "cherry_pick", "agent_busy" if agent.reachable else "phone_unregistered")
            return
        q = self.queues[w.queue]
        if not self._may_see(ext, q.cfg):
            self._refuse(ext, "cherry_pick", "queue_not_visible")
            return
        self._cancel_offers(w, "cherry_picked")
        q.unpush(w)
        w.rest_until = None
        w.round_started = now
        self._offer(q, w, agent, now)
        self._out.append(fx.Confirmed(ext, "cherry_pick", call_id))

    def _may_see(self, ext: str, queue: Queue) -> bool:
        """Who may take a caller out of a queue (OP 2.1.2): a queue without groups is seen by
        everyone; else its members, supervisors and admins, and users in one of its groups."""
        if not queue.groups or ext in queue.members:
            return True
        user = self.config.user(ext)
        if user is None:
            return False
        return user.role != "agent" or not set(user.groups).isdisjoint(queue.groups)

    # --- agents' calls -------------------------------------------------------------------------

    def _call_started(self, e: ev.AgentCallStarted, now: float) -> None:
        agent = self.agents.get(e.agent)
        if agent is None or e.call_id in agent.calls:
            return
        self._touch(agent)
        if agent.offer == e.call_id:
            return self._answered(e.call_id, e.agent, now)
        # The agent picked up another call (dialled out, took a direct one): their phone is no
        # longer free for the queue caller it was ringing for.
        self._drop_offer(agent, "agent_busy", now)
        agent.calls[e.call_id] = AgentCall(e.call_id, None, e.direction, e.number, now)

    def _call_ended(self, call_id: str, ext: str, now: float) -> None:
        agent = self.agents.get(ext)
        if agent is None:
            return
        if agent.offer == call_id and call_id not in agent.calls:
            return self._offer_ended(call_id, ext, "no_answer", now)
        call = agent.calls.pop(call_id, None)
        if call is None:
            return
        self._touch(agent)
        agent.last_call = call_id
        wrapup = 0
        if call.queue is not None:
            holders = self.answered_by.get(call_id, set())
            holders.discard(ext)
            if not holders:
                self.answered_by.pop(call_id, None)
            q = self.queues.get(call.queue)
            talk = now - call.started
            agent.talk_time += talk
            if q is not None:
                q.tally.setdefault(ext, MemberTally()).talk_time += talk
                wrapup = q.cfg.wrapup
                handled = talk + wrapup
                q.handle_time = handled if q.handle_time is None else (3 * q.handle_time + handled) / 4
        elif call.direction == "outbound" and agent.queues:
            wrapup = self.config.acd.wrapup_after_outbound
        if wrapup:
            # Shared by all the agent's queues and never shortened by another queue's shorter
            # wrap-up (Asterisk 1006); it starts when the agent's own leg ends (Asterisk 607).
            until = now + wrapup
            if agent.wrapup_until is None or agent.wrapup_until < until:
                agent.wrapup_until = until
                self.timers.add(until, Kind.WRAPUP, ext)
                self._out.append(fx.WrapupStarted(ext, until))

    def _reachability(self, ext: str, reachable: bool, now: float) -> None:
        agent = self.agents.get(ext)
        if agent is None or agent.reachable == reachable:
            return
        self._touch(agent)
        agent.reachable = reachable
        agent.reachable_since = now
        if not reachable:
            self._drop_offer(agent, "agent_unreachable", now)
            self._leave_if_empty(agent.queues, now)

    def _leave_if_empty(self, names: Iterable[str], now: float) -> None:
        for name in list(names):
            q = self.queues.get(name)
            if q is None or not q.cfg.leave_when_empty or not q.waiting or self._staffed(q):
                continue
            for w in list(q.waiting.values()):
                self._cancel_offers(w, "overflow")
                self._leave(w)
                q.counters.overflowed += 1
                self._overflow_to(
                    q, w.call_id, w.caller_number, w.caller_name, w.did, w.priority, w.since, "empty", now, 0
                )

    # --- commands ------------------------------------------------------------------------------

    def _refuse(self, ext: str, command: str, reason: str) -> None:
        self._out.append(fx.Refused(ext, command, reason))

    def _visible(self, agent: Agent, q: QueueState) -> bool:
        return agent.group is None or not q.cfg.groups or agent.group in q.cfg.groups

    def _login(self, agent: Agent, names: list[str], now: float) -> None:
        self._touch(agent)
        if not agent.queues and agent.chosen is Chosen.LOGGED_OUT:
            agent.choose(Chosen.AVAILABLE, now)
            agent.idle_since = max(agent.idle_since, now)
        agent.queues.update(names)

    def _logout(self, agent: Agent, names: list[str], now: float) -> None:
        if not names:
            return
        self._touch(agent)
        agent.queues.difference_update(names)
        if agent.offer is not None and (w := self.calls.get(agent.offer)) is not None and w.queue in names:
            self._drop_offer(agent, "agent_logged_out", now)
        if not agent.queues and agent.chosen is not Chosen.LOGGED_OUT:
            agent.choose(Chosen.LOGGED_OUT, now)
            self._drop_offer(agent, "agent_logged_out", now)
        self._leave_if_empty(names, now)

    # --- deadlines -----------------------------------------------------------------------------

    def _still_due(self, when: float, kind: Kind, key: Key) -> bool:
        if kind is Kind.WRAPUP:
            agent = self.agents.get(str(key))
            return agent is not None and agent.wrapup_until == when
        if isinstance(key, tuple):  # RING
            w = self.calls.get(key[0])
            return w is not None and (o := w.offers.get(key[1])) is not None and o.deadline == when
        w = self.calls.get(key)
        if w is None:
            return False
        match kind:
            case Kind.MAX_WAIT:
                return w.entered + self.queues[w.queue].cfg.max_wait == when
            case Kind.REST:
                return w.rest_until == when
            case Kind.ANNOUNCE:
                return w.next_announce == when
            case _:
                return w.next_step == when and bool(w.offers)

    def _fire(self, kind: Kind, key: Key, when: float) -> None:
        now = when
        if kind is Kind.WRAPUP:
            agent = self.agents[str(key)]
            self._touch(agent)
            agent.wrapup_until = None
            if not agent.manual_wrapup:
                self._out.append(fx.WrapupEnded(agent.ext))
            return
        if isinstance(key, tuple):
            call_id, ext = key
            self._out.append(fx.CancelOffer(call_id, ext, "no_answer"))
            self._offer_ended(call_id, ext, "no_answer", now)
            return
        w = self.calls[key]
        q = self.queues[w.queue]
        match kind:
            case Kind.MAX_WAIT:
                self._cancel_offers(w, "overflow")
                self._leave(w)
                q.counters.overflowed += 1
                self._overflow_to(
                    q,
                    w.call_id,
                    w.caller_number,
                    w.caller_name,
                    w.did,
                    w.priority,
                    w.since,
                    "max_wait",
                    now,
                    0,
                )
            case Kind.REST:
                w.rest_until = None
                w.tried.clear()
                q.push(w)
            case Kind.ANNOUNCE:
                self._announce(q, w, now)
            case Kind.STEP:
                # Widened after this step's dispatch: an agent freed at the same instant goes
                # to the best-ranked caller first, not to this one's wider ring.
                self._widen.append(w.call_id)
                w.next_step = now + q.cfg.progressive_step
                self.timers.add(w.next_step, Kind.STEP, w.call_id)

    def _announce(self, q: QueueState, w: Waiting, now: float) -> None:
        w.next_announce = now + q.cfg.announce_frequency
        self.timers.add(w.next_announce, Kind.ANNOUNCE, w.call_id)
        position = q.position(w)
        if position <= 1 or w.offers:
            return  # the next caller (or one whose agent's phone rings) hears no announcement
        serving = sum(1 for m in q.cfg.members if (a := self.agents.get(m)) and q.cfg.name in a.queues)
        expected = None
        if q.handle_time is not None:
            expected = math.ceil(position * q.handle_time / max(1, serving))
        self._out.append(fx.Announce(w.call_id, q.cfg.name, position, expected))

    # --- persistence ---------------------------------------------------------------------------

    def restore(self, records: Iterable[dict[str, Any]], now: float, wall: float) -> list[fx.Effect]:
        """Load PersistAgent records at start (or after a reload): chosen status, reason, logins,
        group, wrap-up. Reachability is not stored: the registrar tells it again."""
        self._begin(now, wall)
        for record in records:
            agent = self.agents.get(str(record.get("ext")))
            if agent is None:
                continue
            self._touch(agent)
            apply_record(agent, record, now, self._offset, set(self.member_of.get(agent.ext, ())))
            if agent.group is not None and agent.group not in agent.groups:
                agent.group = None
            if agent.reason is not None and agent.reason not in self.pause_names:
                agent.reason = None
            if agent.wrapup_until is not None:
                self.timers.add(agent.wrapup_until, Kind.WRAPUP, agent.ext)
        return self._end(now)
