# How this works
# --------------
# The CallManager is the transaction user (RFC 3261 layering: transaction -> dialog -> call) for
# everything that belongs to calls: the initial INVITE (after PbxCore authenticated it), ACK of a
# 2xx, CANCEL, and requests inside a dialog (BYE, re-INVITE, UPDATE, INFO, ...). It finds the
# call of a message by
#   - dialog id (Call-ID, our tag) for in-dialog requests and ACKs: our tag is the To tag of the
#     peer's requests on both kinds of leg (12.2.2), so one dict serves A and B legs;
#   - the INVITE server transaction key for CANCEL (9.2, via TransactionLayer.cancel_target);
#   - the client transaction key for responses and timeouts of requests we sent (`Pending`).
# It sends through the TransactionLayer it shares with PbxCore and collects the effects of one
# step in an outbox, so each entry point returns the `Send`s and call events of that step.
#
# Routing: `resolve_target(dialled, caller)` says whom to ring (`Ring`) or why not (`Reject`);
# it is the seam for the dialplan, which will replace it (`CallManager.resolver`). The manager
# expands users to their devices' registered contacts and rings them all (parallel fork).
#
# Timers: one min-heap of (deadline, seq, call id, kind) with lazy deletion: an entry counts only
# while the call still holds that deadline for that kind (`Call.timers`).
"""CallManager: the TU for calls; maps SIP messages to calls and owns the calls' deadlines."""

from __future__ import annotations

import heapq
import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pbx import dialplan as dp
from pbx import log
from pbx.calls.appcall import AppCall, AppFlow
from pbx.calls.call import (
    ALLOW,
    Call,
    CallAnswered,
    CallEnded,
    CallRejected,
    CallStarted,
    CallState,
    Pending,
    session_headers,
)
from pbx.calls.leg import Leg, LegState, Role, content_headers, new_tag, without_tag
from pbx.calls.offers import AgentOffers
from pbx.calls.originate import OriginateFlow, Phase
from pbx.calls.originator import Originator
from pbx.calls.queues import QueueCalls
from pbx.calls.routing import (
    Answer,
    Caller,
    Outbound,
    Reject,
    Resolution,
    Resolver,
    Ring,
    Router,
    identity,
)
from pbx.config import Config
from pbx.config.models import Trunk
from pbx.dialplan import Dialplan
from pbx.hotdesk.core import HotdeskCore
from pbx.ivr.program import Hangup, Play
from pbx.media.effects import DigitReceived, MediaEvent, PlayDone
from pbx.media.ports import PortPool, PortsExhausted
from pbx.registrar.bindings import Binding
from pbx.sip.addr import Addr
from pbx.sip.digest_client import answer, best_challenge
from pbx.sip.effects import Send
from pbx.sip.errors import SipParseError
from pbx.sip.headers import parse_uint
from pbx.sip.message import Request, Response, make_response
from pbx.sip.stack import ResponseReceived, StackOutput, TransactionLayer, TransactionTimedOut, server_key
from pbx.sip.transaction import TimerConfig

logger = log.get("pbx.calls")

Local = tuple[str, str, int]  # (transport, host, port) the PBX listens on


@dataclass(frozen=True, slots=True)
class LegInfo:
    id: str
    role: str
    state: str
    peer: str
    sip_call_id: str


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: str
    caller: str
    callee: str
    state: str
    started_wall: float
    answered_wall: float | None
    duration: float
    legs: tuple[LegInfo, ...]


def _unquote(display: str | None) -> str:
    d = (display or "").strip()
    if len(d) >= 2 and d[0] == d[-1] == '"':
        d = d[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return d


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _supports_timer(req: Request) -> bool:
    return any("timer" in (o.strip().lower() for o in v.split(",")) for v in req.headers.get_all("supported"))


def _max_forwards(req: Request) -> int:
    return max(parse_uint(req.headers.get("max-forwards") or "70", "Max-Forwards", 255) - 1, 0)


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" '


class CallManager:
    def __init__(
        self,
        config: Config,
        tx: TransactionLayer,
        lookup: Callable[[str, float], list[Binding]],
        local: Callable[[], Sequence[Local]],
        timers: TimerConfig,
        server: str = "pbx",
        ring_timeout: float = 30.0,
        dialplan: Dialplan | None = None,
    ) -> None:
        self.config = config
        self.dialplan = dialplan
        self.tx = tx
        self.lookup = lookup
        self.local = local
        self.timers = timers
        self.server = server
        self.ring_timeout = ring_timeout
        self.router = Router(self)
        self.resolver: Resolver = self.resolve_target
        self._calls: dict[str, Call] = {}
        self._dialogs: dict[tuple[str, str], tuple[Call, Leg]] = {}
        self._by_invite: dict[str, Call] = {}
        self._client: dict[str, Pending] = {}
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._out: list[object] = []
        self._trunk_legs: dict[Leg, Trunk] = {}  # B legs to a trunk: their credentials
        self._origs: dict[str, OriginateFlow] = {}  # click-to-dial calls still being set up
        self._apps: dict[str, AppFlow] = {}  # calls the PBX answered itself
        self._app_dialogs: dict[tuple[str, str], AppFlow] = {}
        self._app_client: dict[str, AppFlow] = {}
        self.offers = AgentOffers(self)  # queue offers, call-backs and requeue (pbx/calls/offers.py)
        self.originator = Originator(self)  # calls the PBX dials (pbx/calls/originator.py)
        self.ports = PortPool(config.media.rtp_port_min, config.media.rtp_port_max)
        self.hotdesk: HotdeskCore | None = None  # who is on which device (set by PbxCore)
        self.queues: QueueCalls | None = None  # the ACD's hands (set by PbxCore)
        self.step_time = (0.0, 0.0)  # (now, wall) of the step under way, for events raised inside it
        self.moh_on_hold = config.media.moh_on_hold
        self.moh_language: str = config.media.language

    # --- routing (pbx/calls/routing.py) -------------------------------------------------------
    def resolve_target(self, dialled: str, caller: Caller, wall: float) -> Resolution:
        return self.router.resolve(dialled, caller, wall)

    def _from_action(self, action: dp.Action, caller: Caller, presented: str | None) -> Resolution:
        return self.router.from_action(action, caller, presented)

    def caller_for(self, device: str, source: Addr) -> Caller:
        if self.hotdesk is not None:
            ext: str | None = self.hotdesk.user_on(device)
        else:
            d = self.config.device(device)
            ext = d.user if d is not None and d.user is not None else device
        user = self.config.user(ext) if ext is not None else None
        if user is None:
            return Caller(device, None, "", source)
        return Caller(device, ext, user.name, source)

    def contacts(self, ring: Ring, caller: Caller, now: float) -> list[tuple[str, Binding]]:
        """(device, binding) for every live contact to ring, the caller's own device left out."""
        if self.hotdesk is not None:
            devices = [d for u in ring.users for d in self.hotdesk.devices_of(u)]
        else:
            devices = [
                d.username
                for u in ring.users
                for d in self.config.devices
                if d.user == u or (d.user is None and d.username == u)
            ]
        devices += [d for d in ring.devices if d not in devices]
        out: list[tuple[str, Binding]] = []
        for dev in dict.fromkeys(devices):
            if dev != caller.device:
                out += [(dev, b) for b in self.lookup(dev, now)]
        return out

    # --- the outbox and the CallContext protocol ------------------------------------------------
    def _take(self) -> list[object]:
        out, self._out = self._out, []
        return out

    def _add(self, effects: list[StackOutput]) -> None:
        self._out.extend(effects)

    def send_request(self, p: Pending, now: float) -> None:
        key, effects = self.tx.send_request(p.sent, p.leg.dest, now)
        self._client[key] = p
        p.call.client_keys.add(key)
        if p.kind == "invite":
            p.leg.invite_key = key
        elif p.kind in ("relay", "moh") and p.sent.method == "INVITE":
            p.leg.offer_cseq = p.sent.cseq.number  # 14.1: one re-INVITE at a time (Call.offer_done)
        self._add(effects)

    def respond(self, key: str, resp: Response, now: float) -> None:
        self._add(self.tx.respond(key, resp, now))

    def send(self, data: bytes, dest: Addr) -> None:
        self._out.append(Send(data, dest))

    def arm(self, call: Call, kind: str, when: float) -> None:
        call.timers[kind] = when
        heapq.heappush(self._heap, (when, next(self._seq), call.id, kind))

    def disarm(self, call: Call, kind: str) -> None:
        call.timers.pop(kind, None)

    def emit(self, event: object) -> None:
        self._out.append(event)
        if self.queues is None:
            return
        if isinstance(event, CallEnded) and self.queues.is_tracked(event.call_id):
            self.queues.call_ended(event.call_id, *self.step_time)  # the agent's wrap-up starts
        elif isinstance(event, CallAnswered) and event.call_id not in self.queues.joined:
            self._agents_busy(event.call_id)

    def _agents_busy(self, call_id: str) -> None:
        """Agents on an answered call the ACD did not offer (direct, outbound, click-to-dial)."""
        call = self._calls.get(call_id)
        if call is None or call.winner is None or self.queues is None:
            return
        callee = self.hotdesk.user_on(call.winner.peer_name) if self.hotdesk is not None else None
        parties = [(call.caller, "outbound", call.callee)]
        if callee is not None:
            parties.append((callee, "inbound", call.caller))
        self.queues.direct_call(call_id, parties, *self.step_time)

    def _reply(self, req: Request, status: int, now: float, reason: str | None = None) -> None:
        tag = None if status == 100 else secrets.token_hex(6)
        resp = make_response(req, status, reason, to_tag=tag, extra=[("server", self.server)])
        self._add(self.tx.respond(req, resp, now))

    # --- local addresses ---------------------------------------------------------------------------
    def _local_for(self, transport: str) -> tuple[str, str] | None:
        """(sent-by "host:port", Contact value) of our listen address for this transport."""
        loc = next((lt for lt in self.local() if lt[0] == transport), None)
        if loc is None:
            return None
        host = f"[{loc[1]}]" if ":" in loc[1] else loc[1]
        tp = "" if transport == "udp" else f";transport={transport}"
        return f"{host}:{loc[2]}", f"<sip:pbx@{host}:{loc[2]}{tp}>"

    # --- entry points ------------------------------------------------------------------------------
    def on_invite(self, req: Request, source: Addr, device: str, now: float, wall: float) -> list[object]:
        """A new, authenticated INVITE from `device`: resolve, then fork to every contact."""
        return self._start(req, source, self.caller_for(device, source), req.uri.user_unescaped or "",
                           now, wall)  # fmt: skip

    def on_trunk_invite(
        self, req: Request, source: Addr, trunk: str, now: float, wall: float
    ) -> list[object]:
        """A new INVITE from a trunk (recognised by its source address): the DID is routed in the
        trunk's context and kept with the call."""
        did = req.uri.user_unescaped or req.to.uri.user_unescaped or ""
        frm = req.from_
        number = frm.uri.user_unescaped or ""
        caller = Caller(f"trunk:{trunk}", None, _unquote(frm.display), source, trunk=trunk, number=number)
        return self._start(req, source, caller, did, now, wall)

    def _start(self, req: Request, source: Addr, caller: Caller, dialled: str, now: float,
               wall: float) -> list[object]:  # fmt: skip
        res = self.resolver(dialled, caller, wall)
        if isinstance(res, Reject):
            logger.info("call_rejected", call_id=req.call_id, dialled=dialled, status=res.status)
            self._reply(req, res.status, now, res.reason)
            self._emit_rejected(req, caller, dialled, res.status, wall)
            return self._take()
        if isinstance(res, Outbound):
            return self._start_outbound(req, source, caller, dialled, res, now, wall)
        if isinstance(res, Answer):
            return self._start_app(req, source, caller, dialled, res, now, wall)
        a_local = self._local_for(source.transport)
        targets = [(d, b) for d, b in self.contacts(res, caller, now) if self._local_for(b.target.transport)]
        if a_local is None or not targets:
            logger.info("call_unavailable", call_id=req.call_id, dialled=dialled)
            self._reply(req, 480, now)
            self._emit_rejected(req, caller, dialled, 480, wall)
            return self._take()
        call = self._new_call(req, source, caller, dialled, a_local, now, wall)
        self._reply(req, 100, now)
        mf = _max_forwards(req)
        for i, (dev, binding) in enumerate(targets, 1):
            self._fork(call, i, dev, binding, caller, dialled, mf, now)
        self.arm(call, "ring", now + self.ring_timeout)
        self.emit(call.started_event(wall, caller.display, res.users))
        logger.info("call_started", call_id=call.id, caller=caller.device, dialled=dialled, legs=len(targets),
                    trunk=caller.trunk)  # fmt: skip
        return self._take()

    def _start_outbound(self, req: Request, source: Addr, caller: Caller, dialled: str, out: Outbound,
                        now: float, wall: float) -> list[object]:  # fmt: skip
        trunk = self.config.trunk(out.trunk)
        a_local = self._local_for(source.transport)
        b_local = self._local_for(trunk.transport) if trunk is not None else None
        if trunk is None or a_local is None or b_local is None:
            logger.info("call_unavailable", call_id=req.call_id, dialled=dialled, trunk=out.trunk)
            self._reply(req, 503, now, "Trunk Not Available")
            self._emit_rejected(req, caller, dialled, 503, wall, "outbound")
            return self._take()
        call = self._new_call(req, source, caller, dialled, a_local, now, wall)
        call.direction, call.trunk = "outbound", trunk.name
        self._reply(req, 100, now)
        presented = out.presented or trunk.default_number or caller.extension or caller.device
        leg, extra = self._trunk_leg("b1", trunk, b_local, out.number, presented, caller.display)
        self._send_b_invite(call, leg, _max_forwards(req), extra, now)
        self.arm(call, "ring", now + self.ring_timeout)
        self.emit(call.started_event(wall, caller.display))
        logger.info("call_started", call_id=call.id, caller=caller.device, dialled=dialled, trunk=trunk.name,
                    number=out.number, presented=presented)  # fmt: skip
        return self._take()

    def _trunk_leg(self, leg_id: str, trunk: Trunk, local: tuple[str, str], number: str, presented: str,
                   display: str) -> tuple[Leg, list[tuple[str, str]]]:  # fmt: skip
        """A leg to `number` through `trunk`, presenting `presented`; and its extra INVITE headers."""
        host = local[0]
        disp = _quote(display) if display else ""
        target = f"sip:{number}@{_hostport(trunk.host, trunk.port)}"
        leg = Leg(
            id=leg_id, role=Role.UAC, call_id=secrets.token_hex(12), local_tag=new_tag(),
            local_uri=f"{disp}<sip:{presented}@{host}>", remote_uri=f"<{target}>", remote_target=target,
            dest=Addr(trunk.transport, trunk.host, trunk.port), contact=local[1], via_host=host,
            user_agent=self.server, peer_name=f"trunk:{trunk.name}",
        )  # fmt: skip
        self._trunk_legs[leg] = trunk
        return leg, [("p-asserted-identity", f"{disp}<sip:{presented}@{host}>")] if trunk.pai else []

    def _device_leg(self, leg_id: str, device: str, b: Binding, from_user: str, display: str,
                    to_user: str) -> Leg:  # fmt: skip
        local = self._local_for(b.target.transport)
        assert local is not None
        host = local[0]
        disp = _quote(display) if display else ""
        return Leg(
            id=leg_id, role=Role.UAC, call_id=secrets.token_hex(12), local_tag=new_tag(),
            local_uri=f"{disp}<sip:{from_user}@{host}>", remote_uri=f"<sip:{to_user}@{host}>",
            remote_target=b.uri, dest=b.target, contact=local[1], via_host=host, user_agent=self.server,
            peer_name=device,
        )  # fmt: skip

    def _credentials(self, leg: Leg, sent: Request, resp: Response) -> tuple[str, str] | None:
        """The Authorization header answering a trunk's 401/407 to `sent`, once (no loop)."""
        trunk = self._trunk_legs.get(leg)
        if trunk is None or trunk.username is None or trunk.password is None or leg.cancel_wanted:
            return None
        if any(k in ("authorization", "proxy-authorization") for k, _ in sent.headers):
            return None  # our credentials were refused
        ch = best_challenge(
            resp.headers.get_all("www-authenticate" if resp.status == 401 else "proxy-authenticate")
        )
        if ch is None:
            return None
        value = answer(ch, sent.method, sent.uri_text, trunk.username, trunk.password, secrets.token_hex(8))
        return ("authorization" if resp.status == 401 else "proxy-authorization", value)

    def _send_b_invite(self, call: Call, leg: Leg, mf: int, extra: list[tuple[str, str]], now: float) -> None:
        a_inv = call.a.invite
        assert a_inv is not None
        timer = [("supported", "timer")] if _supports_timer(a_inv) else []
        extra = [*content_headers(a_inv), ("allow", ALLOW), *session_headers(a_inv), *timer, *extra]
        req = leg.request("INVITE", a_inv.body, extra)
        req.headers.set("max-forwards", str(mf))
        leg.invite = req
        if leg not in call.bs:
            call.bs.append(leg)
            self._dialogs[(leg.call_id, leg.local_tag)] = (call, leg)
        self.send_request(Pending("invite", call, leg, req), now)

    def _authenticate_b(self, p: Pending, resp: Response, now: float) -> bool:
        """A trunk's 401/407 to our INVITE: send it again once with credentials (22.2)."""
        auth = self._credentials(p.leg, p.sent, resp)
        if auth is None:
            return False
        extra = [(k, v) for k, v in p.sent.headers if k == "p-asserted-identity"] + [auth]
        self._send_b_invite(p.call, p.leg, int(p.sent.headers.get("max-forwards") or "70"), extra, now)
        return True

    def _caller_leg(self, req: Request, source: Addr, caller: Caller, local: tuple[str, str]) -> Leg:
        """The caller's dialog, the PBX as UAS (RFC 3261 12.1.1), from their INVITE."""
        contacts = req.contacts
        return Leg(
            id="a", role=Role.UAS, call_id=req.call_id, local_tag=new_tag(),
            local_uri=without_tag(req.to), remote_uri=without_tag(req.from_),
            remote_target=contacts[0].uri.text if contacts else req.from_.uri.text,
            dest=source, contact=local[1], via_host=local[0], user_agent=self.server,
            remote_tag=req.from_.tag, remote_cseq=req.cseq.number,
            route_set=req.headers.get_all("record-route"), peer_name=caller.device,
            invite=req, invite_key=server_key(req),
        )  # fmt: skip

    def _new_call(self, req: Request, source: Addr, caller: Caller, dialled: str,
                  local: tuple[str, str], now: float, wall: float) -> Call:  # fmt: skip
        a = self._caller_leg(req, source, caller, local)
        call = Call(secrets.token_hex(8), self, a, identity(caller), dialled, now, wall,
                    self.server)  # fmt: skip
        if caller.trunk is not None:
            call.direction, call.did, call.trunk = "inbound", dialled, caller.trunk
        self._calls[call.id] = call
        self._dialogs[(a.call_id, a.local_tag)] = (call, a)
        self._by_invite[a.invite_key] = call
        return call

    def _fork(self, call: Call, i: int, device: str, b: Binding, caller: Caller, dialled: str,
              mf: int, now: float) -> None:  # fmt: skip
        leg = self._device_leg(f"b{i}", device, b, identity(caller), caller.display, dialled)
        self._send_b_invite(call, leg, mf, [], now)

    def on_cancel(self, req: Request, now: float, wall: float) -> list[object]:
        """CANCEL (9.2): 200 if it matches an INVITE transaction, and the call stops ringing."""
        key = self.tx.cancel_target(req)
        if key is None:
            self._reply(req, 481, now)
            return self._take()
        call = self._by_invite.get(key)
        tag = call.a.local_tag if call is not None else secrets.token_hex(6)
        resp = make_response(req, 200, to_tag=tag, extra=[("server", self.server)])
        self._add(self.tx.respond(req, resp, now))
        if call is not None and call.state is CallState.SETUP:
            logger.info("call_cancelled", call_id=call.id)
            call.cancel_by_caller(now, wall)
            self._collect(call)
        return self._take()

    def _dialog_of(self, req: Request) -> tuple[Call, Leg] | None:
        try:
            tag, remote = req.to.tag, req.from_.tag
        except SipParseError:
            return None
        found = self._dialogs.get((req.call_id, tag)) if tag else None
        if found is None:
            return None
        leg = found[1]
        if leg.remote_tag is not None and remote != leg.remote_tag:
            return None
        return found

    def has_dialog(self, req: Request) -> bool:
        return self._dialog_of(req) is not None or self._app_of(req) is not None

    def _app_of(self, req: Request) -> AppFlow | None:
        try:
            return self._app_dialogs.get((req.call_id, req.to.tag or ""))
        except SipParseError:
            return None

    def on_request(self, req: Request, now: float, wall: float) -> list[object]:
        """A request inside a dialog (it has a To tag): BYE, re-INVITE, UPDATE, INFO, ..."""
        app = self._app_of(req)
        if app is not None:
            if not app.leg.check_remote_cseq(req):
                self._reply(req, 500, now, "CSeq Out Of Order")
            elif app.bridge is not None and req.method == "BYE":
                self._reply(req, 200, now)
                app.leg.to(LegState.ENDED)
                app.bridge.fail("caller_hangup", now, wall)
                self._origs.pop(app.app.id, None)
                app.close()
            else:
                app.on_request(req, server_key(req), now, wall)
            return self._take()
        found = self._dialog_of(req)
        if found is None or not found[1].live:
            self._reply(req, 481, now)
            return self._take()
        call, leg = found
        if not leg.check_remote_cseq(req):
            self._reply(req, 500, now, "CSeq Out Of Order")
            return self._take()
        key = server_key(req)
        m = req.method
        if m == "BYE":
            call.on_bye(leg, req, key, now, wall)
        elif m in ("INVITE", "UPDATE", "INFO"):
            call.on_in_dialog(leg, req, key, now)
        elif m == "OPTIONS":
            self._reply(req, 200, now)
        else:
            self._reply(req, 501, now)  # REFER, NOTIFY, PRACK ...: not relayed yet
        self._collect(call)
        return self._take()

    def on_ack(self, req: Request, now: float, wall: float) -> list[object]:
        """The ACK of a 2xx (end to end, passed up by the transaction layer)."""
        app = self._app_of(req)
        if app is not None:
            app.on_ack(req, now, wall)
            return self._take()
        found = self._dialog_of(req)
        if found is not None:
            found[0].on_ack(found[1], req)
        return self._take()

    def on_stray_2xx(self, resp: Response) -> list[object]:
        """A 2xx to one of our INVITEs after its transaction ended: our ACK was lost, send it again."""
        try:
            found = self._dialogs.get((resp.call_id, resp.from_.tag or ""))
        except SipParseError:
            return []
        if found is not None and found[1].ack is not None:
            self.send(found[1].ack, found[1].dest)
        return self._take()

    def owns(self, key: str) -> bool:
        return key in self._client or key in self.originator.client or key in self._app_client

    def on_tx_event(
        self, ev: ResponseReceived | TransactionTimedOut, now: float, wall: float
    ) -> list[object]:
        if ev.key in self.originator.client:
            return self.originator.on_event(ev, now, wall)
        if ev.key in self._app_client:
            if isinstance(ev, TransactionTimedOut) or ev.response.status >= 200:
                flow = self._app_client.pop(ev.key)
                if flow.leg.state is LegState.TERMINATING:
                    flow.leg.to(LegState.ENDED)
            return self._take()
        p = self._client.get(ev.key)
        if p is None:
            return []
        call, leg = p.call, p.leg
        if isinstance(ev, ResponseReceived):
            final = ev.response.status >= 200
            if final and p.sent.method != "INVITE":
                self._forget(ev.key)
            if p.kind == "invite":
                if ev.response.status in (401, 407) and self._authenticate_b(p, ev.response, now):
                    self._forget(ev.key)
                    return self._take()
                call.on_b_response(leg, ev.response, now, wall)
            elif p.kind == "bye" and final:
                leg.to(LegState.ENDED)
            elif p.kind == "relay":
                call.on_relay_response(p, ev.response, now, wall)
            elif p.kind == "requeue":
                if final:
                    self._forget(ev.key)
                    self.offers.requeue_answered(call, leg, p.sent, ev.response, now, wall)
            elif p.kind == "moh" and call.hold is not None:
                if final:
                    self._forget(ev.key)
                call.hold.on_response(leg, p.sent, ev.response, now)
        else:
            self._forget(ev.key)
            if p.kind == "invite":
                call.on_b_timeout(leg, now, wall)
            elif p.kind in ("bye", "cancel") and leg.state is LegState.TERMINATING:
                leg.to(LegState.ENDED)
            elif p.kind == "relay":
                call.on_relay_timeout(p, now, wall)
        if p.kind in ("relay", "moh") and p.sent.method == "INVITE":
            status = ev.response.status if isinstance(ev, ResponseReceived) else None
            call.offer_done(leg, p.sent, status, now, wall)
        self._collect(call)
        return self._take()

    def _forget(self, key: str) -> None:
        p = self._client.pop(key, None)
        if p is not None:
            p.call.client_keys.discard(key)

    def _collect(self, call: Call) -> None:
        """Forget a call once it has ended and none of its legs has anything left to do."""
        if not call.done or call.id not in self._calls:
            return
        del self._calls[call.id]
        call.timers.clear()
        for leg in call.legs:
            self._dialogs.pop((leg.call_id, leg.local_tag), None)
        self._by_invite.pop(call.a.invite_key, None)
        for key in call.client_keys:
            self._client.pop(key, None)
        for leg in call.bs:
            self._trunk_legs.pop(leg, None)

    # --- click-to-dial and every PBX-dialled call: pbx/calls/originator.py ---------------------------
    def take_effects(self) -> list[object]:
        return self._take()

    # --- calls the PBX answers itself ------------------------------------------------------------
    def _start_app(self, req: Request, source: Addr, caller: Caller, dialled: str, res: Answer,
                   now: float, wall: float) -> list[object]:  # fmt: skip
        local = self._local_for(source.transport)
        try:
            port = self.ports.allocate()
        except PortsExhausted:
            local = None
        if local is None:
            self._reply(req, 503, now, "No Media Ports")
            self._emit_rejected(req, caller, dialled, 503, wall)
            return self._take()
        leg = self._caller_leg(req, source, caller, local)
        user = self.config.user(caller.extension) if caller.extension else None
        lang: str = (user.language if user is not None else None) or self.config.media.language
        if res.language is not None:
            lang = res.language  # a queue's own announcements language wins
        app = AppCall(
            secrets.token_hex(8), leg, identity(caller), dialled, lang, port, res.program(), now, wall
        )
        flow = AppFlow(self, app)
        flow.caller = caller
        if not flow.answer(now):
            self.ports.release(port)
            self._reply(req, 488, now)
            self._emit_rejected(req, caller, dialled, 488, wall)
            return self._take()
        self._apps[app.id] = flow
        self._app_dialogs[(leg.call_id, leg.local_tag)] = flow
        direction = "inbound" if caller.trunk is not None else "internal"
        self.emit(CallStarted(app.id, app.caller, dialled, wall, caller_device=caller.device,
                              caller_name=caller.display, devices=("pbx",), direction=direction,
                              did=dialled if caller.trunk is not None else None))  # fmt: skip
        logger.info("call_answered_by_pbx", call_id=app.id, sip_call_id=req.call_id, what=res.what, port=port)
        return self._take()

    def media_port(self) -> int | None:
        try:
            return self.ports.allocate()
        except PortsExhausted:
            return None

    def release_port(self, port: int) -> None:
        self.ports.release(port)

    def media_host(self, leg: Leg) -> str:
        """The address in the PBX's SDP (and its RTP sockets): `media.address`, else the listen
        address the leg's transport uses (config refuses a wildcard listen without media.address)."""
        return self.config.media.address or leg.via_host.rsplit(":", 1)[0].strip("[]")

    def respond_request(self, req: Request, resp: Response, now: float) -> None:
        self._add(self.tx.respond(req, resp, now))

    def send_app_bye(self, flow: AppFlow, req: Request, now: float) -> None:
        key, effects = self.tx.send_request(req, flow.leg.dest, now)
        self._app_client[key] = flow
        self._add(effects)

    def app_ended(self, flow: AppFlow, now: float | None = None, wall: float | None = None) -> None:
        """The application call is over (`now` given: the caller left; None: joined to someone)."""
        app = flow.app
        self._apps.pop(app.id, None)
        self._app_dialogs.pop((app.leg.call_id, app.leg.local_tag), None)
        self.ports.release(app.port)
        if now is not None and wall is not None and self.queues is not None:
            self.queues.caller_gone(app.id, now, wall)

    def bridge_app(self, flow: AppFlow, res: Ring | Outbound, now: float, wall: float) -> None:
        self.originator.bridge(flow, res, now, wall)

    def app_goto(self, flow: AppFlow, context: str, now: float, wall: float) -> None:
        """A program sent the caller to a context: route the dialled number there."""
        app, caller = flow.app, flow.caller
        if self.dialplan is None:
            flow.hangup("no_route", now, wall)
            return
        decision = self.dialplan.route(
            app.dialled, context, datetime.fromtimestamp(wall, UTC), caller.extension, app.variables
        )
        res = self._from_action(decision.action, caller, None)
        logger.info("app_call_goto", call_id=app.id, context=context, dialled=app.dialled,
                    action=type(decision.action).__name__)  # fmt: skip
        if isinstance(res, Answer):
            flow.run(flow.adopt(res.program()).start(now), now, wall)
        elif isinstance(res, Ring | Outbound):
            self.originator.bridge(flow, res, now, wall)
        else:
            flow.run([Play(("not_allowed",), interruptible=False), Hangup()], now, wall)

    def on_media_event(self, ev: MediaEvent, now: float, wall: float) -> list[object]:
        flow = self._apps.get(ev.session)
        if flow is not None:
            if isinstance(ev, PlayDone):
                flow.on_play_done(ev.play_id, now, wall)
            elif isinstance(ev, DigitReceived):
                flow.on_digit(ev.digit, now, wall)
            else:
                logger.warning("media_failed", call_id=ev.session, reason=ev.reason)
                flow.hangup("media_failed", now, wall)
        return self._take()

    # --- timers ----------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        ds = [f.o.deadline for f in self._origs.values() if f.o.deadline is not None]
        ds += [d for d in (a.app.next_deadline() for a in self._apps.values()) if d is not None]
        calls = self._next_call_deadline()
        if calls is not None:
            ds.append(calls)
        return min(ds) if ds else None

    def _next_call_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            when, _, cid, kind = heap[0]
            call = self._calls.get(cid)
            if call is not None and call.timers.get(kind) == when:
                return when
            heapq.heappop(heap)
        return None

    def on_timer(self, now: float, wall: float) -> list[object]:
        for flow in list(self._origs.values()):
            if flow.o.deadline is not None and flow.o.deadline <= now:
                flow.on_deadline(now, wall)
                if flow.o.phase is Phase.FAILED:
                    self._origs.pop(flow.o.id, None)
                    app = self._apps.get(flow.o.id)
                    if app is not None:
                        app.close()
        for app in list(self._apps.values()):
            d = app.app.next_deadline()
            if d is not None and d <= now:
                app.on_timer(now, wall)
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, cid, kind = heapq.heappop(heap)
            call = self._calls.get(cid)
            if call is None or call.timers.get(kind) != when:
                continue
            del call.timers[kind]
            call.on_timer(kind, now, wall)
            self._collect(call)
        return self._take()

    # --- snapshots -------------------------------------------------------------------------------
    def snapshot(self, now: float) -> list[CallInfo]:
        out = []
        for c in self._calls.values():
            if c.state is CallState.ENDED:
                continue
            legs = tuple(LegInfo(x.id, x.role.value, x.state.value, x.peer_name, x.call_id) for x in c.legs)
            out.append(CallInfo(c.id, c.caller, c.callee, c.state.value, c.started_wall, c.answered_wall,
                                now - c.started, legs))  # fmt: skip
        for f in self._origs.values():
            o = f.o
            legs = tuple(LegInfo(x.id, x.role.value, x.state.value, x.peer_name, x.call_id) for x in o.legs)
            out.append(
                CallInfo(o.id, o.user, o.dialled, "setup", o.started_wall, None, now - o.started, legs)
            )
        return out

    def count(self) -> int:
        return len(self._calls)

    def call(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def _emit_rejected(self, req: Request, caller: Caller, dialled: str, status: int, wall: float,
                       direction: str | None = None) -> None:  # fmt: skip
        """A call refused before any phone rang still belongs in the caller's history."""
        if direction is None:
            direction = "inbound" if caller.trunk is not None else "internal"
        who = identity(caller)
        self.emit(CallRejected(req.call_id, who, dialled, status, wall, caller.device, direction))

    # --- commands from the API -------------------------------------------------------------------
    def hangup(self, call_id: str, now: float, wall: float) -> list[object] | None:
        """End a live call from outside (`DELETE /api/calls/{id}`): BYE to every confirmed leg,
        CANCEL to every ringing one, 487 to a caller still waiting. None if no such live call."""
        flow = self._origs.get(call_id)
        if flow is not None:
            flow.fail("api_hangup", now, wall)
            self._origs.pop(call_id, None)
            return self._take()
        call = self._calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            return None
        logger.info("call_hangup_requested", call_id=call.id)
        call.hangup("api_hangup", now, wall)
        self._collect(call)
        return self._take()
