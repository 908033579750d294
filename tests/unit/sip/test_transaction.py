"""The four RFC 3261 section 17 state machines (with RFC 6026), driven by wire bytes and explicit time."""

from __future__ import annotations

import pytest

from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.sip.message import Request, Response, make_response
from pbx.sip.parser import parse
from pbx.sip.transaction import (
    AckReceived,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    InvalidTransition,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    Timer,
    TimerConfig,
    TransactionTimedOut,
    TxOutput,
    TxState,
    TxStats,
)

UDP = Addr("udp", "192.0.2.20", 5060)
TCP = Addr("tcp", "192.0.2.20", 5060)
BRANCH = "z9hG4bK74bf9"


def request_bytes(
    method: str = "INVITE", transport: str = "UDP", branch: str = BRANCH, cseq: int = 1
) -> bytes:
    return (
        f"{method} sip:203@pbx.example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} pc33.example.com:5060;branch={branch};rport\r\n"
        "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKfar\r\n"
        "Max-Forwards: 70\r\n"
        "Route: <sip:p1.example.com;lr>\r\n"
        "Route: <sip:p2.example.com;lr>\r\n"
        'From: "Alice" <sip:201@pbx.example.com>;tag=1928301774\r\n'
        "To: <sip:203@pbx.example.com>\r\n"
        "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:201@pc33.example.com>\r\n"
        "Timestamp: 54\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


def request(method: str = "INVITE", transport: str = "UDP") -> Request:
    msg = parse(request_bytes(method, transport))
    assert isinstance(msg, Request)
    return msg


def response(status: int, reason: str, method: str = "INVITE", tag: str | None = "8321234356") -> Response:
    to = "To: <sip:203@pbx.example.com>" + (f";tag={tag}" if tag else "")
    msg = parse(
        (
            f"SIP/2.0 {status} {reason}\r\n"
            f"Via: SIP/2.0/UDP pc33.example.com:5060;branch={BRANCH};rport\r\n"
            "Via: SIP/2.0/UDP 192.0.2.99;branch=z9hG4bKfar\r\n"
            'From: "Alice" <sip:201@pbx.example.com>;tag=1928301774\r\n'
            f"{to}\r\n"
            "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
            f"CSeq: 1 {method}\r\n"
            "Content-Length: 0\r\n"
            "\r\n"
        ).encode()
    )
    assert isinstance(msg, Response)
    return msg


def sends(out: list[TxOutput]) -> list[bytes]:
    return [e.data for e in out if isinstance(e, Send)]


def fire_until(
    tx: ClientInviteTransaction | ClientNonInviteTransaction | ServerInviteTransaction, end: float
):
    """Fire every deadline up to `end`; return [(time, outputs)] like a FakeClock would."""
    log: list[tuple[float, list[TxOutput]]] = []
    while (d := tx.next_deadline()) is not None and d <= end:
        log.append((d, tx.on_timer(d)))
    return log


# --- client INVITE (fig. 5) --------------------------------------------------------------------


def test_client_invite_retransmits_on_timer_a_and_times_out_on_timer_b() -> None:
    tx = ClientInviteTransaction(request(), UDP, key="k")
    first = tx.start(0.0)
    assert first == [Send(request().render(), UDP)] and tx.state is TxState.CALLING
    log = fire_until(tx, 40.0)
    retransmits = [t for t, out in log if sends(out)]
    assert retransmits == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(sends(out) == [first[0].data] for t, out in log if t < 32.0)
    assert log[-1] == (32.0, [TransactionTimedOut("k", "B")])
    assert tx.state is TxState.TERMINATED and tx.next_deadline() is None
    assert tx.stats.retransmissions_sent == 6 and tx.stats.timeouts["B"] == 1


def test_client_invite_over_tcp_never_retransmits() -> None:
    tx = ClientInviteTransaction(request(transport="TCP"), TCP, key="k")
    tx.start(0.0)
    assert tx.deadline(Timer.A) is None and tx.next_deadline() == 32.0
    assert tx.on_timer(32.0) == [TransactionTimedOut("k", "B")]


def test_provisional_stops_retransmission_and_is_passed_up() -> None:
    tx = ClientInviteTransaction(request(), UDP, key="k")
    tx.start(0.0)
    tx.on_timer(0.5)
    ringing = response(180, "Ringing")
    assert tx.receive_response(ringing, 0.7) == [ResponseReceived("k", ringing)]
    assert tx.state is TxState.PROCEEDING and tx.next_deadline() is None
    again = response(180, "Ringing")
    assert tx.receive_response(again, 2.0) == [ResponseReceived("k", again)]


def test_non_2xx_final_generates_the_ack_and_reacks_retransmissions() -> None:
    invite = request()
    tx = ClientInviteTransaction(invite, UDP, key="k")
    tx.start(0.0)
    busy = response(486, "Busy Here")
    out = tx.receive_response(busy, 1.0)
    assert tx.state is TxState.COMPLETED
    assert out[1] == ResponseReceived("k", busy)
    assert isinstance(out[0], Send) and out[0].dest == UDP
    ack = parse(out[0].data)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri_text == invite.uri_text
    assert ack.headers.get_all("via") == [invite.headers.get("via")]  # the top Via only
    assert ack.headers.get_all("route") == invite.headers.get_all("route")
    assert ack.headers.get("from") == invite.headers.get("from")
    assert ack.to.tag == "8321234356"
    assert ack.call_id == invite.call_id
    assert (ack.cseq.number, ack.cseq.method) == (1, "ACK")
    assert tx.next_deadline() == 33.0  # Timer D, 32 s over UDP
    # the final response again (our ACK got lost): the same ACK bytes, not passed up
    assert tx.receive_response(response(486, "Busy Here"), 2.0) == [Send(out[0].data, UDP)]
    assert tx.stats.retransmissions_absorbed == 1
    assert tx.on_timer(33.0) == [] and tx.state is TxState.TERMINATED


def test_non_2xx_over_tcp_terminates_at_once() -> None:
    tx = ClientInviteTransaction(request(transport="TCP"), TCP, key="k")
    tx.start(0.0)
    tx.receive_response(response(404, "Not Found"), 1.0)
    assert tx.state is TxState.TERMINATED  # Timer D = 0 on a reliable transport


def test_2xx_goes_to_accepted_and_copies_are_passed_up_until_timer_m() -> None:
    tx = ClientInviteTransaction(request(), UDP, key="k")
    tx.start(0.0)
    ok = response(200, "OK")
    assert tx.receive_response(ok, 2.0) == [ResponseReceived("k", ok)]  # no ACK: the TU sends it
    assert tx.state is TxState.ACCEPTED and tx.next_deadline() == 34.0  # Timer M = 64*T1
    ok2 = response(200, "OK")
    assert tx.receive_response(ok2, 2.5) == [ResponseReceived("k", ok2)]
    assert tx.receive_response(response(180, "Ringing"), 2.6) == []
    assert tx.on_timer(34.0) == [] and tx.state is TxState.TERMINATED


# --- client non-INVITE (fig. 6) ----------------------------------------------------------------


def test_client_non_invite_timer_e_doubles_up_to_t2_then_timer_f() -> None:
    tx = ClientNonInviteTransaction(request("OPTIONS"), UDP, key="k")
    tx.start(0.0)
    log = fire_until(tx, 40.0)
    assert [t for t, out in log if sends(out)] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert log[-1] == (32.0, [TransactionTimedOut("k", "F")])
    assert tx.stats.timeouts["F"] == 1


def test_client_non_invite_proceeding_retransmits_every_t2() -> None:
    tx = ClientNonInviteTransaction(request("OPTIONS"), UDP, key="k")
    tx.start(0.0)
    tx.on_timer(0.5)  # next E at 1.5
    trying = response(100, "Trying", "OPTIONS", tag=None)
    assert tx.receive_response(trying, 0.6) == [ResponseReceived("k", trying)]
    assert tx.state is TxState.PROCEEDING
    assert tx.deadline(Timer.E) == 1.5
    tx.on_timer(1.5)
    assert tx.deadline(Timer.E) == 5.5  # reset to T2 in Proceeding


def test_client_non_invite_final_then_timer_k() -> None:
    tx = ClientNonInviteTransaction(request("OPTIONS"), UDP, key="k")
    tx.start(0.0)
    ok = response(200, "OK", "OPTIONS")
    assert tx.receive_response(ok, 1.0) == [ResponseReceived("k", ok)]
    assert tx.state is TxState.COMPLETED and tx.next_deadline() == 6.0  # Timer K = T4
    assert tx.receive_response(response(200, "OK", "OPTIONS"), 2.0) == []  # absorbed
    assert tx.on_timer(6.0) == [] and tx.state is TxState.TERMINATED


def test_client_non_invite_over_tcp() -> None:
    tx = ClientNonInviteTransaction(request("OPTIONS", "TCP"), TCP, key="k")
    tx.start(0.0)
    assert tx.deadline(Timer.E) is None and tx.next_deadline() == 32.0
    tx.receive_response(response(200, "OK", "OPTIONS"), 1.0)
    assert tx.state is TxState.TERMINATED  # Timer K = 0


# --- server INVITE (fig. 7 + RFC 6026) ---------------------------------------------------------


def server_invite(transport: str = "UDP") -> tuple[ServerInviteTransaction, Request]:
    req = request(transport=transport)
    tx = ServerInviteTransaction(req, TCP if transport == "TCP" else UDP, key="s", stats=TxStats())
    assert tx.start(0.0) == []
    return tx, req


def test_server_invite_sends_100_trying_after_200_ms() -> None:
    tx, req = server_invite()
    assert tx.next_deadline() == 0.2
    out = tx.on_timer(0.2)
    trying = parse(sends(out)[0])
    assert isinstance(trying, Response) and trying.status == 100
    assert trying.to.tag is None and trying.headers.get("timestamp") == "54"
    assert trying.headers.get_all("via") == req.headers.get_all("via")
    # a retransmitted INVITE gets that 100 again
    assert tx.receive_request(request(), 0.5) == out


def test_server_invite_no_100_when_the_tu_answers_in_time() -> None:
    tx, req = server_invite()
    ringing = make_response(req, 180, to_tag="t1")
    out = tx.respond(ringing, 0.1)
    assert out == [Send(ringing.render(), UDP)]
    assert tx.deadline(Timer.TRYING) is None and tx.next_deadline() is None
    assert tx.receive_request(request(), 0.5) == out  # the last provisional again


def test_retransmission_before_any_response_is_absorbed_silently() -> None:
    tx, _ = server_invite()
    assert tx.receive_request(request(), 0.1) == []
    assert tx.stats.retransmissions_absorbed == 1


def test_server_invite_failure_timer_g_capped_at_t2_then_timer_h() -> None:
    tx, req = server_invite()
    busy = make_response(req, 486, to_tag="t1")
    first = tx.respond(busy, 1.0)
    assert tx.state is TxState.COMPLETED
    log = fire_until(tx, 40.0)
    assert [t for t, out in log if out == first] == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert log[-1] == (33.0, [TransactionTimedOut("s", "H")])  # the TU learns the ACK never came
    assert tx.state is TxState.TERMINATED and tx.stats.timeouts["H"] == 1


def test_server_invite_ack_confirms_then_timer_i() -> None:
    tx, req = server_invite()
    busy = make_response(req, 486, to_tag="t1")
    first = tx.respond(busy, 1.0)
    assert tx.receive_request(request(), 1.2) == first  # retransmitted INVITE: the 486 again
    ack = parse(request_bytes("ACK"))
    assert isinstance(ack, Request)
    assert tx.receive_request(ack, 1.3) == []
    assert tx.state is TxState.CONFIRMED and tx.next_deadline() == 6.3  # Timer I = T4
    assert tx.receive_request(ack, 2.0) == []  # a retransmitted ACK is absorbed
    assert tx.on_timer(6.3) == [] and tx.state is TxState.TERMINATED


def test_server_invite_over_tcp_no_timer_g_and_timer_i_zero() -> None:
    tx, req = server_invite("TCP")
    tx.respond(make_response(req, 486, to_tag="t1"), 1.0)
    assert tx.deadline(Timer.G) is None and tx.deadline(Timer.H) == 33.0
    ack = parse(request_bytes("ACK", "TCP"))
    assert isinstance(ack, Request)
    tx.receive_request(ack, 1.1)
    assert tx.state is TxState.TERMINATED


def test_server_invite_2xx_accepted_absorbs_retransmissions_until_timer_l() -> None:
    tx, req = server_invite()
    ok = make_response(req, 200, to_tag="t1")
    out = tx.respond(ok, 1.0)
    assert tx.state is TxState.ACCEPTED and tx.next_deadline() == 33.0  # Timer L = 64*T1
    assert tx.receive_request(request(), 1.5) == []  # RFC 6026: absorbed, not answered
    assert tx.respond(ok, 1.5) == out  # the TU's own 2xx retransmission goes out, same bytes
    assert tx.on_timer(33.0) == [] and tx.state is TxState.TERMINATED


# --- server non-INVITE (fig. 8) ----------------------------------------------------------------


def test_server_non_invite_absorbs_retransmissions_and_timer_j() -> None:
    req = request("OPTIONS")
    tx = ServerNonInviteTransaction(req, UDP, key="n")
    tx.start(0.0)
    assert tx.state is TxState.TRYING and tx.next_deadline() is None  # no 100 for non-INVITE
    assert tx.receive_request(request("OPTIONS"), 0.3) == []  # discarded in Trying
    ok = make_response(req, 200, to_tag="t")
    out = tx.respond(ok, 0.4)
    assert tx.state is TxState.COMPLETED and tx.next_deadline() == 32.4  # Timer J = 64*T1
    assert tx.receive_request(request("OPTIONS"), 1.0) == out
    assert tx.stats.retransmissions_absorbed == 2 and tx.stats.retransmissions_sent == 1
    assert tx.on_timer(32.4) == [] and tx.state is TxState.TERMINATED


def test_server_non_invite_over_tcp_terminates_on_final() -> None:
    req = request("REGISTER", "TCP")
    tx = ServerNonInviteTransaction(req, TCP, key="n")
    tx.start(0.0)
    tx.respond(make_response(req, 401), 0.1)
    assert tx.state is TxState.TERMINATED  # Timer J = 0


# --- the tables --------------------------------------------------------------------------------


def test_second_final_response_is_an_invalid_transition() -> None:
    tx, req = server_invite()
    tx.respond(make_response(req, 486, to_tag="t1"), 1.0)
    with pytest.raises(InvalidTransition) as e:
        tx.respond(make_response(req, 200, to_tag="t1"), 1.1)
    assert e.value.state is TxState.COMPLETED and "SendSuccess" in str(e.value)


def test_timer_of_another_machine_is_an_invalid_transition() -> None:
    tx = ServerNonInviteTransaction(request("OPTIONS"), UDP, key="n")
    with pytest.raises(InvalidTransition):
        tx.handle(Timer.A, 0.0)
    with pytest.raises(InvalidTransition):
        tx.handle(AckReceived(request()), 0.0)


def test_custom_timer_config() -> None:
    tx = ClientInviteTransaction(request(), UDP, key="k", timers=TimerConfig(t1=0.1, t2=1.0, t4=2.0))
    tx.start(10.0)
    assert tx.deadline(Timer.A) == pytest.approx(10.1) and tx.deadline(Timer.B) == pytest.approx(16.4)
