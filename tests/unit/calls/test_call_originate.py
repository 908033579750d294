"""Click-to-dial (POST /api/calls): ring the user's phone, then the target, then bridge (RFC 3725)."""

from __future__ import annotations

import pytest
from test_call_flows import SDP_A, SDP_B, Net, Phone

from pbx.calls import CallEnded
from pbx.calls.routing import Reject

SDP_A2 = SDP_A.replace(b"o=a 1 1", b"o=a 1 2")


@pytest.fixture
def net() -> Net:
    return Net()


def originate(net: Net, user: str, dialled: str) -> str:
    res = net.core.b2bua.originator.originate(user, dialled, net.clock.now(), net.clock.wall())
    net.deliver(net.core.b2bua.take_effects())
    assert isinstance(res, str), res
    return res


def phones(net: Net) -> tuple[Phone, Phone]:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    return a, b


def test_user_answers_then_target_answers_and_they_are_bridged(net: Net) -> None:
    a, b = phones(net)
    cid = originate(net, "201", "202")
    inv_a = a.take_req("INVITE")
    assert inv_a.body == b"" and "sip:202@" in (inv_a.headers.get("from") or "")  # the phone shows whom
    assert b.count("INVITE") == 0  # the target waits for the user
    a.reply(inv_a, 180)
    a.reply(inv_a, 200, SDP_A)
    ack = a.take_req("ACK")
    assert b"a=inactive" in ack.body and b"m=audio 9 RTP/AVP 0" in ack.body  # on hold meanwhile
    inv_b = b.take_req("INVITE")
    assert inv_b.body == b"" and "sip:201@" in (inv_b.headers.get("from") or "")
    b.reply(inv_b, 180)
    b.reply(inv_b, 200, SDP_B)
    assert b.count("ACK") == 0  # ACKed once the user's phone has the answer
    reinv = a.take_req("INVITE")
    assert (
        reinv.call_id == inv_a.call_id and reinv.body == SDP_B and reinv.cseq.number == inv_a.cseq.number + 1
    )
    a.reply(reinv, 200, SDP_A2)
    assert a.take_req("ACK").cseq.number == reinv.cseq.number
    b_ack = b.take_req("ACK")
    assert b_ack.body == SDP_A2 and b_ack.cseq.number == inv_b.cseq.number
    calls = net.core.calls(net.clock.now())
    assert [(c.call_id, c.state) for c in calls] == [(cid, "answered")]
    # from here on an ordinary call: BYE from the target reaches the user
    db = b.dialog_as_callee(inv_b)
    b.request(db, "BYE")
    a.reply(a.take_req("BYE"), 200)
    assert b.take_resp(200).cseq.method == "BYE"
    assert [e for e in net.event(CallEnded) if e.call_id == cid]  # type: ignore[attr-defined]


def test_user_does_not_answer(net: Net) -> None:
    a, b = phones(net)
    cid = originate(net, "201", "202")
    inv_a = a.take_req("INVITE")
    a.reply(inv_a, 180)
    net.advance(31)
    cancel = a.take_req("CANCEL")
    assert cancel.cseq.number == inv_a.cseq.number
    assert b.count("INVITE") == 0
    ended = [e for e in net.event(CallEnded) if e.call_id == cid]  # type: ignore[attr-defined]
    assert ended and ended[0].reason == "no_answer"  # type: ignore[attr-defined]
    assert net.core.calls(net.clock.now()) == []


def test_target_busy_releases_the_user(net: Net) -> None:
    a, b = phones(net)
    cid = originate(net, "201", "202")
    inv_a = a.take_req("INVITE")
    a.reply(inv_a, 200, SDP_A)
    a.take_req("ACK")
    b.reply(b.take_req("INVITE"), 486)
    bye = a.take_req("BYE")
    assert bye.call_id == inv_a.call_id
    ended = [e for e in net.event(CallEnded) if e.call_id == cid]  # type: ignore[attr-defined]
    assert ended and ended[0].reason == "busy"  # type: ignore[attr-defined]


def test_hangup_while_the_user_rings(net: Net) -> None:
    a, _b = phones(net)
    cid = originate(net, "201", "202")
    inv_a = a.take_req("INVITE")
    a.reply(inv_a, 180)
    out = net.core.b2bua.hangup(cid, net.clock.now(), net.clock.wall())
    assert out is not None
    net.deliver(out)
    assert a.take_req("CANCEL")
    assert net.core.calls(net.clock.now()) == []


@pytest.mark.parametrize(
    ("user", "dialled", "status"),
    [("299", "202", 404), ("201", "299", 404), ("202", "201", 480)],
    ids=["unknown user", "no route", "user not registered"],
)
def test_originate_refusals(net: Net, user: str, dialled: str, status: int) -> None:
    Phone(net, "201", 5071).register()
    res = net.core.b2bua.originator.originate(user, dialled, net.clock.now(), net.clock.wall())
    assert isinstance(res, Reject) and res.status == status
