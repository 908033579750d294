"""SDP offer/answer for legs the PBX answers itself (RFC 3264)."""

from __future__ import annotations

from pbx.media import sdp

OFFER = (
    b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    b"m=audio 4000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\na=ptime:20\r\n"
)


def test_answer_takes_the_offerers_first_g711_and_keeps_its_dtmf_type() -> None:
    desc = sdp.parse(OFFER)
    assert desc is not None
    body, n = sdp.answer(desc, "127.0.0.1", 20000, 7, 1) or (b"", None)
    assert n == sdp.Negotiated("127.0.0.1", 4000, 8, "PCMA", 101, "sendrecv", 20)
    text = body.decode()
    assert "m=video 0 RTP/AVP 96" in text  # the other stream rejected, in its place
    assert "m=audio 20000 RTP/AVP 8 101" in text and "a=rtpmap:101 telephone-event/8000" in text
    assert text.index("m=video") < text.index("m=audio")


def test_direction_is_mirrored_and_media_level_connection_wins() -> None:
    offer = (b"v=0\r\no=a 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
             b"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\na=sendonly\r\n")  # fmt: skip
    desc = sdp.parse(offer)
    assert desc is not None
    found = sdp.answer(desc, "127.0.0.1", 20000, 7, 1)
    assert found is not None and found[1].direction == "recvonly" and found[1].remote_host == "127.0.0.2"
    assert found[1].dtmf_pt is None and b"telephone-event" not in found[0]


def test_no_common_codec_and_unreadable_bodies() -> None:
    g722 = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
    desc = sdp.parse(g722)
    assert desc is not None and sdp.answer(desc, "127.0.0.1", 1, 1, 1) is None
    assert sdp.parse(b"\xff\xfe") is None
    assert sdp.parse(b"v=0\r\n") is None
    assert sdp.parse(b"m=audio x RTP/AVP 0\r\n") is None


def test_offer_and_hold_directions() -> None:
    o = sdp.offer("::1", 20002, 1, 2, "sendonly").decode()
    assert "c=IN IP6 ::1" in o and "m=audio 20002 RTP/AVP 0 8 101" in o and "a=sendonly" in o
    base = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
    assert sdp.direction_of(base) == "sendrecv"
    assert sdp.direction_of(base + b"a=inactive\r\n") == "inactive"
    assert sdp.direction_of(base.replace(b"127.0.0.1", b"0.0.0.0")) == "sendonly"  # RFC 2543 hold
    assert sdp.direction_of(b"") is None
