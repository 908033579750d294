# How this works
# --------------
# Music on hold for a held party (SPEC 3, issue 5 "Hold"). Media flows phone to phone; when one
# side holds (a re-INVITE whose offer is sendonly or inactive, or an RFC 2543 c=0.0.0.0), the
# PBX steps into the media path for the other side:
#   - the holder's re-INVITE is answered by the PBX itself (our SDP, the mirrored direction);
#   - the held party gets a re-INVITE with the PBX's offer (sendonly) and hears the music once
#     its 200 is ACKed (MediaOpen + MediaPlay moh, looped).
# Every leg that exchanged SDP with the PBX is "anchored"; a leg's media goes to the PBX until a
# relayed offer/answer moves it back. Rules, for legs X (sending the re-INVITE) and Y (the other):
#   X holds, Y does not hold: answer X, music to Y.          X holds, Y holds: answer X, no music.
#   X resumes, Y holds: answer X, music to X (Y put X on hold and X now listens).
#   X resumes, Y does not hold: relay X's offer to Y as usual; Y's answer goes to X; once that
#   succeeds both talk directly again and the PBX's media session is closed.
# A re-INVITE that is not about hold, while nobody holds, is relayed untouched (hold.py is not
# involved). One media session per call, on one port, whose remote is whoever hears the music.
# The PBX can also hold a call on a party's behalf (`hold_for`: an agent answering an urgent queue
# call while on this one, OP 5.2): it is as if X had held, X's phone being told by our re-INVITE
# (`inactive`: it stops sending to Y and shows the call held); Y hears the music; X's own resume
# re-INVITE later reunites the two by the rule "X resumes, Y does not hold" above.
"""Music on hold: the PBX answers a hold itself and plays music to the held party."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pbx import log
from pbx.calls.leg import Leg
from pbx.media import sdp
from pbx.media.effects import MediaClose, MediaOpen, MediaPlay, MediaStopPlay, MediaUpdate
from pbx.sip.message import Request, Response, make_response

if TYPE_CHECKING:
    from pbx.calls.call import Call

logger = log.get("pbx.calls")

HOLD_DIRECTIONS = ("sendonly", "inactive")


@dataclass
class HoldControl:
    call: Call
    language: str
    held: set[str] = field(default_factory=set)  # ids of legs that put the call on hold
    anchored: dict[str, sdp.Negotiated] = field(default_factory=dict)  # leg id -> its media towards us
    port: int | None = None
    opened: bool = False
    listener: str | None = None  # the leg hearing the music
    play_id: int = 0
    version: int = 1
    resuming: bool = False  # a relayed offer is reuniting the two phones

    @property
    def session(self) -> str:
        return f"{self.call.id}:moh"

    def on_reinvite(self, leg: Leg, other: Leg, req: Request, key: str, now: float) -> bool:
        """True when the PBX handled the re-INVITE; False: relay it as usual."""
        direction = sdp.direction_of(req.body)
        if direction is None:
            return bool(self.held) and self._answer(leg, req, key, now, offer_only=True)
        holding = direction in HOLD_DIRECTIONS
        was = leg.id in self.held
        if not holding and not was and not self.held:
            return False  # nothing to do with hold
        if holding:
            self.held.add(leg.id)
            if not self._answer(leg, req, key, now):
                self.held.discard(leg.id)
                return False  # no port or no G.711: let the phones sort it out between them
            self._music_to(None if other.id in self.held else other, now)
            logger.info("call_held", call_id=self.call.id, by=leg.peer_name)
            return True
        self.held.discard(leg.id)
        if other.id in self.held:  # the other side still holds: this one hears the music now
            if not self._answer(leg, req, key, now):
                return False
            self._music_to(leg, now)
            return True
        self.resuming = True  # relayed; `relayed_ok` closes our media
        logger.info("call_resumed", call_id=self.call.id, by=leg.peer_name)
        return False

    def hold_for(self, leg: Leg, other: Leg, now: float) -> bool:
        """Hold the call on `leg`'s behalf; False when it is held by `leg` already or cannot be now
        (an offer under way in either dialog, RFC 3261 14.1; no media port)."""
        if leg.id in self.held or leg.offer_cseq is not None or other.offer_cseq is not None:
            return False
        if self.call.reinvite_pending or self.call.deferred is not None:
            return False
        if self.port is None:
            self.port = self.call.ctx.media_port()
            if self.port is None:
                return False
        from pbx.calls.call import Pending  # a cycle: call.py creates HoldControl

        self.held.add(leg.id)
        self.version += 1
        body = sdp.offer(self._host(leg), self.port, int(self.call.started), self.version, "inactive")
        sent = leg.request("INVITE", body, [("content-type", "application/sdp")])
        self.call.ctx.send_request(Pending("moh", self.call, leg, sent), now)
        self._music_to(None if other.id in self.held else other, now)
        logger.info("call_held_by_pbx", call_id=self.call.id, for_=leg.peer_name)
        return True

    def relayed_ok(self) -> None:
        """A relayed offer/answer connected the two phones again."""
        if self.resuming:
            self.resuming = False
            self.close()

    # --- the PBX's side of the SDP ------------------------------------------------------------------
    def _host(self, leg: Leg) -> str:
        return self.call.ctx.media_host(leg)

    def _answer(self, leg: Leg, req: Request, key: str, now: float, offer_only: bool = False) -> bool:
        if self.port is None:
            self.port = self.call.ctx.media_port()
            if self.port is None:
                return False
        host = self._host(leg)
        self.version += 1
        sid = int(self.call.started)
        if offer_only or not req.body:
            body = sdp.offer(host, self.port, sid, self.version, "sendrecv")
        else:
            desc = sdp.parse(req.body)
            found = sdp.answer(desc, host, self.port, sid, self.version) if desc is not None else None
            if found is None:
                return False
            body, n = found
            self.anchored[leg.id] = n
            if self.listener == leg.id:
                self._follow(n)
        leg.refresh_target(req)
        call = self.call
        extra = [("contact", leg.contact), ("server", call.server), ("content-type", "application/sdp")]
        resp = make_response(req, 200, extra=extra, body=body)
        call.ctx.respond(key, resp, now)
        call._send_2xx(leg, key, resp, req.cseq.number, now, None)
        return True

    def _music_to(self, listener: Leg | None, now: float) -> None:
        if listener is None:
            if self.listener is not None and self.opened:
                self.call.ctx.emit(MediaStopPlay(self.session))
            self.listener = None
            return
        self.listener = listener.id
        n = self.anchored.get(listener.id)
        if n is not None:
            self._follow(n)
            self._play()
            return
        # the listener still sends its media to the other phone: offer it the PBX's media
        from pbx.calls.call import Pending  # a cycle: call.py creates HoldControl

        assert self.port is not None
        self.version += 1
        body = sdp.offer(self._host(listener), self.port, int(self.call.started), self.version, "sendonly")
        sent = listener.request("INVITE", body, [("content-type", "application/sdp")])
        self.call.ctx.send_request(Pending("moh", self.call, listener, sent), now)

    def on_response(self, leg: Leg, sent: Request, resp: Response, now: float) -> None:
        """The held party's answer to our music offer."""
        if resp.status < 200:
            return
        if resp.status >= 300:
            logger.info("moh_refused", call_id=self.call.id, status=resp.status)
            return
        leg.refresh_target(resp)
        self.call.ctx.send(leg.ack_for(sent), leg.dest)
        desc = sdp.parse(resp.body) if resp.body else None
        found = sdp.negotiate(desc) if desc is not None else None
        if found is None:
            return
        n = found[1]
        self.anchored[leg.id] = n
        if self.listener == leg.id:
            self._follow(n)
            self._play()

    def _follow(self, n: sdp.Negotiated) -> None:
        ctx = self.call.ctx
        if not self.opened:
            assert self.port is not None
            host = self._host(self.call.a)
            ctx.emit(MediaOpen(self.session, host, self.port, n.remote_host, n.remote_port, n.payload_type,
                               n.dtmf_pt, self.language))  # fmt: skip
            self.opened = True
        else:
            ctx.emit(MediaUpdate(self.session, n.remote_host, n.remote_port, n.payload_type, n.dtmf_pt))

    def _play(self) -> None:
        self.play_id += 1
        self.call.ctx.emit(MediaStopPlay(self.session))
        self.call.ctx.emit(MediaPlay(self.session, self.play_id, ("moh:default",), loop=True))

    def close(self) -> None:
        if self.opened:
            self.call.ctx.emit(MediaClose(self.session))
            self.opened = False
        if self.port is not None:
            self.call.ctx.release_port(self.port)
            self.port = None
        self.anchored.clear()
        self.listener = None
