# How this works
# --------------
# Click-to-dial (`POST /api/calls`, as the 8x8 console does): the PBX rings the user's own phone
# first and, once the user answers, dials the target. The PBX has no media of its own yet, so it
# uses third-party call control without a media server (RFC 3725, close to its flow I):
#
#   1. INVITE without SDP to every registered contact of the user (parallel fork). The first 200
#      carries the phone's offer; the PBX ACKs it at once with an answer that puts every stream
#      on hold (`a=inactive`, see sdp.inactive_answer), so the phone waits in silence and its 200
#      is never left un-ACKed (a phone gives up after 64*T1). The other contacts get CANCEL.
#   2. INVITE without SDP to the target (the user's dialplan decides: users' phones or a trunk).
#      Its 200 carries the target's offer; that 200 is not ACKed yet.
#   3. re-INVITE to the user's phone with the target's offer; the phone's 200 has the answer:
#      the PBX ACKs it, and ACKs the target's 200 with that answer. Media now flows directly.
#   4. The two dialogs become an ordinary answered `Call` (user leg as A, target leg as the
#      winner), so BYE, re-INVITE, UPDATE and INFO are relayed as for any call.
# Failures: the user does not answer (ring timeout) or declines -> the originate fails; the
# target fails, times out or the re-INVITE fails -> BYE to the user's phone (and to the target
# if it had answered).
"""Originate (click-to-dial): ring the user's phone, then dial the target, then bridge them."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx import log
from pbx.calls.call import CallAnswered, CallEnded, CallStarted
from pbx.calls.leg import Leg, LegState, content_headers
from pbx.calls.sdp import inactive_answer
from pbx.sip.message import Request, Response

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager
    from pbx.calls.routing import Caller, Resolution

logger = log.get("pbx.calls")


class Phase(enum.Enum):
    RINGING_USER = "ringing_user"
    DIALLING = "dialling"  # the user answered; the target is being rung
    CONNECTING = "connecting"  # the target answered; re-INVITE to the user's phone under way
    DONE = "done"  # handed over to a Call
    FAILED = "failed"


@dataclass(eq=False)
class Originate:
    id: str
    user: str
    dialled: str
    started: float
    started_wall: float
    user_legs: list[Leg] = field(default_factory=list)
    target_legs: list[Leg] = field(default_factory=list)
    user_leg: Leg | None = None  # the contact that answered
    target_leg: Leg | None = None  # the target leg that answered
    target_ok: Response | None = None  # its 200, ACKed once the user's phone has answered
    phase: Phase = Phase.RINGING_USER
    deadline: float | None = None
    reason: str | None = None
    direction: str = "internal"
    trunk: str | None = None
    pending: set[str] = field(default_factory=set)  # our client transaction keys
    call_id: str = ""  # the Call it becomes once joined (default: `id`); queue offers share one
    offer_agent: str | None = None  # a queue offer to this agent: the caller stays if it fails
    callback_of: str | None = None  # a call-back: the "user" is the agent, the target the customer

    def __post_init__(self) -> None:
        if not self.call_id:
            self.call_id = self.id

    @property
    def legs(self) -> list[Leg]:
        return [*self.user_legs, *self.target_legs]

    @property
    def over(self) -> bool:
        return self.phase in (Phase.DONE, Phase.FAILED)


class OriginateFlow:
    """The steps of one originate; the manager routes its transactions' events here."""

    def __init__(self, mgr: CallManager, o: Originate) -> None:
        self.mgr = mgr
        self.o = o
        self.target: tuple[Resolution, Caller]  # what the user's dialplan said, and as whom

    # --- phase 1: the user's phone -----------------------------------------------------------
    def start(self, now: float, wall: float) -> None:
        o = self.o
        for leg in o.user_legs:
            self.invite(leg, [], now)
        o.deadline = now + self.mgr.ring_timeout
        devices = tuple(x.peer_name for x in o.user_legs)
        # Under the id of the Call it becomes (a call-back's is the call-back's id, not `id`), so
        # that its CallAnswered and the Call's CallEnded close the same history record.
        self.mgr.emit(CallStarted(o.call_id, o.user, o.dialled, wall, caller_device=devices[0],
                                  devices=devices, direction=o.direction))  # fmt: skip
        logger.info("originate_started", call_id=o.id, user=o.user, dialled=o.dialled, legs=len(o.user_legs))

    def invite(self, leg: Leg, extra: list[tuple[str, str]], now: float) -> None:
        """The INVITE (without SDP) that opens `leg`; again, with credentials, after a 401/407."""
        req = leg.request("INVITE", b"", extra)
        leg.invite = req
        key = self.mgr.originator.send(self, leg, req, now)
        leg.invite_key = key

    def on_response(self, leg: Leg, sent: Request, resp: Response, now: float, wall: float) -> None:
        o = self.o
        if (
            sent.method == "INVITE"
            and leg is o.user_leg
            and o.phase is Phase.CONNECTING
            and sent is not leg.invite
        ):
            self._reinvite_answered(sent, resp, now, wall)
        elif sent.method == "INVITE" and leg in o.user_legs:
            self._user_response(leg, resp, now, wall)
        elif sent.method == "INVITE" and leg in o.target_legs:
            self._target_response(leg, sent, resp, now, wall)
        elif sent.method in ("BYE", "CANCEL") and resp.status >= 200 and leg.state is LegState.TERMINATING:
            leg.to(LegState.ENDED)

    def on_timeout(self, leg: Leg, sent: Request, now: float, wall: float) -> None:
        o = self.o
        if (
            sent.method == "INVITE"
            and leg is o.user_leg
            and o.phase is Phase.CONNECTING
            and sent is not leg.invite
        ):
            self._reinvite_answered(sent, None, now, wall)
        elif sent.method == "INVITE" and leg.state in (LegState.TRYING, LegState.EARLY, LegState.TERMINATING):
            leg.final = 408
            leg.to(LegState.ENDED)
            self._check_all_failed(now, wall)
        elif leg.state is LegState.TERMINATING:
            leg.to(LegState.ENDED)

    def _user_response(self, leg: Leg, resp: Response, now: float, wall: float) -> None:
        o, s = self.o, resp.status
        if s < 200:
            self._provisional(leg, resp, now)
            return
        if s >= 300:
            leg.final = s
            leg.to(LegState.ENDED)
            self._check_all_failed(now, wall)
            return
        if leg.ack is not None:
            self.mgr.send(leg.ack, leg.dest)  # our ACK was lost
            return
        leg.learn_from_response(resp)
        assert leg.invite is not None
        body = inactive_answer(resp.body, int(now)) if resp.body else b""
        ctype = [("content-type", "application/sdp")] if body else []
        self.mgr.send(leg.ack_for(leg.invite, body, ctype), leg.dest)
        if o.phase is not Phase.RINGING_USER or leg.cancel_wanted:
            self._bye(leg, now)  # lost the race, or the originate was abandoned
            return
        o.user_leg = leg
        leg.to(LegState.CONFIRMED)
        for other in o.user_legs:
            if other is not leg:
                self._cancel(other, now)
        o.phase = Phase.DIALLING
        o.deadline = now + self.mgr.ring_timeout
        if o.callback_of is not None:
            self.mgr.originator.callback_event(self, "agent_answered", now, wall)
        self.mgr.originator.dial_target(self, now)
        if not o.target_legs:
            self.fail("unavailable", now, wall)
        logger.info("originate_user_answered", call_id=o.id, device=leg.peer_name)

    def _provisional(self, leg: Leg, resp: Response, now: float) -> None:
        leg.provisional = True
        if leg.cancel_wanted:
            self._send_cancel(leg, now)  # 9.1: a CANCEL had to wait for this 1xx
        elif resp.status > 100:
            leg.learn_from_response(resp)
            if leg.remote_tag is not None and leg.state is LegState.TRYING:
                leg.to(LegState.EARLY)

    # --- phase 2: the target -------------------------------------------------------------------
    def _target_response(self, leg: Leg, sent: Request, resp: Response, now: float, wall: float) -> None:
        o, s = self.o, resp.status
        if s < 200:
            self._provisional(leg, resp, now)
            return
        if s >= 300:
            if s in (401, 407) and self.mgr.originator.retry_with_credentials(self, leg, sent, resp, now):
                return
            leg.final = s
            leg.to(LegState.ENDED)
            self._check_all_failed(now, wall)
            return
        if leg is o.target_leg or leg.ack is not None:
            if leg.ack is not None:
                self.mgr.send(leg.ack, leg.dest)
            return  # a re-sent 200 while the user's phone is being re-INVITEd: ACKed then
        leg.learn_from_response(resp)
        if o.phase is not Phase.DIALLING or leg.cancel_wanted:
            assert leg.invite is not None
            self.mgr.send(leg.ack_for(leg.invite), leg.dest)
            self._bye(leg, now)
            return
        o.target_leg, o.target_ok = leg, resp
        if o.offer_agent is not None:
            self.mgr.originator.offer_answered(
                self, now, wall
            )  # the ACD hears of it before the caller is joined
        leg.to(LegState.CONFIRMED)
        for other in o.target_legs:
            if other is not leg:
                self._cancel(other, now)
        o.phase = Phase.CONNECTING
        o.deadline = None
        user = o.user_leg
        assert user is not None
        req = user.request("INVITE", resp.body, content_headers(resp))
        self.mgr.originator.send(self, user, req, now)

    # --- phase 3: the user's phone gets the target's SDP ----------------------------------------
    def _reinvite_answered(self, sent: Request, resp: Response | None, now: float, wall: float) -> None:
        o = self.o
        user, target, ok = o.user_leg, o.target_leg, o.target_ok
        assert user is not None and target is not None and ok is not None and target.invite is not None
        if resp is not None and resp.status < 200:
            return
        if resp is not None and 200 <= resp.status < 300:
            user.refresh_target(resp)
            self.mgr.send(user.ack_for(sent), user.dest)
            self.mgr.send(target.ack_for(target.invite, resp.body, content_headers(resp)), target.dest)
            o.phase = Phase.DONE
            self.mgr.originator.originate_connected(self, now, wall)
            return
        # the phone refused the target's SDP (or never answered): release both
        self.mgr.send(target.ack_for(target.invite), target.dest)
        self._bye(target, now)
        if o.offer_agent is not None:  # a queue caller whose phone refused the agent's SDP waits on
            o.phase, o.reason = Phase.FAILED, "failed_media"
            self.mgr.originator.offer_failed(self, "failed_media", now, wall)
            return
        self._bye(user, now)
        self._finish("failed_media" if resp is not None else "failed_408", wall)

    # --- endings ---------------------------------------------------------------------------------
    def _check_all_failed(self, now: float, wall: float) -> None:
        o = self.o
        if o.phase is Phase.RINGING_USER and not any(x.live for x in o.user_legs):
            statuses = [x.final or 480 for x in o.user_legs]
            self._finish("busy" if 486 in statuses else "declined" if 603 in statuses else "no_answer", wall)
        elif o.phase is Phase.DIALLING and not any(x.live for x in o.target_legs):
            statuses = [x.final or 480 for x in o.target_legs]
            reason = "busy" if 486 in statuses else "declined" if 603 in statuses else "unavailable"
            if o.offer_agent is not None:
                self.withdraw(reason, now, wall)
                self.mgr.originator.offer_failed(self, reason, now, wall)
                return
            self.fail(reason, now, wall)

    def fail(self, reason: str, now: float, wall: float) -> None:
        """Give up: CANCEL what rings, BYE what is up."""
        o = self.o
        if o.over:
            return
        for leg in o.legs:
            if leg.state is LegState.CONFIRMED:
                if leg is o.target_leg and o.phase is Phase.CONNECTING and leg.invite is not None:
                    self.mgr.send(leg.ack_for(leg.invite), leg.dest)
                self._bye(leg, now)
            else:
                self._cancel(leg, now)
        self._finish(reason, wall)

    def withdraw(self, reason: str, now: float, wall: float) -> None:
        """A queue offer ends (cancelled, failed): its agent legs go; the caller stays."""
        o = self.o
        if o.over:
            return
        for leg in o.target_legs:
            if leg.state is LegState.CONFIRMED:
                if o.phase is Phase.CONNECTING and leg.invite is not None and leg.ack is None:
                    self.mgr.send(leg.ack_for(leg.invite), leg.dest)
                self._bye(leg, now)
            else:
                self._cancel(leg, now)
        o.phase, o.reason, o.deadline = Phase.FAILED, reason, None
        logger.info("offer_withdrawn", call_id=o.call_id, agent=o.offer_agent, reason=reason)

    def abandon(self, reason: str, now: float, wall: float) -> None:
        """Stop ringing the first party quietly (a call-back offer the ACD withdrew)."""
        o = self.o
        if o.over:
            return
        for leg in o.user_legs:
            self._cancel(leg, now)
        o.phase, o.reason, o.deadline = Phase.FAILED, reason, None

    def on_deadline(self, now: float, wall: float) -> None:
        self.o.deadline = None
        if self.o.phase in (Phase.RINGING_USER, Phase.DIALLING):
            self.fail("no_answer", now, wall)

    def _finish(self, reason: str, wall: float) -> None:
        o = self.o
        o.phase, o.reason, o.deadline = Phase.FAILED, reason, None
        if o.callback_of is not None:
            what = "agent_failed" if o.user_leg is None else "customer_failed"
            self.mgr.originator.callback_event(self, what, None, wall, reason)
        # A queue offer that fails ends only the agent's side: the caller's record stays open.
        self.mgr.emit(CallEnded(o.id if o.offer_agent is not None else o.call_id, reason, wall))
        logger.info("originate_failed", call_id=o.id, reason=reason)

    def _cancel(self, leg: Leg, now: float) -> None:
        if leg.state not in (LegState.TRYING, LegState.EARLY):
            return
        leg.cancel_wanted = True
        leg.to(LegState.TERMINATING)
        if leg.provisional:
            self._send_cancel(leg, now)

    def _send_cancel(self, leg: Leg, now: float) -> None:
        if not leg.cancel_sent:
            leg.cancel_sent = True
            self.mgr.originator.send(self, leg, leg.cancel(), now)

    def _bye(self, leg: Leg, now: float) -> None:
        if leg.state in (LegState.TERMINATING, LegState.ENDED):
            return
        leg.to(LegState.TERMINATING)
        self.mgr.originator.send(self, leg, leg.request("BYE"), now)

    def answered_event(self, wall: float, now: float) -> CallAnswered:
        t = self.o.target_leg
        return CallAnswered(self.o.call_id, t.peer_name if t is not None else "", wall, now - self.o.started)


def new_originate_id() -> str:
    return secrets.token_hex(8)
