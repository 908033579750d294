"""Operator features on the wire (issue 8): cherry-pick, requeue and a call-back end to end.

Real peers over loopback: callers are MediaUA (a small Python UA that answers the PBX's
re-INVITEs) or SIPp behind a trunk; agents are SIPp UAS phones (acd_agent_*_uas.xml) or baresip.
What is checked is what the peers see (INVITE, BYE, re-INVITE, the Request-URI at the carrier) and
what the API says (/api/calls legs, /api/queues/{q}/waiting positions, /api/callbacks states).

Queues: Algemeen (300) and Intercollegiaal (302); users 1000.. from scripts/gen-config.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from baresip_kit import Baresip, find_baresip
from harness import REPO, Pbx, free_port, password_of, start_sipp, write_users_csv
from media_ua import MediaUA
from queue_kit import (
    agent,
    header,
    login,
    make_pbx,
    received,
    scenario,
    set_status,
    start_agent,
    timeline,
    wait_joined,
    wait_waiting,
    waiting,
)

QUEUES = """\
queues:
  - {name: Algemeen, number: "300", label: Algemeen, strategy: longest_idle, wrapup: 30,
     members: ["1001"], callback_key: "1"}
  - {name: Intercollegiaal, number: "302", label: Intercollegiaal, strategy: longest_idle, wrapup: 0,
     members: ["1001", "1002"]}
"""


@pytest.fixture
def callers() -> Iterator[list[MediaUA]]:
    made: list[MediaUA] = []
    yield made
    for ua in made:
        ua.close()


def wait_in_queue(pbx: Pbx, ua: MediaUA, number: str, queue: str, count: int) -> str:
    """`ua` dials the queue's number (the PBX answers: music) and is the `count`th waiting caller;
    returns its call id from the waiting API."""
    before = {w["call_id"] for w in waiting(pbx, queue)}
    ua.call(number)
    rows = wait_waiting(pbx, queue, count)
    [new] = [w for w in rows if w["call_id"] not in before]
    assert new["caller_number"] == ua.user and new["position"] == count, rows
    return str(new["call_id"])


def leg_peers(call: dict[str, object]) -> list[str]:
    return [str(leg["peer"]) for leg in call["legs"] if leg["state"] == "confirmed"]  # type: ignore[index, union-attr]


# --- cherry-pick (OP 2.1.2) --------------------------------------------------------------------------
def test_cherry_pick_through_the_api_rings_the_agent_who_answers_and_is_joined(
    tmp_path: Path, callers: list[MediaUA]
) -> None:
    pbx = make_pbx(tmp_path / "pbx", QUEUES)
    picker = start_agent(pbx, tmp_path, "1002", scenario(tmp_path, "acd_agent_uas", queue="Intercollegiaal"),
                         calls=1)  # fmt: skip
    try:
        assert agent(pbx, "1002")["queues"] == []  # logged in to nothing: the queue does not offer to 1002
        ua = MediaUA("1000", password_of("1000"), pbx.sip_addr)
        callers.append(ua)
        call_id = wait_in_queue(pbx, ua, "302", "Intercollegiaal", 1)
        status, body = pbx.request("POST", "/api/agents/1002/cherry-pick", body={"call_id": call_id})
        assert status == 200, body
        ua.answer_reinvite(timeout=15)  # the join: the agent's SDP
        call = wait_joined(pbx, call_id)
        assert len(leg_peers(call)) == 2 and any("1002" in p for p in leg_peers(call)), call
        assert agent(pbx, "1002")["status"] == "on_call"
        assert waiting(pbx, "Intercollegiaal") == []
        ua.hang_up()
        res = picker.sipp.wait(timeout=15)
    finally:
        picker.stop()
        pbx.stop()
    assert res.successful == 1 and res.failed == 0, res.explain()
    [offer] = received(picker.sipp.messages(), "INVITE")
    assert "sip:1000@" in offer.split("\nFrom:", 1)[1].split("\n", 1)[0], offer


def test_cherry_pick_declined_puts_the_caller_back_in_their_place(
    tmp_path: Path, callers: list[MediaUA]
) -> None:
    pbx = make_pbx(tmp_path / "pbx", QUEUES)
    sf = scenario(tmp_path, "acd_agent_decline_uas", queue="Intercollegiaal")
    picker = start_agent(pbx, tmp_path, "1002", sf, calls=1, pause_ms=1000)
    try:
        ids = []
        for k, user in enumerate(("1000", "1003", "1004"), start=1):
            ua = MediaUA(user, password_of(user), pbx.sip_addr)
            callers.append(ua)
            ids.append(wait_in_queue(pbx, ua, "302", "Intercollegiaal", k))
        status, body = pbx.request("POST", "/api/agents/1002/cherry-pick", body={"call_id": ids[1]})
        assert status == 200, body
        ringing = pbx.wait_for(
            lambda: [w for w in waiting(pbx, "Intercollegiaal") if w["ringing"]], "the picked caller ringing"
        )
        assert [(w["call_id"], w["ringing"]) for w in ringing] == [(ids[1], ["1002"])], ringing
        res = picker.sipp.wait(timeout=15)  # 180, then 603 Decline after 1 s
        back = pbx.wait_for(
            lambda: (
                (rows := waiting(pbx, "Intercollegiaal")) and not any(w["ringing"] for w in rows) and rows
            ),
            "the declined caller back in the queue",
        )
        assert [(w["call_id"], w["position"]) for w in back] == [(ids[0], 1), (ids[1], 2), (ids[2], 3)], back
        assert agent(pbx, "1002")["status"] != "on_call"
        for ua in callers:
            ua.hang_up()
    finally:
        picker.stop()
        pbx.stop()
    assert res.successful == 1 and res.failed == 0, res.explain()


BARESIP, MODULES, WHY_NOT = find_baresip()


@pytest.mark.skipif(MODULES is None, reason=WHY_NOT)
def test_cherry_pick_by_phone_code_from_baresip(tmp_path: Path, callers: list[MediaUA]) -> None:
    assert BARESIP is not None and MODULES is not None
    pbx = make_pbx(tmp_path / "pbx", QUEUES)
    phone = Baresip(tmp_path, "1002", pbx, MODULES, auto_answer=True).start(BARESIP)
    try:
        phone.wait_registered()
        ua = MediaUA("1000", password_of("1000"), pbx.sip_addr)
        callers.append(ua)
        call_id = wait_in_queue(pbx, ua, "302", "Intercollegiaal", 1)
        mark = phone.mark()
        phone.dial("*9*302")  # take the longest-waiting caller of queue 302
        ua.answer_reinvite(timeout=20)
        call = wait_joined(pbx, call_id)
        assert any("1002" in p for p in leg_peers(call)), call
        # auto-answered (no CALL_INCOMING then): the second call established is the offer from 1000
        peers = [
            str(e.get("peeruri")) for e in phone.events_since(mark) if e.get("type") == "CALL_ESTABLISHED"
        ]
        assert any(p.startswith("sip:*9*302@") for p in peers), phone.detail()
        assert any(p.startswith("sip:1000@") for p in peers), phone.detail()
        ua.hang_up()
        pbx.wait_for(lambda: pbx.api("/api/calls") == [], "every call ended")
    finally:
        phone.stop()
        pbx.stop()


# --- requeue (VC 2.1.2) ------------------------------------------------------------------------------
def test_requeue_ends_the_first_agents_leg_and_the_caller_keeps_their_place(
    tmp_path: Path, callers: list[MediaUA]
) -> None:
    pbx = make_pbx(tmp_path / "pbx", QUEUES)
    first = start_agent(pbx, tmp_path, "1001", scenario(tmp_path, "acd_agent_uas", queue="Algemeen"), calls=1)
    second = start_agent(pbx, tmp_path, "1002", scenario(tmp_path, "acd_agent_uas", queue="Intercollegiaal"),
                         calls=1)  # fmt: skip
    try:
        login(pbx, "1001", "Algemeen")
        a = MediaUA("1000", password_of("1000"), pbx.sip_addr)
        callers.append(a)
        a.call("300")
        a.answer_reinvite(timeout=15)  # joined to 1001
        [call_id] = [c["id"] for c in pbx.api("/api/calls")]
        wait_joined(pbx, call_id)
        b = MediaUA("1003", password_of("1003"), pbx.sip_addr)  # arrives after a, straight into 302
        callers.append(b)
        b_id = wait_in_queue(pbx, b, "302", "Intercollegiaal", 1)
        status, body = pbx.request("POST", f"/api/calls/{call_id}/requeue", body={"queue": "Algemeen"})
        assert status == 409, body  # not back into the queue it came from
        status, body = pbx.request("POST", f"/api/calls/{call_id}/requeue", body={"queue": "Intercollegiaal"})
        assert status == 200, body
        back = a.answer_reinvite(timeout=10)  # the PBX's media again (music)
        assert b"o=pbx" in back or b"o=" in back
        res1 = first.sipp.wait(timeout=10)  # the BYE reached the first agent
        assert res1.successful == 1 and res1.failed == 0, res1.explain()
        assert agent(pbx, "1001")["status"] == "wrapup"
        rows = wait_waiting(pbx, "Intercollegiaal", 2)
        assert [(w["call_id"], w["position"]) for w in rows] == [(call_id, 1), (b_id, 2)], rows
        login(pbx, "1002", "Intercollegiaal")  # the second agent gets the requeued caller first
        a.answer_reinvite(timeout=15)
        call = wait_joined(pbx, call_id)
        assert any("1002" in p for p in leg_peers(call)) and not any("1001" in p for p in leg_peers(call)), (
            call
        )
        assert [w["call_id"] for w in waiting(pbx, "Intercollegiaal")] == [b_id]
        a.hang_up()
        res2 = second.sipp.wait(timeout=15)
        b.hang_up()
    finally:
        first.stop()
        second.stop()
        pbx.stop()
    assert res2.successful == 1 and res2.failed == 0, res2.explain()
    # the requeued caller first, then b, who waited behind them (offered once 1002 was free again)
    offers = [
        header(m, "From").split("sip:", 1)[1].split("@", 1)[0]
        for m in received(second.sipp.messages(), "INVITE")
    ]
    assert offers[:2] == ["1000", "1003"], offers


# --- call-back end to end (OP 3.6) ------------------------------------------------------------------
CUSTOMER = "0612345678"  # the From of callback_customer_uac.xml


@pytest.mark.skipif(MODULES is None, reason=WHY_NOT)
def test_callback_through_the_trunk_rings_the_agent_then_dials_the_customer(
    tmp_path: Path, callers: list[MediaUA]
) -> None:
    assert BARESIP is not None and MODULES is not None
    carrier_port = free_port()
    pbx = make_pbx(tmp_path / "pbx", QUEUES, trunk_port=carrier_port)
    phone = Baresip(tmp_path, "1001", pbx, MODULES).start(BARESIP)  # the agent answers by hand
    try:
        phone.wait_registered()
        login(pbx, "1001", "Algemeen")
        set_status(pbx, "1001", "paused")  # nobody takes the caller now
        carrier_csv = write_users_csv(tmp_path / "carrier.csv", ["carrier"])
        customer = start_sipp(
            "callback_customer_uac", pbx.sip_addr, inf=carrier_csv, calls=1, workdir=tmp_path,
            local_port=carrier_port, keys={"did": "+31534800300"}, timeout=30, extra=["-d", "1500"],
            trace_msg=True, name="customer-in", wait_ready=False,
        )  # fmt: skip
        cb_caller = pbx.wait_for(lambda: waiting(pbx, "Algemeen"), "the trunk caller waiting")
        assert cb_caller[0]["caller_number"] == CUSTOMER and cb_caller[0]["did"] == "+31534800300", cb_caller
        later = MediaUA("1004", password_of("1004"), pbx.sip_addr)  # arrives after the customer
        callers.append(later)
        later_id = wait_in_queue(pbx, later, "300", "Algemeen", 2)
        res_in = customer.wait(timeout=30)
        assert res_in.successful == 1 and res_in.failed == 0, f"{res_in.explain()}\n{pbx.log(30)}"
        # "you will be called back" (1.35 s) was played between the key and the PBX's BYE
        events = timeline(customer.messages())
        info = next(t for t, way, first in events if way == "sent" and first.startswith("INFO "))
        bye = next(t for t, way, first in events if way == "received" and first.startswith("BYE "))
        prompt = (REPO / "sounds" / "nl" / "will_be_called_back.ul").stat().st_size / 8000
        assert bye - info >= prompt - 0.2, (bye - info, prompt)
        [cb] = pbx.api(f"/api/callbacks?number={CUSTOMER}")
        assert (cb["state"], cb["queue"], cb["attempts"]) == ("open", "Algemeen", 0), cb
        rows = waiting(pbx, "Algemeen")  # the call-back kept the customer's place, ahead of 1004
        assert [(w["call_id"], w["position"]) for w in rows] == [(cb["id"], 1), (later_id, 2)], rows

        carrier = start_sipp(
            scenario(tmp_path, "callback_customer_uas", number=CUSTOMER), pbx.sip_addr, inf=carrier_csv,
            calls=1, workdir=tmp_path, local_port=carrier_port, timeout=40, trace_msg=True,
            name="carrier-out",
        )  # fmt: skip
        mark = phone.mark()
        set_status(pbx, "1001", "available")  # the call-back comes first: the agent's phone rings
        ring = phone.wait_event("CALL_INCOMING", timeout=15, since=mark)
        assert str(ring.get("peeruri")).startswith(f"sip:{CUSTOMER}@"), ring  # the customer's number
        assert [
            c for c in pbx.api("/api/calls") if c["legs"][-1]["peer"] == "trunk:carrier"
        ] == [] and carrier.running()
        phone.command("accept")
        phone.wait_event("CALL_ESTABLISHED", timeout=15, since=mark)
        call = pbx.wait_for(
            lambda: next((c for c in pbx.api("/api/calls") if c["state"] == "answered"
                          and len([leg for leg in c["legs"] if leg["state"] == "confirmed"]) == 2), None),
            "the agent and the customer joined", 20,
        )  # fmt: skip
        done = pbx.wait_for(
            lambda: (c := pbx.api(f"/api/callbacks?number={CUSTOMER}")[0])["state"] == "done" and c,
            "the call-back done",
        )
        assert (done["attempts"], done["results"], done["agent"]) == (1, ["answered"], "1001"), done
        assert [w["call_id"] for w in waiting(pbx, "Algemeen")] == [later_id]  # 1004 still waits
        # baresip 1.0.0 ignores `hangup` for a call it took with `accept` (seen here, not looked
        # into): the console ends the call instead, and both ends get the PBX's BYE
        closed = phone.mark()
        assert pbx.request("DELETE", f"/api/calls/{call['id']}")[0] == 204
        res_out = carrier.wait(timeout=15)
        phone.wait_event("CALL_CLOSED", since=closed)
        history = pbx.wait_for(
            lambda: (h := pbx.api("/api/history?user=1001"))["items"] and h, "the call in 1001's history", 5
        )
        later.hang_up()
    finally:
        phone.stop()
        pbx.stop()
    assert res_out.successful == 1 and res_out.failed == 0, res_out.explain()
    [invite] = received(carrier.messages(), "INVITE")
    assert invite.startswith(f"INVITE sip:{CUSTOMER}@"), invite
    assert call["id"], call
    assert any(CUSTOMER in str(item) for item in history["items"]), history
