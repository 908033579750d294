# How this works
# --------------
# The ACD (pbx/acd) decides who gets which caller; pbx/calls/queues.py turns its effects into
# calls through these: an offer rings the agent's phones for a caller the PBX is holding in a queue
# (joined by re-INVITE when answered), a call-back rings the agent first and then dials the
# customer, and a requeue takes an answered queue call from its agent and puts the caller back on
# the PBX's media in another queue. The calls themselves are CallManager's; this file only builds
# and starts them.
"""Agent offers, call-backs and requeue: the ACD's calls, built on CallManager."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pbx import log
from pbx.acd import effects as acd_fx
from pbx.acd.callbacks import Callback
from pbx.calls.appcall import AppCall, AppFlow, AppState
from pbx.calls.call import ALLOW, Call, CallEnded, CallState, Pending
from pbx.calls.leg import Leg, LegState
from pbx.calls.originate import Originate, OriginateFlow, Phase
from pbx.calls.queues import QueueProgram
from pbx.calls.routing import Answer, Caller, Reject, Ring
from pbx.media.sdp import negotiate as sdp_negotiate
from pbx.media.sdp import offer as sdp_offer
from pbx.media.sdp import parse as sdp_parse
from pbx.sip.addr import Addr
from pbx.sip.message import Request, Response

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager

logger = log.get("pbx.calls")


class AgentOffers:
    def __init__(self, mgr: CallManager) -> None:
        self.m = mgr
        self.pending: dict[
            str, tuple[str, int, Request]
        ] = {}  # requeues: call id -> (queue, port, re-INVITE)

    def offer_to_agent(
        self, caller: AppFlow, e: acd_fx.Offer, now: float, wall: float
    ) -> OriginateFlow | None:
        """Ring the agent's phones for a waiting caller: INVITE without SDP, the caller's number and
        name in From, the queue and the dialled number in headers (VC 2.1.1)."""
        app = caller.app
        anyone = Caller("", None, "", caller.caller.source)
        targets = [(d, b) for d, b in self.m.contacts(Ring(users=(e.agent,)), anyone, now)
                   if self.m._local_for(b.target.transport)]  # fmt: skip
        if not targets or app.leg.state is not LegState.CONFIRMED:
            return None
        o = Originate(f"{app.id}:{e.agent}", app.caller, app.dialled, app.started, app.started_wall,
                      call_id=app.id, offer_agent=e.agent)  # fmt: skip
        o.user_legs, o.user_leg, o.phase, o.deadline = [app.leg], app.leg, Phase.DIALLING, None
        o.direction = "inbound" if caller.caller.trunk is not None else "internal"
        flow = OriginateFlow(self.m, o)
        self.m._origs[o.id] = flow
        extra = [("x-pbx-queue", e.queue_label or e.queue), ("x-pbx-queue-name", e.queue)]
        if e.did:
            extra.append(("x-pbx-did", e.did))
        if e.urgent:
            extra.append(("alert-info", "<http://127.0.0.1/urgent>;info=alert-urgent"))
        entry = app.data.get("number_entry")
        if isinstance(entry, dict):
            valid = entry.get("valid")
            state = "none" if valid is None else "valid" if valid else "invalid"
            extra.append(("x-pbx-number-entry", f"{entry.get('digits') or ''};{state}"))
        for i, (dev, b) in enumerate(targets, 1):
            leg = self.m._device_leg(f"b{i}", dev, b, e.caller_number or app.caller, e.caller_name, e.agent)
            o.target_legs.append(leg)
            flow.invite(leg, list(extra), now)
        return flow

    def requeue(self, call_id: str, queue: str, now: float, wall: float) -> str | None:
        """Put an answered queue call back into another queue: the agent's leg ends (wrap-up
        follows), the caller gets the PBX's media (re-INVITE with our offer) and waits with their
        original arrival time. None when done; else why not."""
        call = self.m._calls.get(call_id)
        qc = self.m.queues
        if call is None or call.state is not CallState.ANSWERED or qc is None or call_id not in qc.joined:
            return "not an answered queue call"
        target = self.m.config.queue(queue) or next(
            (q for q in self.m.config.queues if q.number == queue), None
        )
        if target is None:
            return f"no queue {queue}"
        if target.name == qc.joined_queue.get(call_id):
            return "requeue goes to another queue than the one the call came from"
        caller, agent_leg = call.a, call.winner
        port = self.m.media_port()
        if agent_leg is None or port is None or caller.state is not LegState.CONFIRMED:
            return "no media port" if port is None else "the call is not up"
        body = sdp_offer(self.m.media_host(caller), port, int(now), 1)
        sent = caller.request("INVITE", body, [("content-type", "application/sdp"), ("allow", ALLOW)])
        p = Pending("requeue", call, caller, sent)
        self.pending[call_id] = (target.name, port, sent)
        self.m.send_request(p, now)
        call._bye(agent_leg, now)  # the agent is done with it; their wrap-up follows
        qc.call_ended(call_id, now, wall)
        # The Call stays only to finish the agent's BYE; the caller's dialog moves to the new app call.
        self.m._dialogs.pop((caller.call_id, caller.local_tag), None)
        call.to(CallState.ENDED)
        call.reason = "requeued"
        self.m.arm(call, "reap", now + self.m.timers.timeout)
        logger.info("call_requeued", call_id=call_id, queue=target.name)
        return None

    def requeue_answered(self, call: Call, leg: Leg, sent: Request, resp: Response, now: float,
                          wall: float) -> None:  # fmt: skip
        queue, port, _ = self.pending.pop(call.id)
        if resp.status >= 300:  # the caller's phone refused our media: nothing to wait with
            self.m.release_port(port)
            leg.to(LegState.TERMINATING)
            self.m.send_request(Pending("bye", call, leg, leg.request("BYE")), now)
            self.m.emit(CallEnded(call.id, "failed_requeue", wall))
            return
        self.m.send(leg.ack_for(sent), leg.dest)
        # The caller's dialog leaves the old Call (which only finishes the agent's BYE, then is
        # forgotten): the application call gets its own copy of the leg, the Call's one ends.
        own = dataclasses.replace(leg, id="a")
        leg.to(LegState.ENDED)
        leg = own
        desc = sdp_parse(resp.body) if resp.body else None
        found = sdp_negotiate(desc) if desc is not None else None
        caller = self.m.caller_for(leg.peer_name, leg.dest)
        lang = self.m.config.media.language
        app = AppCall(call.id, leg, call.caller, call.callee, lang, port, QueueProgram(queue), call.started,
                      call.started_wall)  # fmt: skip
        target = self.m.config.queue(queue)
        if target is None or target.requeue_keeps_place:
            app.data["queue_since"] = call.started  # else they join at the back, as a new caller
        flow = AppFlow(self.m, app)
        flow.caller = caller
        app.negotiated = found[1] if found is not None else None
        app.state = AppState.RUNNING
        self.m._apps[app.id] = flow
        self.m._app_dialogs[(leg.call_id, leg.local_tag)] = flow
        if app.negotiated is not None:
            flow._open()
        flow.run(app.program.start(now), now, wall)

    def callback_to_agent(self, cb: Callback, agent: str, now: float, wall: float) -> OriginateFlow | None:
        """A call-back reached the head of its queue: ring the agent first (INVITE without SDP, the
        customer's number shown), then dial the customer as if the agent did, then join them."""
        u = self.m.config.user(agent)
        devices = self.m.hotdesk.devices_of(agent) if self.m.hotdesk is not None else ()
        if u is None or not devices:
            return None
        anyone = Caller("", None, "", Addr("udp", "127.0.0.1", 0))
        contacts = [(d, b) for d, b in self.m.contacts(Ring(users=(agent,)), anyone, now)
                    if self.m._local_for(b.target.transport)]  # fmt: skip
        if not contacts:
            return None
        caller = Caller(devices[0], agent, u.name, anyone.source)
        res = self.m.resolver(cb.number, caller, wall)
        if isinstance(res, Reject | Answer):
            return None
        o = Originate(f"{cb.id}:{agent}", agent, cb.number, now, wall, call_id=cb.id, callback_of=cb.id)
        for i, (dev, b) in enumerate(contacts, 1):
            o.user_legs.append(
                self.m._device_leg(f"u{i}", dev, b, cb.number, f"Terugbellen {cb.name}".strip(), agent)
            )
        return self.m.originator.start(o, res, caller, now, wall)
