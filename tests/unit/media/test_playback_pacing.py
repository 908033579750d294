"""Paced playback: 20 ms frames from the clock, continuous seq/ts, markers, bounded catch-up."""

from __future__ import annotations

from pbx.media.playback import FRAME, MAX_BURST, SAMPLES, Stream
from pbx.media.rtp import parse_rtp


def run(s: Stream, start: float, frames: int) -> list[bytes]:
    out: list[bytes] = []
    for n in range(frames):
        pkts, _ = s.tick(start + n * FRAME)
        out += pkts
    return out


def test_frames_are_due_every_20ms_with_continuous_seq_and_ts() -> None:
    s = Stream(0, ssrc=1, seq=65534, ts_base=2**32 - 200)
    s.play(bytes(range(256)) * 5, play_id=1, now=10.0)  # 1280 bytes = 8 frames
    pkts = [parse_rtp(p) for p in run(s, 10.0, 12)]
    assert len(pkts) == 8
    assert [p.seq for p in pkts] == [65534, 65535, 0, 1, 2, 3, 4, 5]  # wraps
    assert [(p.timestamp - pkts[0].timestamp) % 2**32 for p in pkts] == [i * SAMPLES for i in range(8)]
    assert [p.marker for p in pkts] == [True] + [False] * 7
    assert b"".join(p.payload for p in pkts) == bytes(range(256)) * 5


def test_prompts_back_to_back_stay_in_one_spurt_and_report_when_done() -> None:
    s = Stream(8, ssrc=1, seq=0, ts_base=0)
    s.play(b"\x01" * 200, 1, now=0.0)
    s.play(b"\x02" * 200, 2, now=0.0)
    finished: list[int] = []
    pkts = []
    for n in range(5):
        p, f = s.tick(n * FRAME)
        pkts += [parse_rtp(x) for x in p]
        finished += f
    assert finished == [1, 2] and len(pkts) == 3  # 400 bytes: 2 full frames + 1 padded with silence
    assert pkts[1].payload == b"\x01" * 40 + b"\x02" * 120 and pkts[2].payload.endswith(b"\xd5" * 80)
    assert [p.marker for p in pkts] == [True, False, False]


def test_timestamp_follows_the_clock_across_silence_and_new_spurt_has_a_marker() -> None:
    s = Stream(0, ssrc=1, seq=0, ts_base=1000)
    s.play(b"\x00" * 160, 1, now=0.0)
    first = parse_rtp(s.tick(0.0)[0][0])
    s.play(b"\x00" * 160, 2, now=1.0)  # one second later
    second = parse_rtp(s.tick(1.0)[0][0])
    assert second.timestamp - first.timestamp == 8000 and second.marker and second.seq == first.seq + 1


def test_a_late_loop_catches_up_in_a_bounded_burst() -> None:
    s = Stream(0, ssrc=1, seq=0, ts_base=0)
    s.play(b"\x00" * 160 * 100, 1, now=0.0)
    assert len(s.tick(0.0)[0]) == 1
    assert len(s.tick(0.0 + 3 * FRAME)[0]) == 3  # frames 1..3 were due
    assert len(s.tick(0.0 + 20 * FRAME)[0]) == MAX_BURST  # a long stall: skip ahead
    assert s.next_deadline() == 21 * FRAME


def test_looping_item_and_stop() -> None:
    s = Stream(0, ssrc=1, seq=0, ts_base=0)
    s.play(b"\x07" * 100, 9, now=0.0, loop=True)
    pkts = run(s, 0.0, 3)
    assert len(pkts) == 3 and all(parse_rtp(p).payload == b"\x07" * 160 for p in pkts)
    assert s.stop() == [9] and not s.playing and s.tick(1.0) == ([], [])
