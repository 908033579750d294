# How this works
# --------------
# An application call is a call the PBX answers itself: an announcement, an IVR menu, a number
# entry (and later queues, hotdesk prompts, voicemail-less closures). The caller's INVITE is
# answered 200 with the PBX's own SDP (pbx.media.sdp: G.711 + telephone-event), the 2xx is
# re-sent until the ACK (RFC 3261 13.3.1.4), and the media shell is asked to open an RTP session
# (`MediaOpen`) on a port from the pool. A `Program` (pbx.ivr) then decides what is played and
# what the caller's digits do; its commands are run here:
#   Play -> MediaPlay (a non-interruptible play holds back the commands after it until it ends),
#   StopPlay, Attach (data kept with the call), SetVar (a call variable the dialplan reads:
#   ${COLLECTED}), Hangup -> BYE, Goto -> route the dialled number (or the digits a collect gave,
#   which become the dialled number) in that context: another program, or ring someone: then the
#   PBX dials the target without SDP and joins the two with a re-INVITE of the caller (the
#   originate flow, pbx.calls.originate), after which it is an ordinary call and the PBX's media
#   is closed.
# Digits arrive as RFC 4733 events or in-band (media shell) or SIP INFO (here); all the same.
"""Calls the PBX answers itself and runs a program on (announcements, IVR, number entry)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx import log
from pbx.calls.call import ALLOW, CallEnded
from pbx.calls.leg import Leg, LegState
from pbx.calls.queues import Enqueue, RequestCallback, RunAcd, confirmation
from pbx.ivr.program import Attach, Command, Emit, Goto, Hangup, Play, Program, SetVar, StopPlay
from pbx.media import sdp
from pbx.media.effects import MediaClose, MediaOpen, MediaPlay, MediaStopPlay, MediaUpdate
from pbx.sip.message import Request, make_response

if TYPE_CHECKING:
    from pbx.calls.manager import CallManager
    from pbx.calls.originate import OriginateFlow
    from pbx.calls.routing import Caller

logger = log.get("pbx.calls")

AppCommand = Command | Enqueue | RunAcd | RequestCallback


class AppState(enum.Enum):
    ANSWERED = "answered"  # 200 sent, waiting for the ACK
    RUNNING = "running"
    BRIDGING = "bridging"  # handed to the originate flow to reach a person
    ENDED = "ended"


@dataclass(eq=False)
class AppCall:
    id: str
    leg: Leg
    caller: str
    dialled: str
    language: str
    port: int
    program: Program
    started: float
    started_wall: float
    negotiated: sdp.Negotiated | None = None
    state: AppState = AppState.ANSWERED
    sdp_version: int = 1
    ok: bytes = b""  # our 200, re-sent until the ACK
    resend_at: float | None = None
    resend_interval: float = 0.5
    give_up_at: float = 0.0
    plays: set[int] = field(default_factory=set)  # play ids under way
    interruptible: bool = True
    held_back: list[AppCommand] = field(default_factory=list)  # after a non-interruptible play
    data: dict[str, object] = field(default_factory=dict)  # attached (number entry, ...)
    context: str | None = None  # the context a Goto went to (routing of the dialled number)
    variables: dict[str, str] = field(default_factory=dict)  # ${CALLERID}, ${COLLECTED}, ...

    @property
    def session(self) -> str:
        return self.id

    def next_deadline(self) -> float | None:
        ds = [d for d in (self.resend_at, self.program.deadline) if d is not None]
        return min(ds) if ds else None


class AppFlow:
    """Runs one application call; the manager routes its SIP and media events here."""

    _play_ids = 0

    def __init__(self, mgr: CallManager, app: AppCall) -> None:
        self.mgr = mgr
        self.app = app
        self.caller: Caller  # set by the manager: whose call it is (routing of a Goto)
        self.bridge: OriginateFlow | None = None
        app.variables.setdefault("CALLERID", app.caller)
        self.adopt(app.program)

    def adopt(self, program: Program) -> Program:
        """Make `program` the one this call runs (the first, or one a Goto reached)."""
        app = self.app
        program.wall_offset = app.started_wall - app.started
        program.language = app.language
        app.program = program
        return program

    def bridging(self) -> None:
        """A Goto reached a person: the caller hears music until the target answers."""
        app = self.app
        app.state = AppState.BRIDGING
        app.program.deadline = None
        app.held_back = []
        AppFlow._play_ids += 1
        self.mgr.emit(MediaStopPlay(app.session))
        self.mgr.emit(MediaPlay(app.session, AppFlow._play_ids, ("moh:default",), loop=True))

    def close(self) -> None:
        """The media part is over (the call was joined to a person, or failed): forget it quietly;
        the call's own events come from the bridge."""
        app = self.app
        if app.state is AppState.ENDED:
            return
        app.state = AppState.ENDED
        app.resend_at = None
        self.mgr.emit(MediaClose(app.session))
        self.mgr.app_ended(self)

    # --- answering ---------------------------------------------------------------------------------
    def answer(self, now: float) -> bool:
        """200 with our SDP; False when the offer has nothing the PBX can play (caller gets 488)."""
        app, leg = self.app, self.leg
        inv = leg.invite
        assert inv is not None
        host = self.mgr.media_host(leg)
        if inv.body:
            desc = sdp.parse(inv.body)
            found = sdp.answer(desc, host, app.port, int(app.started), 1) if desc is not None else None
            if found is None:
                return False
            body, app.negotiated = found
        else:
            body = sdp.offer(host, app.port, int(app.started), 1)  # the answer comes in the ACK
        extra = [("contact", leg.contact), ("allow", ALLOW), ("server", self.mgr.server),
                 ("content-type", "application/sdp")]  # fmt: skip
        resp = make_response(inv, 200, to_tag=leg.local_tag, extra=extra, body=body)
        self.mgr.respond(leg.invite_key, resp, now)
        leg.to(LegState.CONFIRMED)
        app.ok = resp.render()
        t = self.mgr.timers
        app.resend_interval = t.t1
        app.resend_at = now + (t.timeout if leg.dest.reliable else t.t1)
        app.give_up_at = now + t.timeout
        if app.negotiated is not None:
            self._open()
        return True

    @property
    def leg(self) -> Leg:
        return self.app.leg

    def _open(self) -> None:
        app, n = self.app, self.app.negotiated
        assert n is not None
        host = self.mgr.media_host(self.leg)
        self.mgr.emit(MediaOpen(app.session, host, app.port, n.remote_host, n.remote_port, n.payload_type,
                                n.dtmf_pt, app.language))  # fmt: skip

    def on_ack(self, ack: Request, now: float, wall: float) -> None:
        app = self.app
        if app.state is not AppState.ANSWERED:
            return
        app.resend_at = None
        if app.negotiated is None:  # delayed offer: the ACK carries the caller's answer
            desc = sdp.parse(ack.body) if ack.body else None
            found = sdp.negotiate(desc) if desc is not None else None
            if found is None:
                self.hangup("failed_488", now, wall)
                return
            app.negotiated = found[1]
            self._open()
        app.state = AppState.RUNNING
        # call_answered_by_pbx said it at info already
        logger.debug("app_call_running", call_id=app.id, program=type(app.program).__name__)
        self.run(app.program.start(now), now, wall)

    # --- running the program ------------------------------------------------------------------------
    def run(self, commands: Sequence[AppCommand], now: float, wall: float) -> None:
        app = self.app
        for i, cmd in enumerate(commands):
            if app.state not in (AppState.RUNNING,):
                return
            if isinstance(cmd, Play):
                AppFlow._play_ids += 1
                pid = AppFlow._play_ids
                app.plays.add(pid)
                app.interruptible = cmd.interruptible
                self.mgr.emit(MediaPlay(app.session, pid, self._localised(cmd.prompts), cmd.loop))
                if not cmd.interruptible and i + 1 < len(commands):
                    app.held_back = list(commands[i + 1 :])
                    return
            elif isinstance(cmd, StopPlay):
                app.plays.clear()
                self.mgr.emit(MediaStopPlay(app.session))
            elif isinstance(cmd, Emit):
                for effect in cmd.effects:
                    self.mgr.emit(effect)
            elif isinstance(cmd, Attach):
                app.data[cmd.key] = cmd.value
                logger.info("app_call_data", call_id=app.id, key=cmd.key, value=cmd.value)
            elif isinstance(cmd, Hangup):
                self.hangup("completed", now, wall)
            elif isinstance(cmd, SetVar):
                app.variables[cmd.name] = cmd.value
                logger.info("app_call_variable", call_id=app.id, name=cmd.name, value=cmd.value)
            elif isinstance(cmd, Goto):
                if cmd.dialled is not None:
                    app.dialled = cmd.dialled  # collected digits are routed from now on (${EXTEN})
                self.mgr.app_goto(self, cmd.context, now, wall)
            elif isinstance(cmd, Enqueue) and self.mgr.queues is not None:
                self.mgr.queues.enqueue(self, cmd.queue, now, wall)
            elif isinstance(cmd, RequestCallback) and self.mgr.queues is not None:
                self.mgr.queues.request_callback(self, cmd.queue, now, wall)
            elif isinstance(cmd, RunAcd) and self.mgr.queues is not None:
                effects = self.mgr.queues.handle(cmd.command, now, wall)
                agent = getattr(cmd.command, "agent", "")
                numbers = {q.name: q.number for q in self.mgr.config.queues}
                said = confirmation(effects, agent, numbers, app.language)
                self.run([Play(said, interruptible=False), Hangup()], now, wall)
                return

    def _localised(self, prompts: tuple[str, ...]) -> tuple[str, ...]:
        return prompts  # the media shell picks the language of the session (MediaOpen.language)

    def on_play_done(self, play_id: int, now: float, wall: float) -> None:
        app = self.app
        if play_id not in app.plays:
            return
        app.plays.discard(play_id)
        if app.plays:
            return
        app.interruptible = True
        if app.held_back:
            commands, app.held_back = app.held_back, []
            self.run(commands, now, wall)
        if app.state is AppState.RUNNING and not app.plays:
            self.run(app.program.on_play_done(now), now, wall)

    def on_digit(self, digit: str, now: float, wall: float) -> None:
        app = self.app
        if app.state is not AppState.RUNNING or not app.interruptible or app.held_back:
            return  # a non-interruptible prompt is playing: keys are ignored until it ends
        logger.info("app_call_digit", call_id=app.id, digit=digit)
        self.run(app.program.on_digit(digit, now), now, wall)

    def on_timer(self, now: float, wall: float) -> None:
        app = self.app
        if app.resend_at is not None and app.resend_at <= now:
            if now >= app.give_up_at:
                app.resend_at = None
                self.hangup("ack_timeout", now, wall)
                return
            self.mgr.send(app.ok, self.leg.dest)
            app.resend_interval = min(app.resend_interval * 2, self.mgr.timers.t2)
            app.resend_at = min(now + app.resend_interval, app.give_up_at)
        if app.state is AppState.RUNNING and app.program.deadline is not None and app.program.deadline <= now:
            self.run(app.program.on_timer(now), now, wall)

    # --- in-dialog requests -------------------------------------------------------------------------
    def on_request(self, req: Request, key: str, now: float, wall: float) -> None:
        app, m = self.app, req.method
        if m == "BYE":
            self._reply(req, 200, now)
            self.leg.to(LegState.ENDED)
            self._end("caller_hangup", now, wall)
        elif m == "INFO":
            digit = _info_digit(req)
            self._reply(req, 200 if digit is not None or not req.body else 415, now)
            if digit is not None:
                self.on_digit(digit, now, wall)
        elif m in ("INVITE", "UPDATE"):
            self._reoffer(req, now)
        elif m == "OPTIONS":
            self._reply(req, 200, now)
        else:
            self._reply(req, 501, now)
        _ = app

    def _reoffer(self, req: Request, now: float) -> None:
        """A re-INVITE/UPDATE (hold, a new address): answer with our SDP, follow the peer."""
        app, leg = self.app, self.leg
        leg.refresh_target(req)
        host = self.mgr.media_host(leg)
        app.sdp_version += 1
        body = sdp.offer(host, app.port, int(app.started), app.sdp_version)
        if req.body:
            desc = sdp.parse(req.body)
            found = sdp.answer(desc, host, app.port, int(app.started), app.sdp_version) if desc else None
            if found is None:
                self._reply(req, 488, now)
                return
            body, n = found
            old = app.negotiated
            if old is None or (n.remote_host, n.remote_port, n.payload_type) != (
                old.remote_host,
                old.remote_port,
                old.payload_type,
            ):
                self.mgr.emit(
                    MediaUpdate(app.session, n.remote_host, n.remote_port, n.payload_type, n.dtmf_pt)
                )
            app.negotiated = n
        extra = [("contact", leg.contact), ("allow", ALLOW), ("server", self.mgr.server),
                 ("content-type", "application/sdp")]  # fmt: skip
        self.mgr.respond_request(req, make_response(req, 200, extra=extra, body=body), now)

    def _reply(self, req: Request, status: int, now: float) -> None:
        self.mgr.respond_request(req, make_response(req, status, extra=[("server", self.mgr.server)]), now)

    # --- endings --------------------------------------------------------------------------------------
    def hangup(self, reason: str, now: float, wall: float) -> None:
        if self.app.state is AppState.ENDED:
            return
        if self.leg.state is LegState.CONFIRMED:
            self.leg.to(LegState.TERMINATING)
            self.mgr.send_app_bye(self, self.leg.request("BYE"), now)
        self._end(reason, now, wall)

    def _end(self, reason: str, now: float, wall: float) -> None:
        app = self.app
        if app.state is AppState.ENDED:
            return
        app.state = AppState.ENDED
        app.resend_at = None
        app.program.deadline = None
        self.mgr.emit(MediaClose(app.session))
        self.mgr.emit(CallEnded(app.id, reason, wall))
        self.mgr.app_ended(self, now, wall)
        logger.info("call_ended", call_id=app.id, reason=reason, data=app.data or None)


def _info_digit(req: Request) -> str | None:
    """SIP INFO DTMF: `application/dtmf-relay` (Signal=5) or `application/dtmf` (5)."""
    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    text = req.body.decode("ascii", "replace")
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                v = value.strip().upper()
                return v if len(v) == 1 and v in "0123456789*#ABCD" else None
        return None
    if ctype == "application/dtmf":
        v = text.strip().upper()
        return v if len(v) == 1 and v in "0123456789*#ABCD" else None
    return None
