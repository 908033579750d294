"""The media shell: RTP sockets, one pacing timer for every playback, and digits back to the core.

The call core decides (pbx.calls.appcall, pbx.ivr); this executes its `Media*` effects:
- `MediaOpen` binds the RTP port and the RTCP port above it (non-blocking sockets read with
  `loop.add_reader`, so opening is synchronous inside a core step) and creates a paced `Stream`;
- `MediaPlay` looks the prompts up (pre-encoded in the session's codec and language; nothing is
  encoded while playing) and queues them; `moh:<name>` is music on hold, looped;
- one timer for all sessions fires at the earliest frame deadline; each due stream sends its
  frames (pbx.media.playback keeps timing drift-free); finished plays become `PlayDone` events;
- received RTP: telephone-events (RFC 4733) and, where the peer sends none, in-band tones
  (Goertzel on decoded G.711) become `DigitReceived` events; RTCP is read and ignored, and a
  minimal sender report goes out every 5 s while we send;
- every destination passes the allow-list (the same one SIP uses): RTP never goes anywhere else.
A bad packet is counted and dropped; a socket error closes that session with `MediaFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pbx import log
from pbx.clock import Clock
from pbx.media.effects import (
    DigitReceived,
    MediaClose,
    MediaEffect,
    MediaEvent,
    MediaFailed,
    MediaOpen,
    MediaPlay,
    MediaStopPlay,
    MediaUpdate,
    PlayDone,
)
from pbx.media.playback import Stream
from pbx.media.rtp import RtpError, build_sender_report, parse_rtp

logger = log.get("pbx.media")

RTCP_INTERVAL = 5.0
# Frames due within this much of a tick go out in that tick: streams that started a few ms apart
# share timer wake-ups instead of each costing one (a frame leaves at most 2 ms early).
BATCH = 0.002


class PromptSource(Protocol):
    def audio(self, language: str, name: str, payload_type: int) -> bytes | None: ...


class DigitDetector(Protocol):
    """Turns received RTP payloads into digits (RFC 4733 events, or in-band tones)."""

    def feed(
        self, payload_type: int, seq: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> list[str]: ...


class Allows(Protocol):
    def allows(self, host: str) -> bool: ...


@dataclass
class MediaStats:
    sessions_opened: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    packets_dropped: int = 0
    digits: int = 0
    late_ticks: int = 0


@dataclass(eq=False)
class _Session:
    id: str
    rtp: socket.socket
    rtcp: socket.socket
    remote: tuple[str, int]
    language: str
    stream: Stream
    detector: DigitDetector | None
    last_sr: float = 0.0
    closed: bool = False
    plays: dict[int, int] = field(default_factory=dict)  # play id -> queued items left


class MediaEngine:
    def __init__(
        self,
        clock: Clock,
        allow: Allows,
        prompts: PromptSource,
        on_event: Callable[[MediaEvent], None],
        detector: Callable[[int | None, int], DigitDetector | None] = lambda dtmf_pt, pt: None,
    ) -> None:
        self.clock = clock
        self.allow = allow
        self.prompts = prompts
        self.on_event = on_event
        self.make_detector = detector
        self.sessions: dict[str, _Session] = {}
        self.stats = MediaStats()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.host = "127.0.0.1"  # where ports are reserved (the SIP listen address)
        self._reserved: dict[int, tuple[socket.socket, socket.socket]] = {}

    # --- port reservation (PortPool.reserve / unreserve) ----------------------------------------
    def reserve(self, port: int) -> bool:
        """Bind the RTP/RTCP pair now; False if either is taken (the pool tries the next)."""
        if port in self._reserved:
            return True
        try:
            pair = self._bind(self.host, port)
        except OSError:
            return False
        self._reserved[port] = pair
        return True

    def unreserve(self, port: int) -> None:
        pair = self._reserved.pop(port, None)
        if pair is not None:
            for sock in pair:
                sock.close()

    @staticmethod
    def _bind(host: str, port: int) -> tuple[socket.socket, socket.socket]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        rtp = socket.socket(family, socket.SOCK_DGRAM)
        rtcp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, port))
            rtcp.bind((host, port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            raise
        return rtp, rtcp

    # --- effects from the core ------------------------------------------------------------------
    def execute(self, e: MediaEffect) -> None:
        try:
            if isinstance(e, MediaOpen):
                self._open(e)
            elif isinstance(e, MediaUpdate):
                s = self.sessions.get(e.session)
                if s is not None:
                    s.remote = (e.remote_host, e.remote_port)
                    s.stream.payload_type = e.payload_type
                    s.detector = self.make_detector(e.dtmf_pt, e.payload_type)
            elif isinstance(e, MediaPlay):
                self._play(e)
            elif isinstance(e, MediaStopPlay):
                s = self.sessions.get(e.session)
                if s is not None:
                    s.stream.stop()
                    s.plays.clear()
            elif isinstance(e, MediaClose):
                self._close(e.session)
        except OSError as exc:
            logger.warning("media_error", call_id=e.session, error=str(exc))
            self._close(e.session)
            self.on_event(MediaFailed(e.session, str(exc)))
        self._rearm()

    def _open(self, e: MediaOpen) -> None:
        if e.session in self.sessions:
            return
        pair = self._reserved.pop(e.local_port, None)
        if pair is not None and pair[0].getsockname()[0] != e.local_host:
            for sock in pair:
                sock.close()
            pair = None
        rtp, rtcp = pair if pair is not None else self._bind(e.local_host, e.local_port)
        for sock in (rtp, rtcp):
            sock.setblocking(False)
        s = _Session(e.session, rtp, rtcp, (e.remote_host, e.remote_port), e.language, Stream(e.payload_type),
                     self.make_detector(e.dtmf_pt, e.payload_type))  # fmt: skip
        self.sessions[e.session] = s
        loop = self._loop()
        loop.add_reader(rtp.fileno(), self._readable, s)
        loop.add_reader(rtcp.fileno(), self._drain_rtcp, s)
        self.stats.sessions_opened += 1
        logger.debug(
            "media_open", call_id=e.session, port=e.local_port, remote=f"{e.remote_host}:{e.remote_port}"
        )

    def _play(self, e: MediaPlay) -> None:
        s = self.sessions.get(e.session)
        if s is None:
            return
        now = self.clock.now()
        queued = 0
        for name in e.prompts:
            if name.startswith("moh:"):
                audio = self.prompts.audio("moh", name[4:], s.stream.payload_type)
            else:
                audio = self.prompts.audio(s.language, name, s.stream.payload_type)
            if audio is None:
                logger.warning("prompt_missing", call_id=e.session, prompt=name, language=s.language)
                continue
            s.stream.play(audio, e.play_id, now, loop=e.loop)
            queued += 1
        if queued:
            s.plays[e.play_id] = queued
        else:
            self.on_event(PlayDone(e.session, e.play_id))  # nothing to play: done at once

    def _close(self, session: str) -> None:
        s = self.sessions.pop(session, None)
        if s is None or s.closed:
            return
        s.closed = True
        loop = self._loop()
        for sock in (s.rtp, s.rtcp):
            with contextlib.suppress(Exception):
                loop.remove_reader(sock.fileno())
            sock.close()

    # --- pacing ----------------------------------------------------------------------------------
    def _loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.get_event_loop()
        return self.loop

    def _rearm(self) -> None:
        ds = [d for d in (s.stream.next_deadline() for s in self.sessions.values()) if d is not None]
        if not ds:
            return
        when = min(ds)
        if self._timer is not None and self._timer_at is not None and self._timer_at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop().call_later(max(0.0, when - self.clock.now()), self._tick)

    def _tick(self) -> None:
        self._timer = self._timer_at = None
        now = self.clock.now()
        wall = self.clock.wall()
        horizon = now + BATCH
        for s in list(self.sessions.values()):
            due = s.stream.next_deadline()
            if due is None or due > horizon:
                continue
            packets, finished = s.stream.tick(horizon)
            if packets:
                self._send(s, packets)
                if now - s.last_sr >= RTCP_INTERVAL:
                    s.last_sr = now
                    sr = build_sender_report(s.stream.ssrc, wall, s.stream.timestamp(now), s.stream.packets,
                                             s.stream.octets)  # fmt: skip
                    self._sendto(s, s.rtcp, sr, (s.remote[0], s.remote[1] + 1))
            for pid in finished:
                left = s.plays.get(pid, 0) - 1
                if left > 0:
                    s.plays[pid] = left
                elif pid in s.plays:
                    del s.plays[pid]
                    self.on_event(PlayDone(s.id, pid))
        self._rearm()

    def _send(self, s: _Session, packets: list[bytes]) -> None:
        for p in packets:
            self._sendto(s, s.rtp, p, s.remote)

    def _sendto(self, s: _Session, sock: socket.socket, data: bytes, dest: tuple[str, int]) -> None:
        if not self.allow.allows(dest[0]):
            self.stats.packets_dropped += 1
            return
        try:
            sock.sendto(data, dest)
            self.stats.packets_sent += 1
        except (BlockingIOError, InterruptedError):
            self.stats.packets_dropped += 1  # a full socket buffer: a lost packet, as on the wire
        except OSError as exc:
            self.stats.packets_dropped += 1
            logger.debug("rtp_send_failed", call_id=s.id, error=str(exc))

    # --- receiving -------------------------------------------------------------------------------
    def _readable(self, s: _Session) -> None:
        for _ in range(64):  # bounded: one busy session must not starve the loop
            try:
                data = s.rtp.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.stats.packets_received += 1
            try:
                pkt = parse_rtp(data)
            except RtpError:
                self.stats.packets_dropped += 1
                continue
            if s.detector is None:
                continue
            now = self.clock.now()
            for digit in s.detector.feed(
                pkt.payload_type, pkt.seq, pkt.timestamp, pkt.marker, pkt.payload, now
            ):
                self.stats.digits += 1
                method = "inband" if pkt.payload_type in (0, 8) else "rfc4733"
                self.on_event(DigitReceived(s.id, digit, method))

    def _drain_rtcp(self, s: _Session) -> None:
        for _ in range(16):
            try:
                s.rtcp.recv(2048)
            except OSError:
                return

    def close_all(self) -> None:
        for sid in list(self.sessions):
            self._close(sid)
        for port in list(self._reserved):
            self.unreserve(port)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
