# How this works
# --------------
# A Call bridges one A leg (the caller's dialog, PBX as UAS) and one or more B legs (the PBX's
# INVITEs to each registered contact of the callee, rung in parallel). It never forwards a message
# as it came: every request or response is rendered anew for the other dialog from that leg's
# own state (Call-ID, tags, CSeq, Via, Contact); only bodies and their Content-* headers pass
# through, so media flows between the phones directly.
#
# Setup (CallState.SETUP): 18x from any live B leg is relayed to A inside one early dialog with
# the PBX's own To tag. The first 2xx wins (RFC 3261 16.7 for forking): it is ACKed at once when
# A's INVITE carried the offer (otherwise the ACK waits for A's ACK, which carries the answer),
# A gets 200 with B's SDP, re-sent with T1 doubling up to T2 until A's ACK (13.3.1.4), and every
# other B leg gets CANCEL (9.1: only once a provisional response came back). A later 2xx from
# another leg (a race) is ACKed and then ended with BYE. A final failure ends that B leg only,
# except a 6xx (a global "no", 16.7 point 5), which cancels the others; when every B leg has
# failed, A gets the best failure (`best_final`). The ring timeout cancels all B legs: 480 to A.
# CANCEL (or an early BYE) from A: 487 to the INVITE and CANCEL to every B leg. A CANCEL that
# crosses our 200 has no effect (9.2: the INVITE already has its final response): the call
# stands and the caller, who must ACK the 200, may BYE it.
#
# Answered (CallState.ANSWERED): BYE from either side gets 200 at once and a BYE to the other.
# re-INVITE, UPDATE and INFO are relayed to the other leg as a new request of that dialog, and its
# final response is relayed back to the requester (with 2xx re-sending and ACK relay for INVITE,
# as at setup). A re-INVITE while another is pending gets 491 (14.1). A 408/481 or no response at
# all to a relayed request means that dialog is gone (12.2.1.2): the call is ended.
#
# Timers are deadlines kept by the CallManager: "ring" (ring timeout), "2xx:<leg>" (2xx re-sending
# and its 64*T1 limit, after which the call is ended with BYE), "reap" (forget a call 64*T1 after
# it ended, even if a phone never finished its CANCEL/BYE transaction).
"""A call: one A leg and its B legs, and the relaying of events between them (the B2BUA)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from pbx import log
from pbx.calls.hold import HoldControl
from pbx.calls.leg import Leg, LegState, Role, Unacked, content_headers
from pbx.sip.addr import Addr
from pbx.sip.message import Request, Response, make_response
from pbx.sip.transaction import TimerConfig

logger = log.get("pbx.calls")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
RELAYED_HEADERS = ("info-package", "recv-info", "event")  # INFO packages (RFC 6086)
SESSION_TIMER_HEADERS = ("session-expires", "min-se")  # RFC 4028: relayed so the phones refresh


def session_headers(msg: Request | Response) -> list[tuple[str, str]]:
    """RFC 4028 headers to relay: Session-Expires and Min-SE, and `Require: timer` from a 2xx
    (the refresher's obligation travels end to end; the PBX only watches the interval)."""
    out = [(k, v) for k, v in msg.headers if k in SESSION_TIMER_HEADERS]
    if isinstance(msg, Response) and any(
        "timer" in (o.strip().lower() for o in v.split(",")) for v in msg.headers.get_all("require")
    ):
        out.append(("require", "timer"))
    return out


def session_interval(msg: Request | Response) -> float | None:
    """The negotiated session interval of a 2xx, in seconds (None: no session timer)."""
    value = msg.headers.get("session-expires")
    if value is None:
        return None
    head = value.split(";", 1)[0].strip()
    return float(head) if head.isdigit() and int(head) > 0 else None


class CallState(enum.Enum):
    SETUP = "setup"
    ANSWERED = "answered"
    ENDED = "ended"


ALLOWED: dict[CallState, frozenset[CallState]] = {
    CallState.SETUP: frozenset({CallState.ANSWERED, CallState.ENDED}),
    CallState.ANSWERED: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


class InvalidCallTransition(Exception):
    def __init__(self, call_id: str, old: CallState, new: CallState) -> None:
        super().__init__(f"call {call_id}: no transition from {old.name} to {new.name}")


# --- events for the shell and history (frozen: tests compare them) ----------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    caller: str  # the caller's extension; the device when nobody is logged in; a number from a trunk
    callee: str  # the dialled string
    wall: float
    caller_device: str = ""  # the device that placed the call ("trunk:<name>" from a trunk)
    caller_name: str = ""  # the caller's display name (user name, or From display from a trunk)
    users: tuple[str, ...] = ()  # the users rung (the dialplan's ring_user)
    devices: tuple[str, ...] = ()  # the device of each B leg ("trunk:<name>" for a trunk)
    did: str | None = None  # inbound: the number the caller dialled at the carrier
    direction: str = "internal"  # internal, inbound (from a trunk) or outbound (to a trunk)


@dataclass(frozen=True, slots=True)
class CallRinging:
    """The first 18x relayed to the caller (once per call)."""

    call_id: str
    device: str  # the device that rang first
    wall: float
    setup: float  # seconds since the caller's INVITE (monotonic)


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    device: str  # the device that answered
    wall: float
    setup: float = 0.0  # seconds since the caller's INVITE (monotonic)


@dataclass(frozen=True, slots=True)
class CallRejected:
    """A call refused before any phone rang (no route, 403, nobody registered): no Call exists."""

    call_id: str  # the caller's SIP Call-ID
    caller: str
    callee: str
    status: int
    wall: float
    caller_device: str = ""
    direction: str = "internal"  # internal, inbound or outbound, as CallStarted


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    reason: str  # caller_hangup, callee_hangup, cancelled, no_answer, busy, declined, ...
    wall: float


REASON_BY_STATUS = {486: "busy", 600: "busy", 603: "declined", 480: "unavailable", 404: "not_found"}


def best_final(statuses: list[int]) -> int:
    """The failure A gets when every B leg failed (16.7, read for a B2BUA that rings devices).

    A 6xx if any (a global answer); else 486 if a device was busy or declined; else 488 if one
    refused the SDP; else 480. Redirects are not followed and a phone's own 401/407, 5xx or
    timeout say nothing useful to the caller, so they become 480 Temporarily Unavailable.
    """
    six = [s for s in statuses if s >= 600]
    if six:
        return min(six)
    if 486 in statuses:
        return 486
    if any(s in (488, 415) for s in statuses):
        return 488
    return 480


@dataclass(eq=False)
class Pending:
    """What a client transaction of ours is for, so its response finds its way back."""

    kind: str  # "invite" (B leg's INVITE), "cancel", "bye" or "relay"
    call: Call
    leg: Leg  # the leg the request was sent on
    sent: Request
    origin: Request | None = None  # relay: the request we answer on `origin_leg`
    origin_key: str = ""
    origin_leg: Leg | None = None
    answered: bool = False  # relay: the final response went back already


class CallContext(Protocol):
    """What a call needs from the CallManager: the transaction layer, timers and an outbox."""

    timers: TimerConfig

    def send_request(self, p: Pending, now: float) -> None: ...

    def respond(self, key: str, resp: Response, now: float) -> None: ...

    def send(self, data: bytes, dest: Addr) -> None: ...

    def arm(self, call: Call, kind: str, when: float) -> None: ...

    def disarm(self, call: Call, kind: str) -> None: ...

    def emit(self, event: object) -> None: ...

    moh_on_hold: bool
    moh_language: str

    def media_port(self) -> int | None: ...

    def release_port(self, port: int) -> None: ...

    def media_host(self, leg: Leg) -> str: ...


@dataclass(eq=False)
class Call:
    id: str
    ctx: CallContext
    a: Leg
    caller: str
    callee: str
    started: float  # monotonic
    started_wall: float
    server: str  # Server header value
    bs: list[Leg] = field(default_factory=list)
    state: CallState = CallState.SETUP
    winner: Leg | None = None
    answered_wall: float | None = None
    reason: str | None = None
    timers: dict[str, float] = field(default_factory=dict)
    client_keys: set[str] = field(default_factory=set)
    reinvite_pending: bool = False
    early_media: Leg | None = None  # the B leg whose early SDP A got
    rang: bool = False  # a 18x was relayed to A (CallRinging emitted)
    direction: str = "internal"  # internal, outbound (to a trunk) or inbound (from a trunk)
    did: str | None = None  # inbound: the number the caller dialled at the carrier
    trunk: str | None = None  # the trunk the call came in from or goes out through
    hold: HoldControl | None = None  # music on hold, once someone held (pbx/calls/hold.py)
    # a re-INVITE/UPDATE (leg, request, server key) waiting for our own re-INVITE on the other
    # leg to get its final response (RFC 3261 14.1: one INVITE transaction at a time per dialog)
    deferred: tuple[Leg, Request, str] | None = None

    def to(self, new: CallState) -> None:
        if new is self.state:
            return
        if new not in ALLOWED[self.state]:
            raise InvalidCallTransition(self.id, self.state, new)
        self.state = new

    @property
    def legs(self) -> list[Leg]:
        return [self.a, *self.bs]

    @property
    def done(self) -> bool:
        return self.state is CallState.ENDED and all(not leg.live for leg in self.legs)

    def peer(self, leg: Leg) -> Leg | None:
        return self.winner if leg is self.a else self.a if leg is self.winner else None

    def started_event(self, wall: float, caller_name: str = "", users: tuple[str, ...] = ()) -> CallStarted:
        """CallStarted from what the call knows, once its B legs are sent (history needs them)."""
        return CallStarted(
            self.id, self.caller, self.callee, wall, caller_device=self.a.peer_name,
            caller_name=caller_name, users=users, devices=tuple(b.peer_name for b in self.bs),
            did=self.did, direction=self.direction,
        )  # fmt: skip

    # --- helpers -----------------------------------------------------------------------------
    def _respond_a(
        self, status: int, now: float, reason: str | None = None, resp: Response | None = None
    ) -> Response:
        a = self.a
        assert a.invite is not None
        extra = [("server", self.server)]
        body = b""
        if 100 < status < 300:
            extra = [("contact", a.contact), ("allow", ALLOW), *extra]
        if resp is not None and resp.body:
            extra += content_headers(resp)
            body = resp.body
        if resp is not None and 200 <= status < 300:
            extra += session_headers(resp)
        out = make_response(a.invite, status, reason, to_tag=a.local_tag, extra=extra, body=body)
        self.ctx.respond(a.invite_key, out, now)
        return out

    def _end(self, reason: str, now: float, wall: float) -> None:
        if self.state is CallState.ENDED:
            return
        self.to(CallState.ENDED)
        self.reason = reason
        self.ctx.disarm(self, "ring")
        self.ctx.disarm(self, "session")
        if self.hold is not None:
            self.hold.close()
        if self.deferred is not None:
            _leg, req, key = self.deferred
            self.deferred = None
            self.ctx.respond(key, make_response(req, 481, extra=[("server", self.server)]), now)
        self.ctx.arm(self, "reap", now + self.ctx.timers.timeout)
        self.ctx.emit(CallEnded(self.id, reason, wall))
        logger.info("call_ended", call_id=self.id, reason=reason)

    def _cancel_leg(self, b: Leg, now: float) -> None:
        if b.state not in (LegState.TRYING, LegState.EARLY):
            return
        b.cancel_wanted = True
        b.to(LegState.TERMINATING)
        if b.provisional:
            self._send_cancel(b, now)

    def _send_cancel(self, b: Leg, now: float) -> None:
        if b.cancel_sent:
            return
        b.cancel_sent = True
        self.ctx.send_request(Pending("cancel", self, b, b.cancel()), now)

    def _bye(self, leg: Leg, now: float) -> None:
        self._stop_2xx(leg)
        leg.to(LegState.TERMINATING)
        self.ctx.send_request(Pending("bye", self, leg, leg.request("BYE")), now)

    def _stop_2xx(self, leg: Leg) -> None:
        """No more re-sending of the 2xx on `leg`; a peer still owed an ACK gets one now (a 2xx
        is always ACKed, 13.2.2.4, even when the dialog is about to be ended with BYE)."""
        u = leg.unacked
        if u is None:
            return
        leg.unacked = None
        self.ctx.disarm(self, f"2xx:{leg.id}")
        if u.peer_ack is not None:
            peer, inv = u.peer_ack
            self.ctx.send(peer.ack_for(inv), peer.dest)

    def _send_2xx(self, leg: Leg, key: str, resp: Response, cseq: int, now: float,
                  peer_ack: tuple[Leg, Request] | None) -> None:  # fmt: skip
        """Keep re-sending a 2xx we sent on `leg` until its ACK comes (13.3.1.4)."""
        t = self.ctx.timers
        if leg.dest.reliable:
            next_at = now + t.timeout  # nothing is lost over TCP: only wait for the ACK
        else:
            next_at = now + t.t1
        leg.unacked = Unacked(key, resp, cseq, t.t1, next_at, now + t.timeout, peer_ack)
        self.ctx.arm(self, f"2xx:{leg.id}", min(next_at, now + t.timeout))

    def _watch_session(self, resp: Response, now: float) -> None:
        """A 2xx that sets (or refreshes) a session interval: end the call if no refresh comes
        within it. The phones' own refresher sends BYE earlier (RFC 4028 10); this catches a
        phone that vanished without one, so no call hangs in the PBX forever."""
        interval = session_interval(resp)
        if interval is not None:
            self.ctx.arm(self, "session", now + interval)

    def hangup(self, reason: str, now: float, wall: float, skip: Leg | None = None) -> None:
        """End the call: BYE to every confirmed leg, CANCEL to every ringing one."""
        if self.state is CallState.SETUP and self.a.state in (LegState.TRYING, LegState.EARLY):
            self._respond_a(480 if reason == "no_answer" else 487, now)
            self.a.to(LegState.ENDED)
        for leg in self.legs:
            if leg is skip:
                continue
            if leg.state is LegState.CONFIRMED:
                self._bye(leg, now)
            elif leg.role is Role.UAC:
                self._cancel_leg(leg, now)
        self._end(reason, now, wall)

    # --- setup: B legs' INVITE responses -------------------------------------------------------
    def on_b_response(self, b: Leg, resp: Response, now: float, wall: float) -> None:
        s = resp.status
        if s < 200:
            b.provisional = True
            if b.cancel_wanted:
                self._send_cancel(b, now)
                return
            if s == 100:
                return
            b.learn_from_response(resp)
            if b.remote_tag is not None:
                b.to(LegState.EARLY)
            if self.state is CallState.SETUP:
                relay = resp
                if resp.body:
                    if self.early_media is None:
                        self.early_media = b
                    elif self.early_media is not b:
                        relay = Response(s, resp.reason, resp.headers)  # one early media source
                self._respond_a(s, now, resp.reason, relay)
                self.a.to(LegState.EARLY)
                if not self.rang:
                    self.rang = True
                    self.ctx.emit(CallRinging(self.id, b.peer_name, wall, now - self.started))
            return
        if s < 300:
            if b is self.winner or b.ack is not None:
                if b.ack is not None:
                    self.ctx.send(b.ack, b.dest)  # our ACK was lost: the 2xx came again
                return
            b.learn_from_response(resp)
            b.final = s
            if self.state is CallState.SETUP and not b.cancel_wanted:
                self._answer(b, resp, now, wall)
            else:
                # Lost the race (or the call is over): a 2xx must be ACKed, then the dialog ended.
                assert b.invite is not None
                self.ctx.send(b.ack_for(b.invite), b.dest)
                logger.info("late_answer_released", call_id=self.id, leg=b.id)
                self._bye(b, now)
            return
        b.final = s
        b.to(LegState.ENDED)
        self._b_failed(b, s, now, wall)

    def on_b_timeout(self, b: Leg, now: float, wall: float) -> None:
        """Timer B: the contact never answered at all (it is treated as a 408)."""
        if b.state in (LegState.TRYING, LegState.EARLY, LegState.TERMINATING):
            b.final = 408
            b.to(LegState.ENDED)
            self._b_failed(b, 408, now, wall)

    def _b_failed(self, b: Leg, status: int, now: float, wall: float) -> None:
        if self.state is not CallState.SETUP:
            return
        if status >= 600:
            self._fail_a(status, now, wall)
        elif not any(x.live for x in self.bs):
            self._fail_a(best_final([x.final or 480 for x in self.bs]), now, wall)

    def _fail_a(self, status: int, now: float, wall: float) -> None:
        self._respond_a(status, now)
        self.a.to(LegState.ENDED)
        for b in self.bs:
            self._cancel_leg(b, now)
        self._end(REASON_BY_STATUS.get(status, f"failed_{status}"), now, wall)

    def _answer(self, b: Leg, resp: Response, now: float, wall: float) -> None:
        self.winner = b
        b.to(LegState.CONFIRMED)
        self.to(CallState.ANSWERED)
        self.answered_wall = wall
        self.ctx.disarm(self, "ring")
        a, inv = self.a, b.invite
        assert a.invite is not None and inv is not None
        ok = self._respond_a(200, now, resp.reason, resp)
        a.to(LegState.CONFIRMED)
        peer_ack: tuple[Leg, Request] | None = None
        if a.invite.body:
            self.ctx.send(b.ack_for(inv), b.dest)
        else:
            peer_ack = (b, inv)  # delayed offer: B's 2xx has it, A's ACK will carry the answer
        self._send_2xx(a, a.invite_key, ok, a.invite.cseq.number, now, peer_ack)
        self._watch_session(resp, now)
        for other in self.bs:
            if other is not b:
                self._cancel_leg(other, now)
        self.ctx.emit(CallAnswered(self.id, b.peer_name, wall, now - self.started))
        logger.info("call_answered", call_id=self.id, leg=b.id, device=b.peer_name)

    # --- caller gives up, ring timeout ---------------------------------------------------------
    def cancel_by_caller(self, now: float, wall: float) -> None:
        if self.state is CallState.SETUP:
            self.hangup("cancelled", now, wall)

    def on_timer(self, kind: str, now: float, wall: float) -> None:
        if kind == "ring":
            if self.state is CallState.SETUP:
                self.hangup("no_answer", now, wall)
        elif kind == "session":
            if self.state is CallState.ANSWERED:
                logger.info("session_expired", call_id=self.id)  # nobody refreshed (RFC 4028 10)
                self.hangup("session_expired", now, wall)
        elif kind == "reap":
            for leg in self.legs:
                leg.to(LegState.ENDED)  # a phone never finished its CANCEL or BYE transaction
        elif kind.startswith("2xx:"):
            which = next((x for x in self.legs if f"2xx:{x.id}" == kind), None)
            if which is not None and which.unacked is not None:
                self._retransmit_2xx(which, now, wall)

    def _retransmit_2xx(self, leg: Leg, now: float, wall: float) -> None:
        u = leg.unacked
        assert u is not None
        if now >= u.give_up_at:
            logger.warning("ack_timeout", call_id=self.id, leg=leg.id)
            self.hangup("ack_timeout", now, wall)
            return
        self.ctx.respond(u.server_key, u.response, now)
        u.interval = min(2 * u.interval, self.ctx.timers.t2)
        u.next_at = now + u.interval
        self.ctx.arm(self, f"2xx:{leg.id}", min(u.next_at, u.give_up_at))

    # --- in-dialog requests ---------------------------------------------------------------------
    def on_ack(self, leg: Leg, ack: Request) -> None:
        u = leg.unacked
        if u is None or u.cseq != ack.cseq.number:
            return
        leg.unacked = None
        self.ctx.disarm(self, f"2xx:{leg.id}")
        if u.peer_ack is not None:
            peer, inv = u.peer_ack
            self.ctx.send(peer.ack_for(inv, ack.body, content_headers(ack)), peer.dest)

    def on_bye(self, leg: Leg, req: Request, key: str, now: float, wall: float) -> None:
        self.ctx.respond(key, make_response(req, 200, extra=[("server", self.server)]), now)
        if leg is self.a and self.state is CallState.SETUP:
            self.hangup("cancelled", now, wall)  # a BYE in the caller's early dialog (15)
            return
        # An originated call's A leg is one the PBX dialled (role UAC, click-to-dial, call-back):
        # its BYE ends the call like any caller's.
        if leg.role is Role.UAC and leg is not self.winner and leg is not self.a:
            self._cancel_leg(leg, now)  # a callee may not BYE an early dialog; stop ringing it
            if leg.state is LegState.TERMINATING and leg.ack is not None:
                leg.to(LegState.ENDED)
            return
        self._stop_2xx(leg)
        leg.to(LegState.ENDED)
        self.hangup("caller_hangup" if leg is self.a else "callee_hangup", now, wall, skip=leg)

    def on_in_dialog(self, leg: Leg, req: Request, key: str, now: float) -> None:
        """re-INVITE, UPDATE or INFO: relayed to the other leg as a request of its own dialog."""
        m = req.method
        other = self.peer(leg) if self.state is CallState.ANSWERED else None
        status = 0
        if other is None or other.state is not LegState.CONFIRMED or leg.state is not LegState.CONFIRMED:
            status = 501 if m == "INFO" else 491  # early dialogs: not relayed (see docs/calls.md)
        elif m in ("INVITE", "UPDATE") and self.reinvite_pending:
            status = 491  # 14.1: an offer is already under way in this call
        elif m in ("INVITE", "UPDATE") and leg.offer_cseq is not None:
            status = 491  # 14.2 glare: our own re-INVITE in this very dialog is under way
        elif m in ("INVITE", "UPDATE") and other is not None and other.offer_cseq is not None:
            # our own re-INVITE on the other dialog (the music-on-hold offer) has no final response
            # yet; relaying now would put a second INVITE transaction in that dialog (14.1): this
            # one waits for it (offer_done), a further one gets 491
            if self.deferred is None:
                self.deferred = (leg, req, key)
                if m == "INVITE":  # no more retransmissions from the phone meanwhile
                    self.ctx.respond(key, make_response(req, 100, extra=[("server", self.server)]), now)
                return
            status = 491
        if status:
            extra = [("server", self.server)] + ([("retry-after", "1")] if status == 491 else [])
            self.ctx.respond(key, make_response(req, status, extra=extra), now)
            return
        assert other is not None
        if m == "INVITE" and self.ctx.moh_on_hold:
            if self.hold is None:
                self.hold = HoldControl(self, self.ctx.moh_language)
            if self.hold.on_reinvite(leg, other, req, key, now):
                return  # the PBX answered it and plays music to the held party
        if m in ("INVITE", "UPDATE"):
            leg.refresh_target(req)
            self.reinvite_pending = True
        extra = content_headers(req) + [(k, v) for k, v in req.headers if k in RELAYED_HEADERS]
        extra += session_headers(req)
        if m == "INVITE":
            extra.append(("allow", ALLOW))
        sent = other.request(m, req.body, extra)
        self.ctx.send_request(Pending("relay", self, other, sent, req, key, leg), now)

    def on_relay_response(self, p: Pending, resp: Response, now: float, wall: float) -> None:
        s = resp.status
        origin, back = p.origin, p.origin_leg
        assert origin is not None and back is not None
        if s < 200:
            return
        if p.answered:
            if p.sent.method == "INVITE" and s < 300 and p.leg.ack is not None:
                self.ctx.send(p.leg.ack, p.leg.dest)  # the 2xx again: our ACK was lost
            return
        p.answered = True
        if p.sent.method in ("INVITE", "UPDATE"):
            self.reinvite_pending = False
        extra = [("server", self.server), *content_headers(resp)]
        if s < 300 and p.sent.method in ("INVITE", "UPDATE"):
            p.leg.refresh_target(resp)
            extra.insert(0, ("contact", back.contact))
            extra += session_headers(resp)
            self._watch_session(resp, now)
        out = make_response(origin, s, resp.reason, extra=extra, body=resp.body)
        self.ctx.respond(p.origin_key, out, now)
        if p.sent.method == "INVITE" and s < 300:
            if self.hold is not None:
                self.hold.relayed_ok()
            peer_ack: tuple[Leg, Request] | None = None
            if origin.body:
                self.ctx.send(p.leg.ack_for(p.sent), p.leg.dest)
            else:
                peer_ack = (p.leg, p.sent)
            self._send_2xx(back, p.origin_key, out, origin.cseq.number, now, peer_ack)
        if s in (408, 481) and self.state is CallState.ANSWERED:
            p.leg.to(LegState.ENDED)  # 12.2.1.2: that dialog is gone
            self._stop_2xx(p.leg)
            self.hangup("dialog_lost", now, wall, skip=p.leg)

    def offer_done(self, leg: Leg, sent: Request, status: int | None, now: float, wall: float) -> None:
        """Our re-INVITE `sent` on `leg` got its final response (`status`; None: none came). Its
        ACK, for a 2xx, went out in this same step; a deferred re-INVITE may go now."""
        if status is not None and status < 200:
            return
        if leg.offer_cseq == sent.cseq.number:
            leg.offer_cseq = None
        d = self.deferred
        if d is None:
            return
        self.deferred = None
        origin, req, key = d
        if self.state is not CallState.ANSWERED or not origin.live:
            self.ctx.respond(key, make_response(req, 481, extra=[("server", self.server)]), now)
            return
        self.on_in_dialog(origin, req, key, now)

    def on_relay_timeout(self, p: Pending, now: float, wall: float) -> None:
        if p.answered or p.origin is None:
            return
        p.answered = True
        self.reinvite_pending = False
        self.ctx.respond(p.origin_key, make_response(p.origin, 408, extra=[("server", self.server)]), now)
        if self.state is CallState.ANSWERED and p.leg.live:
            p.leg.to(LegState.ENDED)
            self._stop_2xx(p.leg)
            self.hangup("dialog_lost", now, wall, skip=p.leg)
