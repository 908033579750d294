"""Content-Length framing of a SIP byte stream (RFC 3261 18.3)."""

from __future__ import annotations

from pbx.transport.tcp import MAX_HEAD, frame

MSG = (
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nabcd"
)


def test_two_messages_in_one_read_and_split_reads() -> None:
    buf = bytearray(b"\r\n\r\n" + MSG + MSG[:10])
    assert frame(buf) == MSG
    assert frame(buf) is None  # half a message: wait for more
    buf += MSG[10:]
    assert frame(buf) == MSG
    assert buf == bytearray()


def test_compact_content_length() -> None:
    buf = bytearray(MSG.replace(b"Content-Length: 4", b"l: 2"))
    out = frame(buf)
    assert isinstance(out, bytes) and out.endswith(b"\r\n\r\nab") and buf == bytearray(b"cd")


def test_garbage_is_unframeable() -> None:
    assert frame(bytearray(b"x" * (MAX_HEAD + 1))) is False
    assert frame(bytearray(MSG.replace(b"Content-Length: 4", b"Content-Length: -4"))) is False
    assert frame(bytearray(MSG.replace(b"Content-Length: 4", b"Content-Length: 99999999"))) is False
