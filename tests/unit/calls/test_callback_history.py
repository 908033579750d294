"""A call-back in the agent's call history, and the agent hanging up a call-back (both seen on the
wire: tests/wire/test_operator_wire.py).

- The call-back's originate opened its history record under its own id ("<call-back>:<agent>")
  while the answer and the end of the joined call came under the call-back's id, so the record was
  never closed and the completed call-back was missing from the agent's history.
- The joined call's A leg is the agent's, dialled by the PBX (role UAC): its BYE was taken for "a
  callee may not BYE an early dialog" and the customer stayed connected."""

from __future__ import annotations

from test_call_callback import net, press_1_while_waiting  # noqa: F401  (net: the fixture)
from test_call_flows import SDP_A, SDP_B, Net, Phone
from test_call_queue import feature

from pbx.calls.call import CallAnswered, CallEnded, CallStarted
from pbx.history.model import PersistHistory
from pbx.history.recorder import ConfigDirectory, HistoryRecorder


def history_rows(n: Net) -> list[PersistHistory]:
    recorder = HistoryRecorder(ConfigDirectory(lambda: n.core.config))
    return [e for e in recorder.process(n.events) if isinstance(e, PersistHistory)]


def test_a_completed_callback_is_one_answered_outgoing_row_of_the_agent(net: Net) -> None:  # noqa: F811
    customer, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    customer.register()
    agent.register()
    feature(net, agent, "*45")
    feature(net, agent, "*46")
    cb_id = press_1_while_waiting(net, customer)
    feature(net, agent, "*46")
    ring = agent.take_req("INVITE")
    agent.reply(ring, 200, SDP_B)
    agent.take_req("ACK")
    dial = customer.take_req("INVITE")
    customer.reply(dial, 200, SDP_A)
    agent.reply(agent.take_req("INVITE"), 200, SDP_B)
    agent.take_req("ACK")
    customer.take_req("ACK")
    net.advance(30)
    agent.request(agent.dialog_as_callee(ring), "BYE")  # the agent hangs up: the customer gets BYE
    customer.reply(customer.take_req("BYE"), 200)
    kinds = CallStarted | CallAnswered | CallEnded
    mine = [e for e in net.events if isinstance(e, kinds) and e.call_id.startswith(cb_id)]
    ids = {type(e).__name__: e.call_id for e in mine}
    assert ids == {"CallStarted": cb_id, "CallAnswered": cb_id, "CallEnded": cb_id}, ids
    rows = [r.row for r in history_rows(net) if r.row.call_id == cb_id]
    got = sorted((r.user, r.direction, r.other_number, r.result) for r in rows)
    # 201 is a user here (the customer of the unit tests), so they have a row of their own
    assert got == [("201", "in", "202", "answered"), ("202", "out", "201", "answered")], got
    assert all(r.duration >= 30 for r in rows)


def test_a_callback_the_customer_does_not_answer_is_a_row_too(net: Net) -> None:  # noqa: F811
    customer, agent = Phone(net, "201", 5071), Phone(net, "202", 5072)
    customer.register()
    agent.register()
    feature(net, agent, "*45")
    feature(net, agent, "*46")
    cb_id = press_1_while_waiting(net, customer)
    feature(net, agent, "*46")
    agent.reply(agent.take_req("INVITE"), 200, SDP_B)
    agent.take_req("ACK")
    customer.reply(customer.take_req("INVITE"), 486)
    agent.reply(agent.take_req("BYE"), 200)
    rows = [r.row for r in history_rows(net) if r.row.call_id == cb_id]
    got = sorted((r.user, r.direction, r.other_number, r.result) for r in rows)
    assert got == [("201", "in", "202", "busy"), ("202", "out", "201", "busy")], got
