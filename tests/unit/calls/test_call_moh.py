"""Music on hold: the PBX answers a hold itself, plays music to the held party, reunites on resume,
and keeps it right when both sides hold."""

from __future__ import annotations

import pytest
from test_call_flows import SDP_A, SDP_B, Dialog, Net, Phone, connected

from pbx.media.effects import MediaClose, MediaOpen, MediaPlay, MediaStopPlay, MediaUpdate

HOLD_A = SDP_A + b"a=sendonly\r\n"
HOLD_B = SDP_B + b"a=sendonly\r\n"
RECV_B = SDP_B + b"a=recvonly\r\n"


@pytest.fixture
def net() -> Net:
    return Net()


def take(net: Net, kind: type) -> list:  # type: ignore[type-arg]
    found = [e for e in net.events if isinstance(e, kind)]
    net.events = [e for e in net.events if not isinstance(e, kind)]
    return found


def hold(holder: Phone, d: Dialog, held: Phone, answer: bytes) -> None:
    req = holder.request(d, "INVITE", HOLD_A if holder.user == "201" else HOLD_B)
    ok = holder.take_resp(200)
    assert b"o=pbx" in ok.body and b"a=recvonly" in ok.body  # the PBX answered the hold itself
    holder.ack_dialog(d, req.cseq.number)
    offer = held.take_req("INVITE")
    assert b"o=pbx" in offer.body and b"a=sendonly" in offer.body
    held.reply(offer, 200, answer)
    assert held.take_req("ACK").cseq.number == offer.cseq.number


def test_held_party_hears_music_and_the_phones_are_reunited_on_resume(net: Net) -> None:
    a, b, da, _db = connected(net)
    hold(a, da, b, RECV_B)
    opened = take(net, MediaOpen)
    assert len(opened) == 1 and (opened[0].remote_host, opened[0].remote_port) == ("127.0.0.1", 4002)
    plays = take(net, MediaPlay)
    assert [p.prompts for p in plays] == [("moh:default",)] and plays[0].loop
    port = opened[0].local_port
    assert net.core.b2bua.ports.in_use() == 1
    # resume: A's offer goes to B, B's answer to A: direct media again, the PBX's session closed
    req = a.request(da, "INVITE", SDP_A)
    relayed = b.take_req("INVITE")
    assert relayed.body == SDP_A
    b.reply(relayed, 200, SDP_B)
    b.take_req("ACK")
    assert a.take_resp(200).body == SDP_B
    a.ack_dialog(da, req.cseq.number)
    assert take(net, MediaClose) == [MediaClose(opened[0].session)]
    assert net.core.b2bua.ports.in_use() == 0 and port


def test_both_hold_then_both_resume(net: Net) -> None:
    a, b, da, db = connected(net)
    hold(a, da, b, RECV_B)  # B hears music
    opened = take(net, MediaOpen)[0]
    take(net, MediaPlay)
    # B holds too: the PBX answers B itself (B's dialog is already with the PBX); nobody hears music
    req = b.request(db, "INVITE", HOLD_B)
    ok = b.take_resp(200)
    assert b"o=pbx" in ok.body
    b.ack_dialog(db, req.cseq.number)
    assert a.count("INVITE") == 0
    assert take(net, MediaStopPlay) and take(net, MediaPlay) == []
    # A resumes while B still holds: A now hears the music (answered by the PBX, not relayed)
    req = a.request(da, "INVITE", SDP_A)
    ok = a.take_resp(200)
    assert b"o=pbx" in ok.body and b"a=sendrecv" in ok.body
    a.ack_dialog(da, req.cseq.number)
    assert b.count("INVITE") == 0
    updates = take(net, MediaUpdate)
    assert updates and (updates[-1].remote_host, updates[-1].remote_port) == ("127.0.0.1", 4000)
    assert [p.prompts for p in take(net, MediaPlay)] == [("moh:default",)]
    # B resumes: its offer is relayed to A, A's answer back: the phones talk directly again
    req = b.request(db, "INVITE", SDP_B)
    relayed = a.take_req("INVITE")
    assert relayed.body == SDP_B
    a.reply(relayed, 200, SDP_A)
    a.take_req("ACK")
    assert b.take_resp(200).body == SDP_A
    b.ack_dialog(db, req.cseq.number)
    assert take(net, MediaClose) == [MediaClose(opened.session)]
    assert net.core.calls(net.clock.now())[0].state == "answered"


def test_hanging_up_while_held_closes_the_music(net: Net) -> None:
    a, b, da, _db = connected(net)
    hold(a, da, b, RECV_B)
    opened = take(net, MediaOpen)[0]
    a.request(da, "BYE")
    b.reply(b.take_req("BYE"), 200)
    assert take(net, MediaClose) == [MediaClose(opened.session)]
    assert net.core.b2bua.ports.in_use() == 0


def test_moh_off_relays_hold_untouched(net: Net) -> None:
    net.core.b2bua.moh_on_hold = False
    a, b, da, _db = connected(net)
    a.request(da, "INVITE", HOLD_A)
    assert b.take_req("INVITE").body == HOLD_A
    assert take(net, MediaOpen) == []
