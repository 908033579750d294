"""Playback of pre-encoded audio as paced RTP: what to send at each 20 ms tick (pure).

A `Stream` is the sending half of one RTP session. Its clock is the loop's monotonic time: the
n-th frame of a talk spurt is due at start + n * 20 ms, so a late loop catches up (a bounded
burst) instead of drifting. Sequence numbers and timestamps stay continuous across prompts;
the timestamp advances with wall time across silences, and the first packet after a silence
carries the marker bit (RFC 3551 4.1). Audio is bytes of the negotiated codec (8000 Hz, one byte
per sample for G.711): no encoding happens while playing.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

from pbx.media.rtp import build_rtp

FRAME = 0.020
SAMPLES = 160  # per 20 ms frame at 8000 Hz
MAX_BURST = 5  # frames sent at once when the loop was late; beyond that, skip ahead
SILENCE = {0: b"\xff" * SAMPLES, 8: b"\xd5" * SAMPLES}  # PCMU, PCMA


@dataclass
class Item:
    audio: bytes
    play_id: int
    loop: bool = False


@dataclass
class Stream:
    payload_type: int
    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    seq: int = field(default_factory=lambda: secrets.randbits(16))
    ts_base: int = field(default_factory=lambda: secrets.randbits(32))
    clock_start: float | None = None  # when timestamp ts_base was "now"
    queue: deque[Item] = field(default_factory=deque)
    offset: int = 0
    spurt_start: float | None = None
    spurt_frames: int = 0
    packets: int = 0
    octets: int = 0

    @property
    def playing(self) -> bool:
        return bool(self.queue)

    def play(self, audio: bytes, play_id: int, now: float, loop: bool = False) -> None:
        if not audio:
            return
        if not self.queue:
            self.spurt_start, self.spurt_frames = now, 0
        self.queue.append(Item(audio, play_id, loop))

    def stop(self) -> list[int]:
        """Stop everything; the play ids that were cut short."""
        ids = [i.play_id for i in self.queue]
        self.queue.clear()
        self.offset = 0
        return ids

    def timestamp(self, now: float) -> int:
        if self.clock_start is None:
            self.clock_start = now
        return (self.ts_base + round((now - self.clock_start) * 8000)) & 0xFFFFFFFF

    def due(self, now: float) -> int:
        if not self.queue or self.spurt_start is None:
            return 0
        n = int((now - self.spurt_start) / FRAME + 1e-9) + 1 - self.spurt_frames
        if n > MAX_BURST:  # the loop stalled: drop what can no longer be on time
            self.spurt_frames += n - MAX_BURST
            n = MAX_BURST
        return max(0, n)

    def tick(self, now: float) -> tuple[list[bytes], list[int]]:
        """(RTP packets due now, play ids that finished)."""
        out: list[bytes] = []
        finished: list[int] = []
        for _ in range(self.due(now)):
            if not self.queue:
                break
            frame_time = self.spurt_start + self.spurt_frames * FRAME  # type: ignore[operator]
            frame, done = self._next_frame()
            finished += done
            ts = self.timestamp(frame_time)
            out.append(
                build_rtp(self.payload_type, self.seq, ts, self.ssrc, frame, marker=self.spurt_frames == 0)
            )
            self.seq = (self.seq + 1) & 0xFFFF
            self.spurt_frames += 1
            self.packets += 1
            self.octets += len(frame)
        return out, finished

    def _next_frame(self) -> tuple[bytes, list[int]]:
        finished: list[int] = []
        chunk = b""
        while len(chunk) < SAMPLES and self.queue:
            item = self.queue[0]
            take = item.audio[self.offset : self.offset + SAMPLES - len(chunk)]
            chunk += take
            self.offset += len(take)
            if self.offset >= len(item.audio):
                self.offset = 0
                if not item.loop:
                    self.queue.popleft()
                    finished.append(item.play_id)
        if len(chunk) < SAMPLES:
            chunk += SILENCE.get(self.payload_type, b"\xff" * SAMPLES)[: SAMPLES - len(chunk)]
        return chunk, finished

    def next_deadline(self) -> float | None:
        if not self.queue or self.spurt_start is None:
            return None
        return self.spurt_start + self.spurt_frames * FRAME
