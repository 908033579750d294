# How this works
# --------------
# Some calls are dialled by the PBX itself: click-to-dial (`POST /api/calls`: ring the user's
# phone first, then dial the target as if the user had), queue offers and call-backs
# (pbx/calls/offers.py builds those). Each is an OriginateFlow (pbx/calls/originate.py, RFC 3725
# style: the first leg answered on hold, the second dialled with a delayed offer, joined by
# re-INVITE); this file starts them, carries their SIP client transactions, dials the target, and
# turns a connected pair into an ordinary answered Call of the manager's.
"""Originator: the calls the PBX dials, from the first INVITE to an answered Call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx import log
from pbx.calls.appcall import AppFlow
from pbx.calls.call import Call, CallState
from pbx.calls.leg import Leg
from pbx.calls.originate import Originate, OriginateFlow, Phase, new_originate_id
from pbx.calls.routing import Caller, Outbound, Reject, Resolution, Ring
from pbx.sip.addr import Addr
from pbx.sip.message import Request, Response
from pbx.sip.stack import ResponseReceived, TransactionTimedOut

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager

logger = log.get("pbx.calls")


class Originator:
    def __init__(self, mgr: CallManager) -> None:
        self.m = mgr
        # the originated calls' client transactions: key -> (flow, leg, request sent)
        self.client: dict[str, tuple[OriginateFlow, Leg, Request]] = {}

    def originate(self, user: str, dialled: str, now: float, wall: float) -> str | Reject:
        """Ring `user`'s phones, then dial `dialled` as if the user had dialled it (their dialplan,
        their numbers, `*7n*` included). The call's id, or why it cannot be placed."""
        u = self.m.config.user(user)
        if u is None:
            return Reject(404, f"no user {user}")
        devices = [
            d.username
            for d in self.m.config.devices
            if d.user == user or (d.user is None and d.username == user)
        ]
        if not devices:
            return Reject(480, f"user {user} is on no device")
        caller = Caller(devices[0], user, u.name, Addr("udp", "127.0.0.1", 0))
        res = self.m.resolver(dialled, caller, wall)
        if isinstance(res, Reject):
            return res
        anyone = Caller("", None, "", caller.source)  # leaves none of the user's devices out
        contacts = [(d, b) for d, b in self.m.contacts(Ring(users=(user,)), anyone, now)
                    if self.m._local_for(b.target.transport)]  # fmt: skip
        if not contacts:
            return Reject(480, f"no registered phone for user {user}")
        o = Originate(new_originate_id(), user, dialled, now, wall)
        for i, (dev, b) in enumerate(contacts, 1):
            o.user_legs.append(self.m._device_leg(f"u{i}", dev, b, dialled, "", user))
        self.start(o, res, caller, now, wall)
        return o.id

    def start(self, o: Originate, res: Resolution, caller: Caller, now: float, wall: float) -> OriginateFlow:
        """Ring the first legs of `o` (the user's or agent's phones); `res` is dialled when one answers."""
        if isinstance(res, Outbound):
            o.direction, o.trunk = "outbound", res.trunk
        flow = OriginateFlow(self.m, o)
        flow.target = (res, caller)
        self.m._origs[o.id] = flow
        flow.start(now, wall)
        return flow

    def send(self, flow: OriginateFlow, leg: Leg, req: Request, now: float) -> str:
        key, effects = self.m.tx.send_request(req, leg.dest, now)
        self.client[key] = (flow, leg, req)
        self.m._add(effects)
        return key

    def dial_target(self, flow: OriginateFlow, now: float) -> None:
        res, caller = flow.target
        o = flow.o
        if isinstance(res, Outbound):
            trunk = self.m.config.trunk(res.trunk)
            local = self.m._local_for(trunk.transport) if trunk is not None else None
            if trunk is None or local is None:
                return
            presented = res.presented or o.user
            leg, extra = self.m._trunk_leg("b1", trunk, local, res.number, presented, caller.display)
            o.target_legs.append(leg)
            flow.invite(leg, extra, now)
            return
        if not isinstance(res, Ring):
            return
        for i, (dev, b) in enumerate(self.m.contacts(res, caller, now), 1):
            if self.m._local_for(b.target.transport):
                leg = self.m._device_leg(f"b{i}", dev, b, o.user, caller.display, o.dialled)
                o.target_legs.append(leg)
                flow.invite(leg, [], now)

    def retry_with_credentials(self, flow: OriginateFlow, leg: Leg, sent: Request, resp: Response,
                               now: float) -> bool:  # fmt: skip
        auth = self.m._credentials(leg, sent, resp)
        if auth is None:
            return False
        flow.invite(leg, [(k, v) for k, v in sent.headers if k == "p-asserted-identity"] + [auth], now)
        return True

    def originate_connected(self, flow: OriginateFlow, now: float, wall: float) -> None:
        """Both phones are up: from here on it is an ordinary answered call."""
        o = flow.o
        user, target = o.user_leg, o.target_leg
        assert user is not None and target is not None
        user.id = "a"
        call = Call(o.call_id, self.m, user, o.user, o.dialled, o.started, o.started_wall, self.m.server)
        call.bs.append(target)
        call.winner, call.answered_wall = target, wall
        call.direction, call.trunk = o.direction, o.trunk
        call.to(CallState.ANSWERED)
        self.m._calls[call.id] = call
        for leg in (user, target):
            self.m._dialogs[(leg.call_id, leg.local_tag)] = (call, leg)
        self.m._origs.pop(o.id, None)
        if o.offer_agent is not None and self.m.queues is not None:
            self.m.queues.connected(flow)
        if o.callback_of is not None:
            self.callback_event(flow, "connected", now, wall)
        app = self.m._apps.get(o.call_id)
        if app is not None:
            app.close()  # the caller now talks to the target: the PBX's media is done
        self.m.emit(flow.answered_event(wall, now))
        logger.info("originate_connected", call_id=o.id, user_device=user.peer_name, target=target.peer_name)

    def on_event(self, ev: ResponseReceived | TransactionTimedOut, now: float, wall: float) -> list[object]:
        flow, leg, sent = self.client[ev.key]
        if isinstance(ev, ResponseReceived):
            if ev.response.status >= 200:
                self.client.pop(ev.key, None)
            if flow.o.phase is Phase.DONE and leg is not flow.o.user_leg and leg is not flow.o.target_leg:
                flow.on_response(leg, sent, ev.response, now, wall)  # a losing leg's CANCEL/BYE
            elif flow.o.phase is not Phase.DONE:
                flow.on_response(leg, sent, ev.response, now, wall)
        else:
            self.client.pop(ev.key, None)
            if flow.o.phase is not Phase.DONE:
                flow.on_timeout(leg, sent, now, wall)
        if flow.o.phase is Phase.FAILED:
            self.m._origs.pop(flow.o.id, None)
            app = self.m._apps.get(flow.o.id)
            if app is not None:
                app.close()
        return self.m._take()

    def callback_event(self, flow: OriginateFlow, what: str, now: float | None, wall: float,
                       reason: str = "") -> None:  # fmt: skip
        if self.m.queues is not None:
            t_now = now if now is not None else self.m.step_time[0]
            self.m.queues.callback_event(flow, what, t_now, wall, reason)

    def offer_answered(self, flow: OriginateFlow, now: float, wall: float) -> None:
        if self.m.queues is not None:
            self.m.queues.offer_answered(flow, now, wall)

    def offer_failed(self, flow: OriginateFlow, reason: str, now: float, wall: float) -> None:
        if self.m.queues is not None:
            self.m.queues.offer_failed(flow, reason, now, wall)

    def forget(self, flow: OriginateFlow) -> None:
        self.m._origs.pop(flow.o.id, None)

    def bridge(self, flow: AppFlow, res: Ring | Outbound, now: float, wall: float) -> None:
        """Reach a person from a call the PBX answered: dial the target without SDP, then join the
        caller with a re-INVITE (the originate flow's phases 2-4)."""
        app = flow.app
        o = Originate(app.id, app.caller, app.dialled, app.started, app.started_wall)
        o.user_legs, o.user_leg, o.phase = [app.leg], app.leg, Phase.DIALLING
        o.deadline = now + self.m.ring_timeout
        if isinstance(res, Outbound):
            o.direction, o.trunk = "outbound", res.trunk
        bridge = OriginateFlow(self.m, o)
        bridge.target = (res, flow.caller)
        self.m._origs[o.id] = bridge
        flow.bridge = bridge
        flow.bridging()
        self.dial_target(bridge, now)
        if not o.target_legs:
            bridge.fail("unavailable", now, wall)
            self.m._origs.pop(o.id, None)
            flow.close()
