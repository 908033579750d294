"""Mid-call behaviour through PbxCore: re-INVITE/UPDATE/INFO relaying, 2xx re-sending, stray dialogs."""

from __future__ import annotations

import pytest
from test_call_flows import SDP_A, SDP_B, Dialog, Net, Phone, connected, setup_call

from pbx.calls import CallEnded

HOLD = SDP_A + b"a=sendonly\r\n"
HELD = SDP_B + b"a=recvonly\r\n"


@pytest.fixture
def net() -> Net:
    n = Net()
    n.core.b2bua.moh_on_hold = False  # plain relaying; music on hold is tested in test_call_moh.py
    return n


def test_reinvite_hold_from_caller_relayed_and_answered(net: Net) -> None:
    a, b, da, db = connected(net)
    reinv = a.request(da, "INVITE", HOLD)
    binv = b.take_req("INVITE")
    # rendered for B's dialog: B's Call-ID and tags, the PBX's next CSeq, the SDP as sent
    assert binv.call_id == db.call_id and binv.to.tag == db.local.split("tag=")[1]
    assert binv.body == HOLD and binv.cseq.number == 2 and binv.uri_text == "sip:202@127.0.0.1:5072"
    b.reply(binv, 200, HELD)
    b.take_req("ACK")  # the offer was in the re-INVITE: ACKed at once
    ok = a.take_resp(200)
    assert ok.body == HELD and ok.cseq.number == reinv.cseq.number and ok.call_id == da.call_id
    a.ack_dialog(da, reinv.cseq.number)
    net.advance(5)
    assert a.count(200) == 0  # no more re-sending after the ACK
    # resume, this time from the callee's side
    resume = b.request(db, "INVITE", SDP_B)
    ainv = a.take_req("INVITE")
    assert ainv.call_id == da.call_id and ainv.body == SDP_B
    a.reply(ainv, 200, SDP_A)
    a.take_req("ACK")
    ok2 = b.take_resp(200)
    assert ok2.body == SDP_A and ok2.cseq.number == resume.cseq.number
    b.ack_dialog(db, resume.cseq.number)
    assert net.core.calls(net.clock.now())[0].state == "answered"


def test_reinvite_without_sdp_acks_with_the_answer(net: Net) -> None:
    a, b, da, _db = connected(net)
    reinv = a.request(da, "INVITE")  # delayed offer: B's 200 has the offer, A's ACK the answer
    binv = b.take_req("INVITE")
    assert binv.body == b""
    b.reply(binv, 200, HELD)
    assert b.count("ACK") == 0
    assert a.take_resp(200).body == HELD
    a.send(a._req("ACK", da.target, da.call_id, da.local, da.remote, reinv.cseq.number, SDP_A))
    ack = b.take_req("ACK")
    assert ack.body == SDP_A and ack.cseq.number == binv.cseq.number


def test_initial_invite_without_sdp(net: Net) -> None:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    inv = a.dial("202", body=b"")
    binv = b.take_req("INVITE")
    b.reply(binv, 200, SDP_B)
    assert b.count("ACK") == 0
    ok = a.take_resp(200)
    assert ok.body == SDP_B
    a.ack(inv, ok, SDP_A)
    assert b.take_req("ACK").body == SDP_A


def test_update_relayed_both_ways(net: Net) -> None:
    a, b, da, db = connected(net)
    a.request(da, "UPDATE", HOLD)
    upd = b.take_req("UPDATE")
    assert upd.body == HOLD and upd.call_id == db.call_id
    b.reply(upd, 200, HELD)
    assert a.take_resp(200).body == HELD
    b.request(db, "UPDATE", SDP_B)
    a.reply(a.take_req("UPDATE"), 200, SDP_A)
    assert b.take_resp(200).body == SDP_A


def test_info_dtmf_relayed(net: Net) -> None:
    a, b, da, db = connected(net)
    dtmf = b"Signal=5\r\nDuration=160\r\n"
    b.request(db, "INFO", dtmf, (("content-type", "application/dtmf-relay"),))
    info = a.take_req("INFO")
    assert info.body == dtmf and info.headers.get("content-type") == "application/dtmf-relay"
    assert info.call_id == da.call_id
    a.reply(info, 200)
    assert b.take_resp(200).cseq.method == "INFO"


def test_failure_to_reinvite_relayed_and_call_stays(net: Net) -> None:
    a, b, da, _db = connected(net)
    a.request(da, "INVITE", HOLD)
    b.reply(b.take_req("INVITE"), 488)
    assert a.take_resp(488)
    assert net.core.calls(net.clock.now())[0].state == "answered"


def test_second_reinvite_while_one_is_pending_gets_491(net: Net) -> None:
    a, b, da, db = connected(net)
    a.request(da, "INVITE", HOLD)
    b.take_req("INVITE")
    b.request(db, "INVITE", SDP_B)
    assert b.take_resp(491)


def test_options_in_dialog_answered_locally(net: Net) -> None:
    a, b, da, _db = connected(net)
    a.request(da, "OPTIONS")
    assert a.take_resp(200) and b.count("OPTIONS") == 0


def test_unknown_dialog_481(net: Net) -> None:
    a, b, da, _db = connected(net)
    da.remote = da.remote.split(";tag=")[0] + ";tag=nosuchtag"
    a.request(da, "BYE")
    assert a.take_resp(481)
    a.request(da, "INFO")
    assert a.take_resp(481)
    assert b.inbox == []


def test_out_of_order_cseq_500(net: Net) -> None:
    a, _b, da, _db = connected(net)
    da.cseq = 0
    a.request(da, "INFO")
    assert a.take_resp(500)


def test_2xx_resent_until_ack(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 200, SDP_B)
    ok = a.take_resp(200)
    net.advance(0.5)
    net.advance(1.0)
    assert a.count(200) == 2  # at T1 and 2*T1 later (RFC 3261 13.3.1.4)
    a.ack(inv, ok)
    net.advance(10)
    assert a.count(200) == 2


def test_2xx_gives_up_at_64_t1_with_bye(net: Net) -> None:
    a, b, _inv, binv = setup_call(net)
    b.reply(binv, 200, SDP_B)
    b.take_req("ACK")
    a.take_resp(200)
    net.advance(31.9)
    # T1 doubling up to T2: 0.5 1.5 3.5 7.5 11.5 15.5 19.5 23.5 27.5 31.5
    assert a.count(200) == 10 and a.count("BYE") == 0
    net.advance(0.2)
    a.reply(a.take_req("BYE"), 200)
    b.reply(b.take_req("BYE"), 200)
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "ack_timeout"
    assert net.core.b2bua.count() == 0


def test_call_forgotten_even_if_callee_never_finishes_cancel(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    a.cancel(inv)
    b.take_req("CANCEL")  # never answered
    assert net.core.b2bua.count() == 1
    net.advance(40)
    assert net.core.b2bua.count() == 0


def test_snapshot_lists_live_calls(net: Net) -> None:
    _a, b, inv, binv = setup_call(net)
    b.reply(binv, 180)
    [call] = net.core.calls(net.clock.now())
    assert (call.caller, call.callee, call.state) == ("201", "202", "setup")
    assert [(x.id, x.role, x.state, x.peer) for x in call.legs] == [
        ("a", "uas", "early", "201"),
        ("b1", "uac", "early", "202"),
    ]
    assert call.legs[0].sip_call_id == inv.call_id and call.legs[1].sip_call_id == binv.call_id


def test_callee_2xx_again_after_its_transaction_is_reacked(net: Net) -> None:
    _a, b, _inv, binv = setup_call(net)
    ok = b.reply(binv, 200, SDP_B)
    first = b.take_req("ACK")
    b.send(ok)  # within Timer M: through the transaction
    assert b.take_req("ACK").render() == first.render()
    net.advance(40)  # Timer M over: a stray 2xx, matched by dialog
    b.clear()
    b.send(ok)
    assert b.take_req("ACK").cseq.number == binv.cseq.number


def test_bye_before_ack_with_delayed_offer_still_acks_callee(net: Net) -> None:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    inv = a.dial("202", body=b"")
    binv = b.take_req("INVITE")
    b.reply(binv, 200, SDP_B)
    ok = a.take_resp(200)
    to, target = ok.headers.get("to") or "", ok.contacts[0].uri.text
    da = Dialog(inv.call_id, inv.headers.get("from") or "", to, target, inv.cseq.number)
    # the caller hangs up without ever sending its ACK
    a.request(da, "BYE")
    a.take_resp(200)
    assert [getattr(m, "method", None) for m in b.inbox] == ["ACK", "BYE"]
