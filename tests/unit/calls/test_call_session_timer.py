"""Session timers (RFC 4028) through the B2BUA: the headers travel end to end, refreshes are
relayed, and a call nobody refreshes is ended by the PBX when the interval runs out."""

from __future__ import annotations

import secrets

import pytest
from test_call_flows import SDP_A, SDP_B, Dialog, Net, Phone

from pbx.calls import CallEnded
from pbx.sip.message import make_response

SE = (("session-expires", "90;refresher=uac"), ("supported", "timer"))


@pytest.fixture
def net() -> Net:
    return Net()


def dial_with_timer(a: Phone, ext: str) -> object:
    uri, call_id = f"sip:{ext}@127.0.0.1", secrets.token_hex(8)
    frm = f"<sip:{a.user}@127.0.0.1>;tag={secrets.token_hex(4)}"
    first = a._req("INVITE", uri, call_id, frm, f"<sip:{ext}@127.0.0.1>", next(a.cseq), SDP_A, SE)
    a.send(first)
    r407 = a.take_resp(407)
    ack = a._req("ACK", uri, call_id, frm, r407.headers.get("to") or "", first.cseq.number)
    ack.headers.set("via", first.headers.get("via") or "")
    a.send(ack)
    auth = (("proxy-authorization", a._digest(r407, "proxy-authenticate", "INVITE", uri)),)
    inv = a._req("INVITE", uri, call_id, frm, f"<sip:{ext}@127.0.0.1>", next(a.cseq), SDP_A, SE + auth)
    a.send(inv)
    return inv


def answered_with_timer(net: Net) -> tuple[Phone, Phone, Dialog, Dialog]:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)
    a.register()
    b.register()
    inv = dial_with_timer(a, "202")
    binv = b.take_req("INVITE")
    assert binv.headers.get("session-expires") == "90;refresher=uac"
    assert "timer" in (binv.headers.get("supported") or "")
    tag = b.tags.setdefault(binv.call_id, "bt")
    extra = [("contact", b.contact), ("content-type", "application/sdp"),
             ("session-expires", "90;refresher=uac"), ("require", "timer")]  # fmt: skip
    b.send(make_response(binv, 200, to_tag=tag, extra=extra, body=SDP_B))
    b.take_req("ACK")
    ok = a.take_resp(200)
    assert ok.headers.get("session-expires") == "90;refresher=uac" and ok.headers.get("require") == "timer"
    da = a.ack(inv, ok)  # type: ignore[arg-type]
    return a, b, da, b.dialog_as_callee(binv)


def test_unrefreshed_call_is_ended_when_the_interval_runs_out(net: Net) -> None:
    a, b, _da, _db = answered_with_timer(net)
    net.advance(89)
    assert a.count("BYE") == 0 and b.count("BYE") == 0
    net.advance(2)
    assert a.take_req("BYE") and b.take_req("BYE")
    assert [e.reason for e in net.event(CallEnded)] == ["session_expired"]  # type: ignore[attr-defined]


def test_refresh_is_relayed_and_keeps_the_call_up(net: Net) -> None:
    a, b, da, _db = answered_with_timer(net)
    net.advance(45)
    refresh = a.request(da, "INVITE", SDP_A, (("session-expires", "90;refresher=uac"),))
    relayed = b.take_req("INVITE")
    assert relayed.headers.get("session-expires") == "90;refresher=uac"
    b.send(make_response(relayed, 200, to_tag=b.tags[relayed.call_id], body=SDP_B,
                         extra=[("contact", b.contact), ("content-type", "application/sdp"),
                                ("session-expires", "90;refresher=uac"), ("require", "timer")]))  # fmt: skip
    b.take_req("ACK")
    assert a.take_resp(200).headers.get("session-expires") == "90;refresher=uac"
    a.ack_dialog(da, refresh.cseq.number)
    net.advance(80)  # 125 s after the answer, 80 s after the refresh
    assert a.count("BYE") == 0 and b.count("BYE") == 0
    net.advance(11)
    assert a.take_req("BYE") and b.take_req("BYE")


def test_no_session_timer_no_supervision(net: Net) -> None:
    from test_call_flows import connected

    a, b, _da, _db = connected(net)
    net.advance(7200)
    assert a.count("BYE") == 0 and b.count("BYE") == 0
