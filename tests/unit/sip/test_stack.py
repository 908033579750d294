"""Transaction matching and the timer heap (RFC 3261 17.1.3, 17.2.3, RFC 2543 fallback), on wire bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.sip.message import Request, Response, make_response
from pbx.sip.parser import parse
from pbx.sip.stack import (
    ResponseReceived,
    StackOutput,
    StrayInvite2xx,
    TransactionLayer,
    TransactionTimedOut,
    new_branch,
    server_key,
)
from pbx.sip.transaction import ServerInviteTransaction, TxState

FIX = Path(__file__).parents[2] / "fixtures"
PHONE = Addr("udp", "192.0.2.10", 40000)  # where the phone's datagrams come from (NAT)


def req(
    method: str = "INVITE",
    branch: str = "z9hG4bKnashds8",
    cseq: int = 1,
    to_tag: str | None = None,
    cseq_method: str | None = None,
) -> Request:
    to = "<sip:203@pbx.example.com>" + (f";tag={to_tag}" if to_tag else "")
    msg = parse(
        (
            f"{method} sip:203@pbx.example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.10:5062;branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:201@pbx.example.com>;tag=9fxced76sl\r\n"
            f"To: {to}\r\n"
            "Call-ID: 3848276298220188511@192.0.2.10\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\n"
            "Content-Length: 0\r\n"
            "\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


def resp_to(r: Request, status: int, reason: str, to_tag: str | None = "b1") -> Response:
    """The wire bytes a peer would answer `r` with."""
    to = r.headers.get("to") or ""
    if to_tag and "tag=" not in to:
        to += f";tag={to_tag}"
    vias = "".join(f"Via: {v}\r\n" for v in r.headers.get_all("via"))
    msg = parse(
        (
            f"SIP/2.0 {status} {reason}\r\n{vias}"
            f"From: {r.headers.get('from')}\r\nTo: {to}\r\nCall-ID: {r.call_id}\r\n"
            f"CSeq: {r.cseq}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, Response)
    return msg


def our_request(method: str = "INVITE", transport: str = "UDP") -> Request:
    msg = parse(
        (
            f"{method} sip:203@192.0.2.20:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 192.0.2.1:5060;branch={new_branch()};rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:pbx@192.0.2.1>;tag=p1\r\n"
            "To: <sip:203@192.0.2.20>\r\n"
            "Call-ID: out-1@192.0.2.1\r\n"
            f"CSeq: 1 {method}\r\n"
            "Content-Length: 0\r\n"
            "\r\n"
        ).encode()
    )
    assert isinstance(msg, Request)
    return msg


# --- server side -------------------------------------------------------------------------------


def test_new_request_creates_a_transaction_and_responses_go_to_the_via_port() -> None:
    layer = TransactionLayer()
    invite = req()
    fresh, out = layer.receive_request(invite, PHONE, 0.0)
    assert fresh is invite and out == [] and layer.count() == 1
    ringing = make_response(invite, 180, to_tag="b1")
    assert layer.respond(invite, ringing, 0.1) == [Send(ringing.render(), Addr("udp", "192.0.2.10", 5062))]


def test_retransmission_is_absorbed_with_the_last_response() -> None:
    layer = TransactionLayer()
    invite = req()
    layer.receive_request(invite, PHONE, 0.0)
    sent = layer.respond(server_key(invite), make_response(invite, 180, to_tag="b1"), 0.1)
    assert layer.receive_request(req(), PHONE, 0.5) == (None, sent)
    assert layer.stats.retransmissions_absorbed == 1 and layer.stats.retransmissions_sent == 1


def test_ack_for_non_2xx_is_absorbed_and_ack_for_2xx_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    invite = req()
    layer.receive_request(invite, PHONE, 0.0)
    layer.respond(invite, make_response(invite, 486, to_tag="b1"), 0.1)
    ack = req("ACK", to_tag="b1")  # same branch: hop-by-hop ACK of the 486
    assert layer.receive_request(ack, PHONE, 0.2) == (None, [])
    tx = layer.get(server_key(invite))
    assert tx is not None and tx.state is TxState.CONFIRMED
    # a 2xx is ACKed end to end in a new transaction: no match, straight to the TU
    invite2 = req(branch="z9hG4bKsecond", cseq=2)
    layer.receive_request(invite2, PHONE, 1.0)
    layer.respond(invite2, make_response(invite2, 200, to_tag="b1"), 1.1)
    ack2 = req("ACK", branch="z9hG4bKack2", cseq=2, to_tag="b1")
    assert layer.receive_request(ack2, PHONE, 1.2) == (ack2, [])
    assert layer.get(server_key(invite2)).state is TxState.ACCEPTED  # type: ignore[union-attr]
    # a UA that reuses the INVITE's branch for the 2xx ACK matches the Accepted transaction,
    # which passes the ACK up (RFC 6026 7.1) instead of swallowing it
    ack3 = req("ACK", branch="z9hG4bKsecond", cseq=2, to_tag="b1")
    assert layer.receive_request(ack3, PHONE, 1.3) == (ack3, [])


def test_over_tcp_responses_go_back_on_the_connection() -> None:
    layer = TransactionLayer()
    invite = req()
    conn = Addr("tcp", "192.0.2.10", 51234)
    layer.receive_request(invite, conn, 0.0)
    busy = make_response(invite, 486, to_tag="b1")
    assert layer.respond(invite, busy, 0.1) == [Send(busy.render(), conn)]
    assert layer.next_deadline() == 32.1  # Timer H only: no Timer G over TCP


def test_same_branch_with_new_cseq_is_a_new_transaction() -> None:
    """pyVoIP resends a challenged REGISTER with the branch of the first one and CSeq + 1."""
    layer = TransactionLayer()
    first = req("REGISTER", branch="z9hG4bKpyvoip")
    assert layer.receive_request(first, PHONE, 0.0)[0] is first
    layer.respond(first, make_response(first, 401, to_tag="x"), 0.0)
    second = req("REGISTER", branch="z9hG4bKpyvoip", cseq=2)
    assert layer.receive_request(second, PHONE, 0.1)[0] is second
    assert layer.count() == 2
    assert layer.receive_request(req("REGISTER", branch="z9hG4bKpyvoip"), PHONE, 0.2)[0] is None


def test_cancel_matches_the_invite_and_is_its_own_transaction() -> None:
    layer = TransactionLayer()
    invite = req()
    layer.receive_request(invite, PHONE, 0.0)
    cancel = req("CANCEL")
    assert layer.cancel_target(cancel) == server_key(invite)
    assert layer.receive_request(cancel, PHONE, 1.0) == (cancel, [])
    assert layer.count() == 2
    layer.respond(cancel, make_response(cancel, 200, to_tag="b1"), 1.0)
    layer.respond(invite, make_response(invite, 487, to_tag="b1"), 1.0)
    assert layer.receive_request(req("ACK", to_tag="b1"), PHONE, 1.1) == (None, [])
    assert layer.cancel_target(req("CANCEL", branch="z9hG4bKother")) is None


def test_response_for_a_finished_transaction_is_dropped_and_counted() -> None:
    layer = TransactionLayer()
    opts = req("OPTIONS")
    assert layer.respond(opts, make_response(opts, 200), 0.0) == []
    assert layer.stats.late_responses == 1


# --- RFC 2543 fallback -------------------------------------------------------------------------


def fixture(name: str) -> Request:
    msg = parse((FIX / "rfc4475" / name).read_bytes())
    assert isinstance(msg, Request)
    return msg


def test_badbranch_is_matched_without_its_branch() -> None:
    """RFC 4475 3.3.12: branch=z9hG4bK with nothing after it is not an RFC 3261 branch."""
    layer = TransactionLayer()
    opts = fixture("badbranch.dat")
    assert layer.receive_request(opts, PHONE, 0.0)[0] is opts
    key = server_key(opts)
    assert key.startswith("L ") and "badbranch.sadonfo23i420jv0as0derf3j3n" in key
    out = layer.respond(opts, make_response(opts, 200, to_tag="b"), 0.1)
    assert layer.receive_request(fixture("badbranch.dat"), PHONE, 0.6) == (None, out)


def test_rfc2543_invite_without_branch_retransmission_and_ack() -> None:
    layer = TransactionLayer()
    invite = fixture("inv2543.dat")
    assert invite.top_via.branch is None
    assert layer.receive_request(invite, PHONE, 0.0)[0] is invite
    busy = layer.respond(invite, make_response(invite, 486, to_tag="b2543"), 0.1)
    assert layer.receive_request(fixture("inv2543.dat"), PHONE, 0.5) == (None, busy)
    raw = (FIX / "rfc4475" / "inv2543.dat").read_bytes().split(b"\r\n\r\n")[0]
    ack_bytes = raw.replace(b"INVITE sip", b"ACK sip").replace(b"56 INVITE", b"56 ACK")
    ack_bytes = ack_bytes.replace(b"user=phone\r\nCall-ID", b"user=phone;tag=b2543\r\nCall-ID")
    ack_bytes = ack_bytes.replace(b"Content-Type: application/sdp", b"Content-Length: 0") + b"\r\n\r\n"
    wrong = parse(ack_bytes.replace(b"tag=b2543", b"tag=other"))
    assert isinstance(wrong, Request)
    assert layer.receive_request(wrong, PHONE, 0.6) == (wrong, [])  # another dialog's ACK: TU
    ack = parse(ack_bytes)
    assert isinstance(ack, Request) and ack.to.tag == "b2543"
    assert layer.receive_request(ack, PHONE, 0.6) == (None, [])
    assert layer.get(server_key(invite)).state is TxState.CONFIRMED  # type: ignore[union-attr]


# --- client side -------------------------------------------------------------------------------


def test_client_transaction_routes_responses_and_generates_the_ack() -> None:
    layer = TransactionLayer()
    invite = our_request()
    dest = Addr("udp", "192.0.2.20", 5060)
    key, out = layer.send_request(invite, dest, 0.0)
    assert out == [Send(invite.render(), dest)]
    ringing = resp_to(invite, 180, "Ringing")
    assert layer.receive_response(ringing, 0.2) == [ResponseReceived(key, ringing)]
    busy = resp_to(invite, 486, "Busy Here")
    out = layer.receive_response(busy, 1.0)
    assert out[1:] == [ResponseReceived(key, busy)]
    assert isinstance(out[0], Send) and out[0].data.startswith(b"ACK sip:203@192.0.2.20:5060 SIP/2.0")
    assert layer.receive_response(resp_to(invite, 486, "Busy Here"), 1.5) == [out[0]]


def test_client_timeout_reported_and_transaction_removed() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(our_request("OPTIONS"), Addr("udp", "192.0.2.20", 5060), 0.0)
    assert layer.next_deadline() == 0.5
    events: list[StackOutput] = []
    while (d := layer.next_deadline()) is not None:
        events += layer.on_timer(d)
    assert events[-1] == TransactionTimedOut(key, "F") and layer.count() == 0
    assert layer.stats.timeouts["F"] == 1 and layer.stats.retransmissions_sent == 10


def test_stray_responses_are_counted_and_a_stray_invite_2xx_is_passed_up() -> None:
    layer = TransactionLayer()
    invite = our_request()
    assert layer.receive_response(resp_to(invite, 180, "Ringing"), 0.0) == []
    ok = resp_to(invite, 200, "OK")
    assert layer.receive_response(ok, 0.0) == [StrayInvite2xx(ok)]
    assert layer.stats.strays == 2
    # after Timer M the transaction is gone and a late 2xx copy is a stray
    key, _ = layer.send_request(invite, Addr("tcp", "192.0.2.20", 5060), 1.0)
    assert layer.receive_response(ok, 2.0) == [ResponseReceived(key, ok)]
    assert layer.on_timer(2.0 + 32.0) == [] and layer.count() == 0
    assert layer.receive_response(ok, 40.0) == [StrayInvite2xx(ok)]


def test_send_request_refuses_ack_and_reused_branches() -> None:
    layer = TransactionLayer()
    dest = Addr("udp", "192.0.2.20", 5060)
    with pytest.raises(ValueError):
        layer.send_request(our_request("ACK"), dest, 0.0)
    r = our_request()
    layer.send_request(r, dest, 0.0)
    with pytest.raises(ValueError):
        layer.send_request(r, dest, 0.0)
    assert new_branch().startswith("z9hG4bK") and new_branch() != new_branch()


# --- the timer heap ----------------------------------------------------------------------------


def test_next_deadline_across_many_transactions() -> None:
    layer = TransactionLayer()
    n = 10_000
    reqs = [req("OPTIONS", branch=f"z9hG4bKmany{i}") for i in range(n)]
    for i, r in enumerate(reqs):  # received in reverse deadline order
        layer.receive_request(r, PHONE, float(n - i))
        layer.respond(r, make_response(r, 200, to_tag="t"), float(n - i))  # Timer J = +32 s
    assert layer.count() == n and layer.next_deadline() == 1.0 + 32.0
    assert layer.on_timer(32.0 + 100.5) == [] and layer.count() == n - 100
    assert layer.next_deadline() == 101.0 + 32.0
    while (d := layer.next_deadline()) is not None:
        layer.on_timer(d)
    assert layer.count() == 0


def test_rearmed_deadlines_leave_no_live_stale_entries() -> None:
    layer = TransactionLayer()
    invites = [req(branch=f"z9hG4bKre{i}") for i in range(500)]
    for r in invites:
        layer.receive_request(r, PHONE, 0.0)  # 100 Trying deadline at 0.2
    for r in invites:
        layer.respond(r, make_response(r, 180, to_tag="t"), 0.1)  # no deadline any more
    assert layer.next_deadline() is None and layer.on_timer(1.0) == []
    for r in invites:
        layer.respond(r, make_response(r, 486, to_tag="t"), 2.0)
    assert layer.next_deadline() == 2.5  # Timer G
    assert len([e for e in layer.on_timer(2.5) if isinstance(e, Send)]) == 500


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(min_value=0.0, max_value=31.0), max_size=12),
    answer_at=st.floats(min_value=0.0, max_value=10.0),
    status=st.sampled_from([180, 200, 486]),
)
def test_retransmissions_never_reach_the_tu_twice(times: list[float], answer_at: float, status: int) -> None:
    layer = TransactionLayer()
    deliveries = 0
    answered = False
    first = req()
    fresh, _ = layer.receive_request(first, PHONE, 0.0)
    deliveries += fresh is not None
    for t in sorted(times):
        while (d := layer.next_deadline()) is not None and d <= t:
            layer.on_timer(d)
        if not answered and t >= answer_at:
            layer.respond(first, make_response(first, status, to_tag="t"), t)
            answered = True
        fresh, out = layer.receive_request(req(), PHONE, t)
        deliveries += fresh is not None
        if answered and status == 200:
            assert out == []  # RFC 6026: absorbed, the TU retransmits the 2xx itself
    assert deliveries == 1
    tx = layer.get(server_key(first))
    assert isinstance(tx, ServerInviteTransaction)
