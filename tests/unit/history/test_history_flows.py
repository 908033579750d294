"""Call events and API hang-up through the whole PbxCore, with the fake phones of the call tests."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "calls"))
from test_call_flows import SDP_A, SDP_B, Net, Phone, connected, setup_call
from test_call_routing import routed_net

from pbx.calls.call import CallAnswered, CallEnded, CallRejected, CallRinging, CallStarted
from pbx.history import ConfigDirectory, HistoryRecorder, PersistHistory


@pytest.fixture
def net() -> Net:
    return Net()


def recorded(net: Net) -> dict[tuple[str, str], PersistHistory]:
    rec = HistoryRecorder(ConfigDirectory(lambda: net.core.config))
    out = [e for e in rec.process(net.events) if isinstance(e, PersistHistory)]
    return {(p.row.user, p.row.direction): p for p in out}


def test_events_of_an_answered_call_carry_what_history_needs(net: Net) -> None:
    a, b, inv, binv = setup_call(net)
    net.advance(0.25)
    b.reply(binv, 180)
    net.advance(4.0)
    b.reply(binv, 200, SDP_B)
    a.ack(inv, a.take_resp(200))
    net.advance(30.0)
    b.request(b.dialog_as_callee(binv), "BYE")
    [started] = net.event(CallStarted)
    assert isinstance(started, CallStarted)
    assert (started.caller, started.callee, started.caller_device) == ("201", "202", "201")
    assert (started.caller_name, started.users, started.devices) == ("Anna de Vries", ("202",), ("202",))
    assert (started.direction, started.did) == ("internal", None)
    [ringing] = net.event(CallRinging)
    assert isinstance(ringing, CallRinging) and ringing.device == "202"
    assert ringing.setup == pytest.approx(0.25)
    [answered] = net.event(CallAnswered)
    assert isinstance(answered, CallAnswered) and answered.setup == pytest.approx(4.25)
    rows = recorded(net)
    assert set(rows) == {("201", "out"), ("202", "in")}
    row = rows["202", "in"].row
    assert row.result == "answered" and row.duration == pytest.approx(30.0) and row.device == "202"
    assert row.start == started.wall and row.answer == answered.wall


def test_one_ringing_event_for_many_18x(net: Net) -> None:
    _a, b, _inv, binv = setup_call(net)
    b.reply(binv, 180)
    b.reply(binv, 183)
    assert len(net.event(CallRinging)) == 1


def test_rejected_call_is_an_event_and_a_row(net: Net) -> None:
    a = Phone(net, "201", 5071)
    a.register()
    a.dial("999")
    a.take_resp(404)
    a.dial("203")  # a user with no registered phone
    a.take_resp(480)
    rejected = net.event(CallRejected)
    assert [(e.callee, e.status) for e in rejected if isinstance(e, CallRejected)] == [
        ("999", 404),
        ("203", 480),
    ]
    rec = HistoryRecorder(ConfigDirectory(lambda: net.core.config))
    rows = [e.row for e in rec.process(net.events) if isinstance(e, PersistHistory)]
    assert [(r.user, r.direction, r.other_number, r.result) for r in rows] == [
        ("201", "out", "999", "rejected:404"),
        ("201", "out", "203", "rejected:480"),
    ]
    assert net.event(CallStarted) == []


def test_hangup_of_an_answered_call_sends_bye_both_ways(net: Net) -> None:
    a, b, _da, _db = connected(net)
    [call] = net.core.calls(net.clock.now())
    net.deliver(net.core.hangup(call.call_id, net.clock.now(), net.clock.wall()) or [])
    a.reply(a.take_req("BYE"), 200)
    b.reply(b.take_req("BYE"), 200)
    [ended] = net.event(CallEnded)
    assert isinstance(ended, CallEnded) and ended.reason == "api_hangup"
    assert net.core.calls(net.clock.now()) == [] and net.core.b2bua.count() == 0
    assert recorded(net)["201", "out"].row.result == "answered"


def test_hangup_while_ringing_cancels_and_tells_the_caller(net: Net) -> None:
    a, b, _inv, binv = setup_call(net)
    b.reply(binv, 180)
    [call] = net.core.calls(net.clock.now())
    net.deliver(net.core.hangup(call.call_id, net.clock.now(), net.clock.wall()) or [])
    a.take_resp(487)
    cancel = b.take_req("CANCEL")
    b.reply(cancel, 200)
    b.reply(binv, 487)
    assert net.core.b2bua.count() == 0
    assert recorded(net)["202", "in"].row.result == "cancelled"


def test_hangup_of_an_unknown_or_ended_call_is_none(net: Net) -> None:
    assert net.core.hangup("nope", net.clock.now(), net.clock.wall()) is None
    _a, b, _da, db = connected(net)
    [call] = net.core.calls(net.clock.now())
    b.request(db, "BYE")  # the callee hangs up; the caller has not answered our BYE yet
    assert net.core.hangup(call.call_id, net.clock.now(), net.clock.wall()) is None


def test_inbound_trunk_call_row_has_the_did_and_the_callers_name() -> None:
    net = routed_net()
    callee = Phone(net, "203", 5073)
    callee.register()
    carrier = Phone(net, "carrier", 5090)
    frm = '"Jan Klant" <sip:0612345678@127.0.0.1:5090>;tag=c1'
    inv = carrier._req("INVITE", "sip:+31534800203@127.0.0.1", secrets.token_hex(6), frm,
                       "<sip:+31534800203@127.0.0.1>", 1, SDP_A)  # fmt: skip
    carrier.send(inv)
    callee.reply(callee.take_req("INVITE"), 486)
    [started] = net.event(CallStarted)
    assert isinstance(started, CallStarted)
    assert (started.direction, started.did, started.caller_device) == (
        "inbound",
        "+31534800203",
        "trunk:carrier",
    )
    rows = recorded(net)
    assert list(rows) == [("203", "in")]
    row = rows["203", "in"].row
    assert (row.other_number, row.other_name, row.did, row.result) == (
        "0612345678", "Jan Klant", "+31534800203", "busy"
    )  # fmt: skip


def test_outbound_trunk_call_row_has_the_dialled_number() -> None:
    net = routed_net()
    a = Phone(net, "201", 5071)
    a.register()
    carrier = Phone(net, "carrier", 5090)
    a.dial("0534800900")
    carrier.reply(carrier.take_req("INVITE"), 486)
    [started] = net.event(CallStarted)
    assert isinstance(started, CallStarted) and started.direction == "outbound"
    assert started.devices == ("trunk:carrier",)
    rows = recorded(net)
    assert list(rows) == [("201", "out")]
    row = rows["201", "out"].row
    assert (row.other_number, row.other_name, row.did, row.result) == ("0534800900", None, None, "busy")
