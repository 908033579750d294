"""DTMF in its three forms, each turned into the same `DigitEvent`.

1. RFC 4733 telephone-events (`Rfc4733Decoder`, `rfc4733_packets` to send). An event is named by
   its RTP timestamp, which stays the event's start in every packet; the duration only grows and
   the last packets (usually three) carry the E bit. So the decoder keys on the timestamp: losing
   the first packets loses nothing, redundant end packets and duplicates find the event already
   reported, and the same digit pressed again has a new timestamp. Sequence numbers are not
   needed for any of this, which also makes their wrap-around harmless.
2. SIP INFO bodies (`parse_info`, `render_info`): `application/dtmf-relay` (`Signal=5`,
   `Duration=160` in ms) and `application/dtmf` (just `5`).
3. In-band tones (`InbandDetector`): Goertzel filters on decoded G.711 (the fallback).

Digits are reported when they end, so that the event carries its duration; an event whose end
packets are all lost ends when the next event starts or after `timeout` seconds of silence.
"""

from __future__ import annotations

import math
import operator
import re
import struct
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

#: RFC 4733 3.2 event codes 0-15
EVENT_DIGITS: Final = "0123456789*#ABCD"
DIGIT_EVENTS: Final = {d: i for i, d in enumerate(EVENT_DIGITS)}

_TS_MOD: Final = 1 << 32
_TS_HALF: Final = 1 << 31
MAX_SEGMENT: Final = 0xFFFF  # the duration field is 16 bits; longer events are cut in segments
# A packet of an event older than the newest one by less than this is late, not a new stream
# (timestamps jump when a phone restarts its RTP stream, re-INVITEs, or changes SSRC).
_STALE_WINDOW: Final = 10 * 8000


@dataclass(frozen=True, slots=True)
class DigitEvent:
    """One key press. `start_ts` is in 8 kHz samples on the stream's RTP clock (RFC 4733, in-band)
    or None (SIP INFO, which has no media clock)."""

    digit: str
    start_ts: int | None
    duration_samples: int
    source: str = "rfc4733"


def _newer(a: int, b: int) -> int:
    """How far timestamp a is after b, modulo 2**32 (RFC 1982 serial arithmetic); negative if before."""
    d = (a - b) % _TS_MOD
    return d - _TS_MOD if d >= _TS_HALF else d


# ---------------------------------------------------------------- RFC 4733 receive


@dataclass(slots=True)
class _Current:
    event: int
    origin_ts: int  # the first segment's timestamp: the event's start
    segment_ts: int  # this segment's timestamp
    duration: int  # in the current segment
    last_seen: float

    @property
    def total(self) -> int:
        return (self.segment_ts - self.origin_ts) % _TS_MOD + self.duration


class Rfc4733Decoder:
    """Telephone-events of one RTP stream (one SSRC) -> `DigitEvent`s, each reported once.

    `feed` takes what the RTP parser gives; `on_timer`/`next_deadline` end an event whose end
    packets never came. Events other than 0-15 (flash, tones) are ignored.
    """

    def __init__(self, timeout: float = 0.5) -> None:
        self.timeout = timeout
        self._current: _Current | None = None
        self._done: deque[int] = deque(maxlen=16)  # timestamps of events already reported
        self._newest: int | None = None
        self.ignored = 0  # late, duplicate, malformed or non-DTMF packets

    def feed(self, seq: int, timestamp: int, marker: bool, payload: bytes, now: float) -> list[DigitEvent]:
        if len(payload) < 4:
            self.ignored += 1
            return []
        event, flags, duration = struct.unpack_from("!BBH", payload)
        end = bool(flags & 0x80)
        timestamp %= _TS_MOD
        if event >= len(EVENT_DIGITS) or timestamp in self._done:
            self.ignored += 1
            return []
        out: list[DigitEvent] = []
        cur = self._current
        if cur is not None and timestamp == cur.segment_ts:
            cur.duration = max(cur.duration, duration)
            cur.last_seen = now
        else:
            if self._newest is not None and -_STALE_WINDOW < _newer(timestamp, self._newest) < 0:
                self.ignored += 1  # a late packet of an event older than the newest one
                return []
            if cur is not None and self._continues(cur, event, timestamp, marker):
                cur.segment_ts, cur.duration, cur.last_seen = timestamp, duration, now
            else:
                if cur is not None:
                    out.append(self._finish(cur))
                cur = self._current = _Current(event, timestamp, timestamp, duration, now)
            self._newest = timestamp
        if end:
            out.append(self._finish(cur))
        return out

    @staticmethod
    def _continues(cur: _Current, event: int, timestamp: int, marker: bool) -> bool:
        # RFC 4733 2.5.1.3: a long event goes on in a new segment that starts where the last one
        # (near the 16-bit limit) stopped, without the marker bit.
        if marker or event != cur.event or cur.duration < MAX_SEGMENT - 8000:
            return False
        return 0 <= _newer(timestamp, cur.segment_ts) <= MAX_SEGMENT + 800

    def _finish(self, cur: _Current) -> DigitEvent:
        self._current = None
        self._done.append(cur.segment_ts)
        if cur.origin_ts != cur.segment_ts:
            self._done.append(cur.origin_ts)
        return DigitEvent(EVENT_DIGITS[cur.event], cur.origin_ts, cur.total, "rfc4733")

    def next_deadline(self) -> float | None:
        return None if self._current is None else self._current.last_seen + self.timeout

    def on_timer(self, now: float) -> list[DigitEvent]:
        cur = self._current
        if cur is None or now < cur.last_seen + self.timeout:
            return []
        return [self._finish(cur)]

    def flush(self) -> list[DigitEvent]:
        """The stream ends (BYE, SSRC change): report an event still in progress."""
        return [] if self._current is None else [self._finish(self._current)]

    @property
    def pressed(self) -> str | None:
        """The digit held down right now, if any (for barge-in before the digit is reported)."""
        return None if self._current is None else EVENT_DIGITS[self._current.event]


# ---------------------------------------------------------------- RFC 4733 send


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One telephone-event packet: send it `offset` samples after the event's start."""

    payload: bytes
    timestamp: int
    marker: bool
    offset: int


def event_payload(event: int, end: bool, volume: int, duration: int) -> bytes:
    if not 0 <= event <= 255 or not 0 <= volume <= 63 or not 0 <= duration <= MAX_SEGMENT:
        raise ValueError(f"bad telephone-event fields: event={event} volume={volume} duration={duration}")
    return struct.pack("!BBH", event, (0x80 if end else 0) | volume, duration)


def rfc4733_packets(
    digit: str,
    start_ts: int,
    duration_samples: int,
    volume: int = 10,
    packet_samples: int = 160,
    end_repeats: int = 3,
) -> Iterator[EventPacket]:
    """The packets that send one digit (RFC 4733 2.5.1): the first with the marker bit, one every
    `packet_samples` with the duration so far, then `end_repeats` end packets with the final
    duration (RFC 4733 2.5.1.4). Events longer than 0xFFFF samples are cut into segments.
    `volume` is the power level in -dBm0 (0..63)."""
    try:
        event = DIGIT_EVENTS[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None
    if duration_samples <= 0 or packet_samples <= 0 or end_repeats <= 0:
        raise ValueError("duration, packet size and end repeats must be positive")
    segment_start = 0
    first = True
    while True:
        seg_len = min(duration_samples - segment_start, MAX_SEGMENT)
        ts = (start_ts + segment_start) % _TS_MOD
        last_segment = segment_start + seg_len >= duration_samples
        elapsed = packet_samples
        while elapsed < seg_len:
            yield EventPacket(
                event_payload(event, False, volume, elapsed), ts, first, segment_start + elapsed
            )
            first = False
            elapsed += packet_samples
        if last_segment:
            end = event_payload(event, True, volume, seg_len)
            for _ in range(end_repeats):
                yield EventPacket(end, ts, first, segment_start + seg_len)
                first = False
            return
        yield EventPacket(event_payload(event, False, volume, seg_len), ts, first, segment_start + seg_len)
        first = False
        segment_start += seg_len


# ---------------------------------------------------------------- SIP INFO

DTMF_RELAY: Final = "application/dtmf-relay"
DTMF: Final = "application/dtmf"
_RELAY_LINE: Final = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
DEFAULT_INFO_MS: Final = 250


def _info_digit(value: str) -> str | None:
    v = value.strip().upper()
    if len(v) == 1 and v in DIGIT_EVENTS:
        return v
    if v.isdigit() and int(v) < len(EVENT_DIGITS):  # some phones send the event code: 10 = *, 11 = #
        return EVENT_DIGITS[int(v)]
    return None


def parse_info(content_type: str, body: bytes) -> DigitEvent | None:
    """A SIP INFO body -> a digit, or None when it carries none we understand."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if ctype == DTMF:
        digit = _info_digit(text)
        return None if digit is None else DigitEvent(digit, None, DEFAULT_INFO_MS * 8, "info")
    if ctype != DTMF_RELAY:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _RELAY_LINE.match(line)
        if m:
            fields[m.group(1).lower()] = m.group(2)
    digit = _info_digit(fields.get("signal", ""))
    if digit is None:
        return None
    ms = fields.get("duration", "")
    duration = int(ms) if ms.isdigit() and 0 < int(ms) < 60_000 else DEFAULT_INFO_MS
    return DigitEvent(digit, None, duration * 8, "info")


def render_info(digit: str, duration_ms: int = DEFAULT_INFO_MS, content_type: str = DTMF_RELAY) -> bytes:
    """The INFO body for one digit in the given content type."""
    d = digit.upper()
    if d not in DIGIT_EVENTS:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    if content_type == DTMF_RELAY:
        return f"Signal={d}\r\nDuration={duration_ms}\r\n".encode("ascii")
    if content_type == DTMF:
        return d.encode("ascii")
    raise ValueError(f"no DTMF INFO body of type {content_type!r}")


# ---------------------------------------------------------------- in-band (Goertzel)

ROW_FREQS: Final = (697.0, 770.0, 852.0, 941.0)
COL_FREQS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")


def _goertzel_coeff(freq: float, rate: int) -> float:
    return 2.0 * math.cos(2.0 * math.pi * freq / rate)


def _goertzel(samples: list[int], coeff: float) -> float:
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


@dataclass(frozen=True, slots=True)
class InbandConfig:
    """Detector thresholds. Powers are compared as ratios, so the defaults hold at any level above
    `min_level`. Defaults follow ITU-T Q.24 practice: accept >= 40 ms, reject <= ~20 ms."""

    rate: int = 8000
    block: int = 102  # 12.75 ms: bins 78 Hz wide, so neighbouring DTMF rows (73+ Hz) separate
    min_level: float = 400.0  # peak amplitude of each tone (about -35 dBm0 in 16-bit G.711)
    normal_twist_db: float = 8.0  # high (column) tone louder than the low (row) one
    reverse_twist_db: float = 4.0  # low tone louder than the high one
    relative_peak_db: float = 8.0  # the chosen row/column over any other row/column
    tone_to_total: float = 0.55  # share of the block's energy in the two tones (speech spreads)
    second_harmonic_db: float = 15.0  # column tone over its second harmonic (voices have harmonics)
    hits_to_begin: int = 2  # consecutive blocks with the same digit: 25.5 ms of tone at least
    misses_to_end: int = 2  # consecutive blocks without it: a gap of >= ~25 ms ends the digit


class InbandDetector:
    """DTMF tones in 8 kHz 16-bit linear audio of one stream -> one `DigitEvent` per key press.

    Audio is cut into blocks of `block` samples. A block yields a digit when one row and one
    column tone stand out: both above `min_level`, within the twist limits, each `relative_peak_db`
    over the other rows/columns, together most of the block's energy, and the column without a strong
    second harmonic. A digit begins after `hits_to_begin` such blocks and is reported after
    `misses_to_end` blocks without it, so one press gives one event however long it is held.
    A block with too little energy for any tone skips the filters (that is the cheap path).
    """

    def __init__(self, config: InbandConfig | None = None, start_ts: int = 0) -> None:
        c = self.config = config or InbandConfig()
        n = c.block
        self._rows = [_goertzel_coeff(f, c.rate) for f in ROW_FREQS]
        self._cols = [_goertzel_coeff(f, c.rate) for f in COL_FREQS]
        self._col_h2 = [_goertzel_coeff(2 * f, c.rate) for f in COL_FREQS]
        # A sine of peak A over n samples gives Goertzel power (A*n/2)**2 and energy A*A*n/2.
        self._min_power = (c.min_level * n / 2) ** 2
        self._min_energy = 2 * c.min_level * c.min_level * n / 2
        self._normal_twist = 10 ** (c.normal_twist_db / 10)
        self._reverse_twist = 10 ** (c.reverse_twist_db / 10)
        self._relative_peak = 10 ** (c.relative_peak_db / 10)
        self._harmonic = 10 ** (c.second_harmonic_db / 10)
        self._total_scale = c.tone_to_total * n / 2
        self._pending: list[int] = []
        self._ts = start_ts  # stream position of the first pending sample
        self._candidate: str | None = None
        self._candidate_start = 0
        self._hits = 0
        self._digit: str | None = None  # the digit being held
        self._digit_start = 0
        self._digit_end = 0
        self._misses = 0
        self.blocks = 0
        self.filtered_blocks = 0

    def feed(self, pcm: Sequence[int]) -> list[DigitEvent]:
        """Any number of samples; digits that ended within them come out."""
        n = self.config.block
        buf = self._pending
        buf.extend(pcm)
        out: list[DigitEvent] = []
        i = 0
        while len(buf) - i >= n:
            self._step(self._classify(buf[i : i + n]), out)
            self._ts = (self._ts + n) % _TS_MOD
            i += n
        del buf[:i]
        return out

    def flush(self) -> list[DigitEvent]:
        """The stream ends: a digit still held is reported if it had begun."""
        out: list[DigitEvent] = []
        if self._digit is not None:
            out.append(self._report())
        return out

    def _classify(self, block: list[int]) -> str | None:
        self.blocks += 1
        energy = sum(map(operator.mul, block, block))
        if energy < self._min_energy:
            return None
        self.filtered_blocks += 1
        # Rows first: most speech and music already fails here, before the four column filters.
        rows = [_goertzel(block, k) for k in self._rows]
        r = max(range(4), key=rows.__getitem__)
        row = rows[r]
        if row < self._min_power or any(i != r and p * self._relative_peak > row for i, p in enumerate(rows)):
            return None
        cols = [_goertzel(block, k) for k in self._cols]
        c = max(range(4), key=cols.__getitem__)
        col = cols[c]
        if col < self._min_power or any(i != c and p * self._relative_peak > col for i, p in enumerate(cols)):
            return None
        if col > row * self._normal_twist or row > col * self._reverse_twist:
            return None
        if row + col < energy * self._total_scale:
            return None
        # Only the column's harmonic: a row's (1394-1882 Hz) lies too near the columns to tell
        # apart in a 102-sample block.
        if _goertzel(block, self._col_h2[c]) * self._harmonic > col:
            return None
        return _KEYPAD[r][c]

    def _step(self, found: str | None, out: list[DigitEvent]) -> None:
        c = self.config
        if found is not None and found == self._candidate:
            self._hits += 1
        else:
            self._candidate, self._candidate_start = found, self._ts
            self._hits = 1 if found is not None else 0
        if self._digit is not None:
            if found == self._digit:
                self._misses = 0
                self._digit_end = self._ts + c.block
                return
            self._misses += 1
            if self._misses < c.misses_to_end:
                return
            out.append(self._report())
            # a different digit that followed without a gap may begin at once
        if found is not None and self._hits >= c.hits_to_begin:
            self._digit, self._digit_start = found, self._candidate_start
            self._digit_end = self._ts + c.block
            self._misses = 0

    def _report(self) -> DigitEvent:
        assert self._digit is not None
        ev = DigitEvent(
            self._digit, self._digit_start, (self._digit_end - self._digit_start) % _TS_MOD, "inband"
        )
        self._digit = None
        # the tone must stop before the same digit can begin again
        self._hits = 0
        self._candidate = None
        return ev
