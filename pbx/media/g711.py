"""G.711 u-law and A-law (ITU-T G.711), table-driven.

Every conversion is a table look-up done by C code (`bytes.translate`, slice assignment, a list
comprehension over a memoryview), because a per-sample Python function costs ~100x more.

- Decoding (byte -> 16-bit linear) uses the exact G.711 reconstruction values, scaled to 16 bits
  (u-law: 14-bit value << 2, A-law: 13-bit value << 3).
- Encoding (16-bit linear -> byte) first truncates to 14 (u-law) or 13 (A-law) bits by an
  arithmetic shift, as the widely used Sun reference code does (and so sox and Python's `audioop`,
  which the tests use as an oracle). G.711 itself is defined on those 14/13-bit values; the choice
  only decides which side of a quantisation boundary a negative 16-bit value with non-zero low
  bits lands on.
- u-law <-> A-law goes through linear (decode, then encode), so a transcoded byte is always the
  one our own encoder would give for that level.

PCM is native-endian `array('h')` (little-endian on every platform we run on); `pcm_from_bytes`
and `pcm_to_bytes` convert explicitly little-endian byte strings.
"""

from __future__ import annotations

import sys
from array import array
from typing import Final

_BIG_ENDIAN: Final = sys.byteorder == "big"


def _ulaw_decode_one(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw_decode_one(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


_ULAW_SEG_END: Final = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEG_END: Final = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return 8


def _ulaw_encode_one(sample: int) -> int:
    v = sample >> 2
    if v < 0:
        v, mask = -v, 0x7F
    else:
        mask = 0xFF
    v = min(v, 8159) + 0x21  # clip to the 14-bit range, then add the bias (0x84 >> 2)
    seg = _segment(v, _ULAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((v >> (seg + 1)) & 0x0F)) ^ mask


def _alaw_encode_one(sample: int) -> int:
    v = sample >> 3
    if v >= 0:
        mask = 0xD5
    else:
        mask, v = 0x55, -v - 1
    seg = _segment(v, _ALAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    shift = 1 if seg < 2 else seg
    return ((seg << 4) | ((v >> shift) & 0x0F)) ^ mask


#: code -> 16-bit linear sample, exactly as G.711 reconstructs it
ULAW_TO_LINEAR: Final[tuple[int, ...]] = tuple(_ulaw_decode_one(c) for c in range(256))
ALAW_TO_LINEAR: Final[tuple[int, ...]] = tuple(_alaw_decode_one(c) for c in range(256))

# Indexed by the sample as an *unsigned* 16-bit value (what a memoryview cast to "H" yields).
_ULAW_ENCODE: Final = bytes(_ulaw_encode_one(i - 65536 if i >= 32768 else i) for i in range(65536))
_ALAW_ENCODE: Final = bytes(_alaw_encode_one(i - 65536 if i >= 32768 else i) for i in range(65536))

# Decoding produces the low and high byte of each sample with one translate each.
_ULAW_LO: Final = bytes(v & 0xFF for v in ULAW_TO_LINEAR)
_ULAW_HI: Final = bytes((v >> 8) & 0xFF for v in ULAW_TO_LINEAR)
_ALAW_LO: Final = bytes(v & 0xFF for v in ALAW_TO_LINEAR)
_ALAW_HI: Final = bytes((v >> 8) & 0xFF for v in ALAW_TO_LINEAR)

#: 256-byte tables for `bytes.translate`: one codec's byte to the other's, through linear
ULAW_TO_ALAW: Final = bytes(_ALAW_ENCODE[v & 0xFFFF] for v in ULAW_TO_LINEAR)
ALAW_TO_ULAW: Final = bytes(_ULAW_ENCODE[v & 0xFFFF] for v in ALAW_TO_LINEAR)

#: the byte that decodes to (near) silence: u-law 0xFF is +0, A-law 0xD5 is +8
ULAW_SILENCE: Final = 0xFF
ALAW_SILENCE: Final = 0xD5


def _decode(data: bytes, lo: bytes, hi: bytes) -> array[int]:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    pcm = array("h", out)
    if _BIG_ENDIAN:  # pragma: no cover - the tables above build little-endian samples
        pcm.byteswap()
    return pcm


def ulaw_decode(data: bytes) -> array[int]:
    """u-law bytes -> 16-bit linear samples."""
    return _decode(data, _ULAW_LO, _ULAW_HI)


def alaw_decode(data: bytes) -> array[int]:
    """A-law bytes -> 16-bit linear samples."""
    return _decode(data, _ALAW_LO, _ALAW_HI)


def _encode(pcm: array[int], table: bytes) -> bytes:
    if pcm.typecode != "h":
        raise TypeError(f"expected array('h'), got array({pcm.typecode!r})")
    return bytes([table[i] for i in memoryview(pcm).cast("B").cast("H")])


def ulaw_encode(pcm: array[int]) -> bytes:
    """16-bit linear samples (`array('h')`) -> u-law bytes."""
    return _encode(pcm, _ULAW_ENCODE)


def alaw_encode(pcm: array[int]) -> bytes:
    """16-bit linear samples (`array('h')`) -> A-law bytes."""
    return _encode(pcm, _ALAW_ENCODE)


def ulaw_encode_sample(sample: int) -> int:
    return _ULAW_ENCODE[sample & 0xFFFF]


def alaw_encode_sample(sample: int) -> int:
    return _ALAW_ENCODE[sample & 0xFFFF]


def ulaw_to_alaw(data: bytes) -> bytes:
    return data.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    return data.translate(ALAW_TO_ULAW)


def pcm_from_bytes(data: bytes) -> array[int]:
    """Little-endian signed 16-bit bytes (raw `.sw`, WAV data) -> `array('h')`."""
    if len(data) % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    pcm = array("h", data)
    if _BIG_ENDIAN:  # pragma: no cover
        pcm.byteswap()
    return pcm


def pcm_to_bytes(pcm: array[int]) -> bytes:
    """`array('h')` -> little-endian signed 16-bit bytes."""
    if _BIG_ENDIAN:  # pragma: no cover
        pcm = array("h", pcm)
        pcm.byteswap()
    return pcm.tobytes()


def decode(codec: str, data: bytes) -> array[int]:
    """By codec name as in SDP and the prompt files: "PCMU"/"ulaw"/"ul" or "PCMA"/"alaw"/"al"."""
    return ulaw_decode(data) if _is_ulaw(codec) else alaw_decode(data)


def encode(codec: str, pcm: array[int]) -> bytes:
    return ulaw_encode(pcm) if _is_ulaw(codec) else alaw_encode(pcm)


_ULAW_NAMES: Final = frozenset({"pcmu", "ulaw", "ul", "u-law", "mulaw"})
_ALAW_NAMES: Final = frozenset({"pcma", "alaw", "al", "a-law"})


def _is_ulaw(codec: str) -> bool:
    name = codec.lower()
    if name in _ULAW_NAMES:
        return True
    if name in _ALAW_NAMES:
        return False
    raise ValueError(f"unknown G.711 codec {codec!r}")
