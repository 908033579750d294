"""RFC 4733 telephone-events: decoding what real senders do to packets, and our own sender."""

from __future__ import annotations

import random
import struct

import pytest

from pbx.media.dtmf import DigitEvent, EventPacket, Rfc4733Decoder, event_payload, rfc4733_packets

Pkt = tuple[int, int, bool, bytes]  # seq, timestamp, marker, payload


def packets(digit: str, start_ts: int, duration: int, seq0: int, **kw: int) -> list[Pkt]:
    return [
        ((seq0 + i) & 0xFFFF, p.timestamp, p.marker, p.payload)
        for i, p in enumerate(rfc4733_packets(digit, start_ts, duration, **kw))
    ]


def decode(pkts: list[Pkt], dec: Rfc4733Decoder | None = None) -> list[DigitEvent]:
    dec = dec or Rfc4733Decoder()
    out: list[DigitEvent] = []
    for i, (seq, ts, marker, payload) in enumerate(pkts):
        out += dec.feed(seq, ts, marker, payload, now=i * 0.02)
    return out


def test_one_digit_with_three_end_packets_is_reported_once() -> None:
    pkts = packets("5", 1000, 800, 100)
    assert sum(1 for p in pkts if p[3][1] & 0x80) == 3
    assert decode(pkts) == [DigitEvent("5", 1000, 800, "rfc4733")]


def test_every_digit() -> None:
    pkts: list[Pkt] = []
    for i, d in enumerate("0123456789*#ABCD"):
        pkts += packets(d, 10_000 + i * 2000, 640, i * 20)
    assert "".join(e.digit for e in decode(pkts)) == "0123456789*#ABCD"


def test_first_packets_lost() -> None:
    pkts = packets("7", 5000, 960, 0)
    assert decode(pkts[3:]) == [DigitEvent("7", 5000, 960, "rfc4733")]


def test_only_one_end_packet_survives() -> None:
    pkts = packets("7", 5000, 960, 0)
    assert decode(pkts[-1:]) == [DigitEvent("7", 5000, 960, "rfc4733")]


def test_duplicates_and_reordering_within_an_event() -> None:
    pkts = packets("3", 42, 800, 65530)  # sequence numbers wrap through 0 here
    shuffled = [*pkts[:2], pkts[3], pkts[2], pkts[2], *pkts[4:], *pkts[-2:], pkts[1]]
    assert decode(shuffled) == [DigitEvent("3", 42, 800, "rfc4733")]


def test_an_end_packet_before_continuations_reports_the_final_duration() -> None:
    pkts = packets("3", 42, 800, 0)
    # the first end packet overtakes the last continuation packets, which are then ignored
    order = [*pkts[:2], pkts[-3], *pkts[2:-3], *pkts[-2:]]
    dec = Rfc4733Decoder()
    assert decode(order, dec) == [DigitEvent("3", 42, 800, "rfc4733")]
    assert dec.ignored == len(order) - 3


def test_same_digit_twice_is_two_events() -> None:
    pkts = packets("1", 8000, 640, 0) + packets("1", 9600, 640, 20)
    assert [e.start_ts for e in decode(pkts)] == [8000, 9600]


def test_timestamp_wraparound() -> None:
    start = 0xFFFFFF00
    pkts = packets("9", start, 800, 0) + packets("8", (start + 1600) & 0xFFFFFFFF, 800, 20)
    assert decode(pkts) == [DigitEvent("9", start, 800, "rfc4733"), DigitEvent("8", 1344, 800, "rfc4733")]


def test_event_without_end_is_reported_when_the_next_begins() -> None:
    first = [p for p in packets("4", 100, 800, 0) if not p[3][1] & 0x80]
    out = decode(first + packets("6", 2000, 480, 10))
    # without the end packets, the duration is the last one heard (640 of 800)
    assert out == [DigitEvent("4", 100, 640, "rfc4733"), DigitEvent("6", 2000, 480, "rfc4733")]


def test_event_without_end_is_reported_after_the_timeout() -> None:
    dec = Rfc4733Decoder(timeout=0.5)
    assert dec.next_deadline() is None
    first = [p for p in packets("4", 100, 800, 0) if not p[3][1] & 0x80]
    for i, (seq, ts, m, pl) in enumerate(first):
        assert dec.feed(seq, ts, m, pl, now=10.0 + i * 0.02) == []
    assert dec.pressed == "4"
    last = 10.0 + (len(first) - 1) * 0.02
    assert dec.next_deadline() == pytest.approx(last + 0.5)
    assert dec.on_timer(last + 0.4) == []
    assert dec.on_timer(last + 0.5) == [DigitEvent("4", 100, 640, "rfc4733")]
    assert dec.next_deadline() is None and dec.pressed is None
    # its end packets arriving after all are not a second digit
    assert decode(packets("4", 100, 800, 0)[-3:], dec) == []


def test_late_packet_of_an_older_event_is_ignored() -> None:
    a = packets("1", 1000, 480, 0)
    b = packets("2", 3000, 480, 10)
    out = decode(a[:2] + b[:2] + a[2:] + b[2:])
    assert [(e.digit, e.start_ts) for e in out] == [("1", 1000), ("2", 3000)]


def test_stream_restart_with_lower_timestamps_is_new_events() -> None:
    dec = Rfc4733Decoder()
    assert [e.digit for e in decode(packets("1", 3_000_000, 480, 0), dec)] == ["1"]
    assert [e.digit for e in decode(packets("2", 50, 480, 500), dec)] == ["2"]


def test_long_event_in_segments_is_one_digit() -> None:
    total = 0xFFFF + 20_000
    pkts = packets("0", 7, total, 0)
    assert len({p[1] for p in pkts}) == 2  # two segments, two timestamps
    assert not any(p[2] for p in pkts[1:])  # only the very first packet has the marker
    assert decode(pkts) == [DigitEvent("0", 7, total, "rfc4733")]


def test_malformed_and_non_dtmf_events_are_ignored() -> None:
    dec = Rfc4733Decoder()
    assert dec.feed(1, 10, True, b"\x05\x80", now=0) == []
    assert dec.feed(2, 20, True, event_payload(16, True, 10, 800), now=0) == []  # flash
    assert dec.ignored == 2
    assert dec.flush() == []


def test_flush_reports_an_event_in_progress() -> None:
    dec = Rfc4733Decoder()
    dec.feed(1, 10, True, event_payload(11, False, 10, 320), now=0)
    assert dec.flush() == [DigitEvent("#", 10, 320, "rfc4733")]


def test_random_loss_reordering_and_duplication_keep_the_digit_string() -> None:
    rnd = random.Random(4733)
    digits = "4711#2025*8"
    pkts: list[Pkt] = []
    ts, seq = 0xFFFF0000, 65000
    for d in digits:
        p = packets(d, ts, rnd.choice([480, 800, 1600]), seq)
        seq += len(p) + 5
        ts = (ts + 4000) & 0xFFFFFFFF
        pkts += p
    for _ in range(20):
        # each packet may be lost (10%) or doubled (10%); neighbours swap now and then
        mangled: list[Pkt] = []
        for p in pkts:
            r = rnd.random()
            if r < 0.1:
                continue
            mangled += [p, p] if r > 0.9 else [p]
        for i in range(len(mangled) - 1):
            if rnd.random() < 0.1 and mangled[i][1] == mangled[i + 1][1]:
                mangled[i], mangled[i + 1] = mangled[i + 1], mangled[i]
        dec = Rfc4733Decoder()
        out = decode(mangled, dec) + dec.flush()
        assert "".join(e.digit for e in out) == digits


# ---------------------------------------------------------------- sending


def test_packets_for_one_digit() -> None:
    pkts = list(rfc4733_packets("#", 5000, 800, volume=10, packet_samples=160))
    assert [p.offset for p in pkts] == [160, 320, 480, 640, 800, 800, 800]
    assert [p.marker for p in pkts] == [True] + [False] * 6
    assert {p.timestamp for p in pkts} == {5000}
    fields = [struct.unpack("!BBH", p.payload) for p in pkts]
    assert fields[0] == (11, 10, 160)
    assert fields[-3:] == [(11, 0x80 | 10, 800)] * 3


def test_a_digit_shorter_than_one_packet() -> None:
    pkts = list(rfc4733_packets("1", 0, 100))
    assert (
        pkts
        == [EventPacket(event_payload(1, True, 10, 100), 0, True, 100)]
        + [EventPacket(event_payload(1, True, 10, 100), 0, False, 100)] * 2
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(rfc4733_packets("x", 0, 800))
    with pytest.raises(ValueError):
        list(rfc4733_packets("1", 0, 0))
    with pytest.raises(ValueError):
        event_payload(1, False, 64, 0)
