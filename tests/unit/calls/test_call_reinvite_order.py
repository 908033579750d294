"""One INVITE transaction at a time in a dialog (RFC 3261 14.1), found on the wire.

tests/wire/test_calls_wire.py::test_caller_over_tcp[hold] failed now and then: the caller's
resume re-INVITE reached the callee before the callee's 200 to the PBX's music-on-hold offer had
been ACKed. The caller (over TCP) had its hold answered by the PBX at once and resumed while the
PBX's own re-INVITE (the music offer) to the callee was still under way, and the PBX relayed the
resume into the callee's dialog as a second INVITE transaction. Now the resume waits for the
music offer's final response (and its ACK) and is relayed after it.
"""

from __future__ import annotations

from test_call_flows import SDP_A, SDP_B, Net, connected

from pbx.sip.message import Request

HOLD_A = SDP_A + b"a=sendonly\r\n"
RECV_B = SDP_B + b"a=recvonly\r\n"


def kinds(inbox: list[object]) -> list[str]:
    return [m.method if isinstance(m, Request) else str(getattr(m, "status", "?")) for m in inbox]


def test_resume_waits_for_the_music_offer_to_be_answered_and_acked() -> None:
    net = Net()
    a, b, da, _db = connected(net)
    hold = a.request(da, "INVITE", HOLD_A)
    a.take_resp(200)  # the PBX answers the hold itself...
    a.ack_dialog(da, hold.cseq.number)
    offer = b.take_req("INVITE")  # ...and offers its music to B, who has not answered yet
    assert b"o=pbx" in offer.body

    resume = a.request(da, "INVITE", SDP_A)
    assert b.count("INVITE") == 0, "a second INVITE transaction in B's dialog"
    assert a.take_resp(100).cseq.number == resume.cseq.number  # waiting, quietly

    b.reply(offer, 200, RECV_B)
    assert kinds(b.inbox) == ["ACK", "INVITE"], b.inbox  # the ACK first, then the relayed resume
    assert b.take_req("ACK").cseq.number == offer.cseq.number
    relayed = b.take_req("INVITE")
    assert relayed.body == SDP_A and relayed.cseq.number > offer.cseq.number
    b.reply(relayed, 200, SDP_B)
    b.take_req("ACK")
    assert a.take_resp(200).body == SDP_B
    a.ack_dialog(da, resume.cseq.number)
    assert net.core.calls(net.clock.now())[0].state == "answered"


def test_a_refused_music_offer_also_lets_the_resume_through() -> None:
    net = Net()
    a, b, da, _db = connected(net)
    hold = a.request(da, "INVITE", HOLD_A)
    a.take_resp(200)
    a.ack_dialog(da, hold.cseq.number)
    offer = b.take_req("INVITE")
    a.request(da, "INVITE", SDP_A)
    assert b.count("INVITE") == 0
    b.reply(offer, 488)  # B refuses the PBX's music: the transaction ACKs it; the resume goes on
    relayed = b.take_req("INVITE")
    assert relayed.body == SDP_A
    b.reply(relayed, 200, SDP_B)
    assert a.take_resp(200).body == SDP_B


def test_a_third_offer_while_one_waits_gets_491() -> None:
    net = Net()
    a, b, da, _db = connected(net)
    hold = a.request(da, "INVITE", HOLD_A)
    a.take_resp(200)
    a.ack_dialog(da, hold.cseq.number)
    offer = b.take_req("INVITE")
    a.request(da, "INVITE", SDP_A)  # waits for B's answer to the music offer
    a.take_resp(100)
    update = a.request(da, "UPDATE", SDP_A)
    assert a.take_resp(491).cseq.number == update.cseq.number
    b.reply(offer, 200, RECV_B)
    assert b.take_req("INVITE").body == SDP_A


def test_hanging_up_while_a_resume_waits_answers_it() -> None:
    net = Net()
    a, b, da, db = connected(net)
    hold = a.request(da, "INVITE", HOLD_A)
    a.take_resp(200)
    a.ack_dialog(da, hold.cseq.number)
    b.take_req("INVITE")
    resume = a.request(da, "INVITE", SDP_A)
    a.take_resp(100)
    b.request(db, "BYE")  # B hangs up instead of answering the music offer
    b.take_resp(200)
    assert a.take_resp(481).cseq.number == resume.cseq.number
    a.take_req("BYE")


def test_glare_in_the_held_partys_dialog_gets_491() -> None:
    # 14.2: B's own re-INVITE crosses the PBX's music offer in B's dialog: B gets 491 and
    # answers the PBX's offer as usual
    net = Net()
    a, b, da, db = connected(net)
    hold = a.request(da, "INVITE", HOLD_A)
    a.take_resp(200)
    a.ack_dialog(da, hold.cseq.number)
    offer = b.take_req("INVITE")
    mine = b.request(db, "INVITE", SDP_B)
    assert b.take_resp(491).cseq.number == mine.cseq.number
    assert a.count("INVITE") == 0
    b.reply(offer, 200, RECV_B)
    assert b.take_req("ACK").cseq.number == offer.cseq.number
