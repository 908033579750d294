"""G.711 against known values, round trips and Python 3.11's audioop (Sun reference code) as oracle."""

from __future__ import annotations

import warnings
from array import array

import pytest

from pbx.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python >= 3.13
        audioop = None  # type: ignore[assignment]

needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop removed from this Python")

ALL_SAMPLES = array("h", range(-32768, 32768))
ALL_CODES = bytes(range(256))


def test_known_ulaw_values() -> None:
    assert g711.ULAW_TO_LINEAR[0x00] == -32124
    assert g711.ULAW_TO_LINEAR[0x80] == 32124
    assert g711.ULAW_TO_LINEAR[0xFF] == 0
    assert g711.ULAW_TO_LINEAR[0x7F] == 0
    assert g711.ULAW_TO_LINEAR[0xFE] == 8
    assert g711.ULAW_TO_LINEAR[0x7E] == -8
    assert g711.ulaw_encode_sample(0) == 0xFF
    assert g711.ulaw_encode_sample(32767) == 0x80
    assert g711.ulaw_encode_sample(-32768) == 0x00


def test_known_alaw_values() -> None:
    assert g711.ALAW_TO_LINEAR[0xD5] == 8
    assert g711.ALAW_TO_LINEAR[0x55] == -8
    assert g711.ALAW_TO_LINEAR[0xAA] == 32256
    assert g711.ALAW_TO_LINEAR[0x2A] == -32256
    assert g711.alaw_encode_sample(0) == 0xD5
    assert g711.alaw_encode_sample(-1) == 0x55
    assert g711.alaw_encode_sample(32767) == 0xAA
    assert g711.alaw_encode_sample(-32768) == 0x2A


def test_decode_is_odd_symmetric() -> None:
    # G.711 is sign-magnitude: flipping the sign bit negates the value
    for c in range(256):
        assert g711.ULAW_TO_LINEAR[c] == -g711.ULAW_TO_LINEAR[c ^ 0x80]
        assert g711.ALAW_TO_LINEAR[c] == -g711.ALAW_TO_LINEAR[c ^ 0x80]


def test_decode_is_monotonic_per_sign() -> None:
    # u-law positive codes 0xFF..0x80 rise; A-law's even bits are inverted (0x55) first
    pos_u = [g711.ULAW_TO_LINEAR[c] for c in range(0xFF, 0x7F, -1)]
    assert pos_u == sorted(pos_u) and len(set(pos_u)) == 128
    pos_a = [g711.ALAW_TO_LINEAR[(c ^ 0x55) | 0x80] for c in range(0x80)]
    assert pos_a == sorted(pos_a) and len(set(pos_a)) == 128


def test_round_trip_every_code() -> None:
    u = g711.ulaw_encode(g711.ulaw_decode(ALL_CODES))
    # 0x7F is u-law's negative zero: it decodes to 0, which encodes as positive zero 0xFF
    assert u == ALL_CODES.replace(b"\x7f", b"\xff")
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES


def test_encode_picks_one_of_the_two_nearest_levels() -> None:
    for enc, dec in ((g711.ulaw_encode, g711.ULAW_TO_LINEAR), (g711.alaw_encode, g711.ALAW_TO_LINEAR)):
        codes = enc(ALL_SAMPLES)
        levels = sorted(set(dec))
        for s, c in zip(ALL_SAMPLES[::13], codes[::13], strict=True):
            nearest = sorted(levels, key=lambda v, s=s: abs(v - s))[:2]
            assert dec[c] in nearest, (s, dec[c])


@needs_audioop
def test_encode_matches_reference_for_every_sample() -> None:
    raw = g711.pcm_to_bytes(ALL_SAMPLES)
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(raw, 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(raw, 2)


@needs_audioop
def test_decode_matches_reference_for_every_code() -> None:
    assert g711.pcm_to_bytes(g711.ulaw_decode(ALL_CODES)) == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.pcm_to_bytes(g711.alaw_decode(ALL_CODES)) == audioop.alaw2lin(ALL_CODES, 2)


def test_transcoding_tables() -> None:
    for c in range(256):
        assert g711.ULAW_TO_ALAW[c] == g711.alaw_encode_sample(g711.ULAW_TO_LINEAR[c])
        assert g711.ALAW_TO_ULAW[c] == g711.ulaw_encode_sample(g711.ALAW_TO_LINEAR[c])
    assert g711.ulaw_to_alaw(b"\xff" * 160) == b"\xd5" * 160
    assert g711.alaw_to_ulaw(g711.ulaw_to_alaw(b"\x80\x00")) == b"\x80\x00"


def test_silence_constants() -> None:
    assert g711.ULAW_TO_LINEAR[g711.ULAW_SILENCE] == 0
    assert abs(g711.ALAW_TO_LINEAR[g711.ALAW_SILENCE]) == 8


def test_pcm_bytes_helpers() -> None:
    pcm = array("h", [0, 1, -1, 32767, -32768])
    raw = g711.pcm_to_bytes(pcm)
    assert raw == b"\x00\x00\x01\x00\xff\xff\xff\x7f\x00\x80"
    assert g711.pcm_from_bytes(raw) == pcm
    with pytest.raises(ValueError):
        g711.pcm_from_bytes(b"\x00")


def test_codec_names() -> None:
    frame = bytes(range(160))
    assert g711.decode("PCMU", frame) == g711.ulaw_decode(frame)
    assert g711.decode("al", frame) == g711.alaw_decode(frame)
    assert g711.encode("ulaw", g711.ulaw_decode(frame)) == g711.ulaw_encode(g711.ulaw_decode(frame))
    with pytest.raises(ValueError):
        g711.decode("G729", frame)


def test_encode_refuses_other_array_types() -> None:
    with pytest.raises(TypeError):
        g711.ulaw_encode(array("i", [0]))
