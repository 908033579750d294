"""The Goertzel in-band detector on generated tones passed through G.711, with seeded noise."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from pbx.media import g711
from pbx.media.dtmf import COL_FREQS, ROW_FREQS, DigitEvent, InbandConfig, InbandDetector

KEYPAD = ("123A", "456B", "789C", "*0#D")
RATE = 8000


def freqs(digit: str) -> tuple[float, float]:
    r = next(i for i, row in enumerate(KEYPAD) if digit in row)
    return ROW_FREQS[r], COL_FREQS[KEYPAD[r].index(digit)]


def tone(
    digit: str,
    ms: float,
    amp: float = 6000,
    twist_db: float = 0.0,
    snr_db: float | None = None,
    seed: int = 1,
) -> list[float]:
    """Row at `amp`, column `twist_db` louder; white noise at `snr_db` below the tone pair's power."""
    fr, fc = freqs(digit)
    ac = amp * 10 ** (twist_db / 20)
    n = int(ms * RATE / 1000)
    out = [
        amp * math.sin(2 * math.pi * fr * i / RATE + 0.3) + ac * math.sin(2 * math.pi * fc * i / RATE)
        for i in range(n)
    ]
    if snr_db is not None:
        add_noise(out, (amp * amp + ac * ac) / 2, snr_db, seed)
    return out


def add_noise(x: list[float], signal_power: float, snr_db: float, seed: int) -> None:
    sigma = math.sqrt(signal_power / 10 ** (snr_db / 10))
    rnd = random.Random(seed)
    for i in range(len(x)):
        x[i] += rnd.gauss(0, sigma)


def silence(ms: float, noise_rms: float = 0.0, seed: int = 2) -> list[float]:
    rnd = random.Random(seed)
    return [rnd.gauss(0, noise_rms) if noise_rms else 0.0 for _ in range(int(ms * RATE / 1000))]


def through_ulaw(x: list[float]) -> array[int]:
    pcm = array("h", (max(-32768, min(32767, round(v))) for v in x))
    return g711.ulaw_decode(g711.ulaw_encode(pcm))


def detect(x: list[float], chunk: int = 160, config: InbandConfig | None = None) -> list[DigitEvent]:
    det = InbandDetector(config)
    pcm = through_ulaw(x)
    out: list[DigitEvent] = []
    for i in range(0, len(pcm), chunk):  # fed as RTP frames would come
        out += det.feed(pcm[i : i + chunk])
    return out + det.flush()


def digits(x: list[float], **kw: int) -> str:
    return "".join(e.digit for e in detect(x, **kw))


@pytest.mark.parametrize("digit", "0123456789*#ABCD")
def test_every_digit_in_noise(digit: str) -> None:
    sig = silence(40) + tone(digit, 70, snr_db=15, seed=ord(digit)) + silence(60)
    add_noise(sig, 6000**2, 25, seed=ord(digit) + 1)  # background hiss between the tones too
    evs = detect(sig)
    assert [e.digit for e in evs] == [digit]
    ev = evs[0]
    assert ev.source == "inband"
    # start and duration within one 102-sample block of the truth (320 and 560 samples)
    assert ev.start_ts is not None and abs(ev.start_ts - 320) <= 102
    assert abs(ev.duration_samples - 560) <= 204


@pytest.mark.parametrize("snr_db", [10, 6])
def test_digit_string_in_heavy_noise(snr_db: int) -> None:
    sig: list[float] = []
    for i, d in enumerate("2468"):
        sig += silence(60) + tone(d, 80, snr_db=snr_db, seed=i)
    sig += silence(60)
    add_noise(sig, 2 * 6000**2 / 2, snr_db, seed=99)
    assert digits(sig) == "2468"


@pytest.mark.parametrize("twist_db", [-3.5, -2, 0, 3, 6, 7.5])
def test_twist_within_limits_is_accepted(twist_db: float) -> None:
    assert digits(silence(20) + tone("1", 80, amp=4000, twist_db=twist_db) + silence(60)) == "1"


@pytest.mark.parametrize("twist_db", [-6, -5, 9, 12])
def test_twist_beyond_limits_is_rejected(twist_db: float) -> None:
    assert digits(silence(20) + tone("1", 80, amp=4000, twist_db=twist_db) + silence(60)) == ""


@pytest.mark.parametrize("offset", range(0, 102, 17))
def test_40ms_tones_are_accepted_at_any_alignment(offset: int) -> None:
    assert digits([0.0] * offset + tone("5", 40) + silence(60)) == "5"


@pytest.mark.parametrize("ms", [5, 10, 15])
def test_short_blips_are_rejected_at_any_alignment(ms: int) -> None:
    for offset in range(0, 102, 7):
        assert digits([0.0] * offset + tone("5", ms) + silence(60)) == "", offset


def test_one_press_held_long_is_one_digit() -> None:
    evs = detect(silence(20) + tone("9", 2000, snr_db=20) + silence(60))
    assert [e.digit for e in evs] == ["9"]
    assert abs(evs[0].duration_samples - 16000) <= 204


def test_back_to_back_presses_with_short_pauses() -> None:
    sig: list[float] = []
    for d in "1123#":  # the same digit twice in a row needs the pause to be heard
        sig += tone(d, 50) + silence(40)
    assert digits(sig) == "1123#"


def test_digit_change_without_a_pause() -> None:
    assert digits(tone("4", 80) + tone("7", 80) + silence(40)) == "47"


def test_quiet_tones_below_the_level_are_ignored() -> None:
    assert digits(tone("3", 100, amp=150) + silence(40)) == ""
    assert digits(tone("3", 100, amp=600) + silence(40)) == "3"


def speech_like(ms: int, f0: float, seed: int) -> list[float]:
    """A voiced sound: harmonics of a wobbling pitch with random amplitudes falling with frequency."""
    rnd = random.Random(seed)
    amps = [rnd.uniform(0.2, 1.0) * 4000 / k**0.7 for k in range(1, 30)]
    out, phase = [], 0.0
    for i in range(int(ms * RATE / 1000)):
        f = f0 * (1 + 0.08 * math.sin(2 * math.pi * 3 * i / RATE))
        phase += 2 * math.pi * f / RATE
        out.append(sum(a * math.sin(k * phase) for k, a in enumerate(amps, 1) if k * f < 3800))
    return out


@pytest.mark.parametrize("f0", [90, 120, 150, 200, 250])
def test_speech_like_signals_are_rejected(f0: float) -> None:
    assert digits(speech_like(1000, f0, seed=int(f0))) == ""


def chord(ms: int, notes: tuple[float, ...], amp: float = 5000) -> list[float]:
    return [
        sum(amp * math.sin(2 * math.pi * f * i / RATE) for f in notes) for i in range(int(ms * RATE / 1000))
    ]


def chirp(ms: int, f1: float, f2: float, amp: float = 8000) -> list[float]:
    n, out, phase = int(ms * RATE / 1000), [], 0.0
    for i in range(n):
        phase += 2 * math.pi * (f1 + (f2 - f1) * i / n) / RATE
        out.append(amp * math.sin(phase))
    return out


@pytest.mark.parametrize(
    "signal",
    [
        chord(1000, (523.25, 659.25, 783.99)),  # C major
        chord(1000, (440.0, 1100.0)),  # two tones, neither a DTMF one
        chord(1000, (697.0,)),  # one DTMF row tone alone
        chord(1000, (697.0, 852.0, 1209.0)),  # two rows and a column
        chirp(2000, 300, 3400),
        chirp(300, 600, 1700),
    ],
    ids=["major-chord", "non-dtmf-pair", "row-only", "two-rows", "chirp-slow", "chirp-fast"],
)
def test_music_like_signals_are_rejected(signal: list[float]) -> None:
    assert digits(signal) == ""


def test_silence_is_the_cheap_path() -> None:
    det = InbandDetector()
    det.feed(through_ulaw(silence(1000, noise_rms=30)))
    assert det.blocks == 8000 // 102 and det.filtered_blocks == 0


def test_feeding_in_odd_chunks_gives_the_same_events() -> None:
    sig = silence(30) + tone("6", 60) + silence(50) + tone("0", 60) + silence(50)
    assert detect(sig, chunk=160) == detect(sig, chunk=37) == detect(sig, chunk=1000)


def test_start_ts_follows_the_stream_clock() -> None:
    det = InbandDetector(start_ts=0xFFFFFF00)
    evs = det.feed(through_ulaw(silence(40) + tone("8", 80) + silence(60)))
    assert len(evs) == 1 and evs[0].start_ts is not None
    assert (evs[0].start_ts - 0xFFFFFF00) % 2**32 in range(320 - 102, 320 + 103)
