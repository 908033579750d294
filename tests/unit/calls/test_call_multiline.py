"""Multiple lines (SPEC 3, PS "Extra gesprek"): hold one call, make or take a second, swap, hang up
one and resume the other. Each call is its own pair of dialogs; the PBX must keep every leg right."""

from __future__ import annotations

import pytest
from test_call_flows import SDP_A, SDP_B, Dialog, Net, Phone

HOLD = SDP_A + b"a=sendonly\r\n"
HELD = SDP_B + b"a=recvonly\r\n"


@pytest.fixture
def net() -> Net:
    return Net()


def call(net: Net, a: Phone, b: Phone) -> tuple[Dialog, Dialog]:
    inv = a.dial(b.user)
    binv = b.take_req("INVITE")
    b.reply(binv, 200, SDP_B)
    b.take_req("ACK")
    da = a.ack(inv, a.take_resp(200))
    a.clear()
    return da, b.dialog_as_callee(binv)


def reinvite(a: Phone, d: Dialog, other: Phone, body: bytes, answer: bytes) -> None:
    """`a` holds (HOLD) or resumes in dialog `d`. Hold: the PBX answers `a` itself and offers its
    music to `other` (sendonly). Resume: the offer is relayed to `other`, whose answer comes back."""
    req = a.request(d, "INVITE", body)
    relayed = other.take_req("INVITE")
    if body == HOLD:
        assert b"a=sendonly" in relayed.body and b"o=pbx" in relayed.body  # the PBX's music
        other.reply(relayed, 200, answer)
        other.take_req("ACK")
        ok = a.take_resp(200)
        assert b"a=recvonly" in ok.body and b"o=pbx" in ok.body
    else:
        assert relayed.body == body
        other.reply(relayed, 200, answer)
        other.take_req("ACK")
        assert a.take_resp(200).body == answer
    a.ack_dialog(d, req.cseq.number)


def states(net: Net) -> list[tuple[str, str, str]]:
    return sorted((c.caller, c.callee, c.state) for c in net.core.calls(net.clock.now()))


def test_hold_second_call_swap_hang_up_one_resume_other(net: Net) -> None:
    a, b, c = Phone(net, "201", 5071), Phone(net, "202", 5072), Phone(net, "203", 5073)
    for p in (a, b, c):
        p.register()
    ab, ba = call(net, a, b)
    reinvite(a, ab, b, HOLD, HELD)  # line 1 on hold
    ac, _ca = call(net, a, c)  # line 2
    assert states(net) == [("201", "202", "answered"), ("201", "203", "answered")]
    reinvite(a, ac, c, HOLD, HELD)  # swap: hold line 2 ...
    reinvite(a, ab, b, SDP_A, SDP_B)  # ... and resume line 1
    a.request(ab, "BYE")  # hang up line 1
    bye = b.take_req("BYE")
    assert bye.call_id == ba.call_id
    b.reply(bye, 200)
    assert a.take_resp(200).cseq.method == "BYE"
    net.advance(40)  # the ended call is forgotten; the held one is untouched
    assert states(net) == [("201", "203", "answered")]
    reinvite(a, ac, c, SDP_A, SDP_B)  # resume line 2
    assert c.count("BYE") == 0 and states(net) == [("201", "203", "answered")]


def test_second_incoming_call_while_the_first_is_held(net: Net) -> None:
    a, b, c = Phone(net, "201", 5071), Phone(net, "202", 5072), Phone(net, "203", 5073)
    for p in (a, b, c):
        p.register()
    ab, _ba = call(net, a, b)
    reinvite(a, ab, b, HOLD, HELD)
    ca, ac = call(net, c, a)  # 203 calls 201, who takes it on the second line
    assert states(net) == [("201", "202", "answered"), ("203", "201", "answered")]
    c.request(ca, "BYE")  # the caller on line 2 hangs up
    a.reply(a.take_req("BYE"), 200)
    assert c.take_resp(200).cseq.method == "BYE"
    reinvite(a, ab, b, SDP_A, SDP_B)  # back to line 1
    assert b.count("BYE") == 0 and ac.call_id != ab.call_id
    net.advance(40)
    assert states(net) == [("201", "202", "answered")]
