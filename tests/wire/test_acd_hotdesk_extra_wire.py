"""On the wire (issues 6 and 7): the hotdesk check-sync NOTIFY to a phone whose user changed (and
phones that answer 489 or nothing), the urgent queue's automatic hold, an urgent call declined by
the agent offered again, and wrap-up keeping the next waiting caller from the agent until it ends.
SIPp plays the agents' phones and the hotdesk phones; MediaUA the callers (it records the RTP)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import REPO, Pbx, free_port, password_of, start_sipp
from media_ua import MediaUA
from test_calls_wire import register_callee

PLAN = """\
default:
  - {match: {exact: "3000"}, ring_queue: bench}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
"""
URGENT = """\
queues:
  - {name: bench, number: "3000", label: "Bench urgent", strategy: ringall, urgent: true, retry_delay: 0,
     members: ["1001"]}
"""
WRAPUP = """\
queues:
  - {name: bench, number: "3000", label: "Bench", strategy: longest_idle, wrapup: 2, members: ["1001"]}
"""
MOH = (REPO / "sounds" / "moh" / "default.ul").read_bytes()


def queue_pbx(tmp_path: Path, queues: str) -> Pbx:
    pbx = Pbx(tmp_path / "pbx", users=3)
    (pbx.config_dir / "queues.yaml").write_text(queues)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    return pbx.start()


def bench(pbx: Pbx) -> dict[str, Any]:
    return {q["name"]: q for q in pbx.api("/api/queues")}["bench"]  # type: ignore[no-any-return]


def sessions(pbx: Pbx) -> list[tuple[str, str]]:
    return sorted((s["user"], s["device"]) for s in pbx.api("/api/hotdesk")["sessions"])


def login(pbx: Pbx, user: str, device: str) -> None:
    status, body = pbx.request("POST", "/api/hotdesk/login", body={"user": user, "device": device})
    assert status == 201, body


# --- hotdesk (issue 6) -------------------------------------------------------------------------------
def test_takeover_sends_check_sync_notify_to_the_previous_phone(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path / "pbx", users=3).start()
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1000")
        phone = start_sipp("hotdesk_notify_uas", pbx.sip_addr, inf=csv, calls=2, workdir=tmp_path,
                           local_port=port, timeout=30, name="desk1000", trace_msg=True)  # fmt: skip
        try:
            login(pbx, "1002", "1000")  # 1002 hotdesks on 1000's phone: that phone is told
            pbx.wait_for(lambda: "1002" in phone.messages() or None, "the first NOTIFY at 1000")
            login(pbx, "1002", "1001")  # 1002 moves on: 1000's phone is 1000's again, and told so
            result = phone.wait(timeout=20)
        finally:
            if phone.running():
                phone.stop()
        assert result.successful == 2 and result.failed == 0, result.explain() + pbx.log(30)
        trace = phone.messages()
        notifies = [m for m in trace.split("NOTIFY sip:")[1:]]
        assert len(notifies) == 2, trace[-3000:]
        for n in notifies:
            assert n.startswith(f"1000@127.0.0.1:{port}"), n[:200]  # the registered contact URI
        assert trace.count("Event: check-sync;reboot=false") == 2
        assert "x-pbx-hotdesk-user: 1002" in notifies[0].lower()
        assert "x-pbx-hotdesk-user: 1000" in notifies[1].lower()
        assert sessions(pbx) == [("1002", "1001")]
        assert pbx.log(200).count('"hotdesk_notify_result"') >= 2
    finally:
        pbx.stop()


def test_phones_answering_489_or_nothing_break_nothing(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path / "pbx", users=3).start()
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1000")
        register_callee(pbx, tmp_path, free_port(), user="1001")  # nobody listens there afterwards
        phone = start_sipp("hotdesk_notify_489_uas", pbx.sip_addr, inf=csv, calls=2, workdir=tmp_path,
                           local_port=port, timeout=30, name="desk489", trace_msg=True)  # fmt: skip
        try:
            login(pbx, "1002", "1000")
            login(pbx, "1002", "1001")  # 1000 gets its user back (489 again), 1001 never answers
            result = phone.wait(timeout=20)
        finally:
            if phone.running():
                phone.stop()
        assert result.successful == 2 and result.failed == 0, result.explain() + pbx.log(30)
        assert sessions(pbx) == [("1002", "1001")]
        log = pbx.log(300)
        assert log.count('"status":489') >= 2 or log.count('"status": 489') >= 2, log
        assert "Traceback" not in log and '"level":"error"' not in log
        # the PBX goes on as before: another takeover, and the API answers
        login(pbx, "1002", "1000")
        assert sessions(pbx) == [("1002", "1000")]
        assert pbx.running()
    finally:
        pbx.stop()


# --- ACD urgent queue (issue 7) -----------------------------------------------------------------------
def test_answering_an_urgent_call_puts_the_agents_other_call_on_hold(tmp_path: Path) -> None:
    pbx = queue_pbx(tmp_path, URGENT)
    other = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    urgent = MediaUA("1002", password_of("1002"), pbx.sip_addr)
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1001")
        assert pbx.request("POST", "/api/agents/1001/login")[0] == 200
        agent = start_sipp("agent_hold_uas", pbx.sip_addr, inf=csv, calls=2, workdir=tmp_path,
                           local_port=port, timeout=40, name="agent", trace_msg=True)  # fmt: skip
        try:
            other.call("1001")  # a direct call: the agent is busy on it
            pbx.wait_for(
                lambda: pbx.api("/api/agents/1001")["status"] == "on_call" or None, "agent on a call"
            )
            urgent.call("3000")  # the urgent queue rings the agent anyway, who answers
            held = other.answer_reinvite(timeout=15)  # the PBX's music offer to the other party
            assert b"a=sendonly" in held and b"o=pbx" in held, held.decode(errors="replace")
            heard = other.record_for(1.0)
            urgent.answer_reinvite(timeout=15)  # the urgent caller is joined to the agent
            urgent.hang_up()
            other.hang_up()
            result = agent.wait(timeout=20)
        finally:
            if agent.running():
                agent.stop()
        assert result.successful == 2 and result.failed == 0, result.explain() + agent.messages()[-3000:]
        trace = agent.messages()
        assert trace.count("a=inactive") >= 1, trace[-3000:]  # the agent's phone got the hold re-INVITE
        payload = b"".join(p.payload for p in heard)
        assert payload[:160] == MOH[:160], "the held party hears the PBX's music on hold"
        assert '"hold_call"' in pbx.log(300) and '"held":true' in pbx.log(300).replace(" ", "")
    finally:
        other.close()
        urgent.close()
        pbx.stop()


def test_an_urgent_call_declined_by_the_agent_is_offered_again(tmp_path: Path) -> None:
    pbx = queue_pbx(tmp_path, URGENT)
    caller = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1001")
        assert pbx.request("POST", "/api/agents/1001/login")[0] == 200
        agent = start_sipp("agent_decline_once_uas", pbx.sip_addr, inf=csv, calls=2, workdir=tmp_path,
                           local_port=port, timeout=40, name="agent", trace_msg=True)  # fmt: skip
        try:
            caller.call("3000")
            # after the 486 the caller still waits, and the agent's phone rings again (for 1.5 s)
            pbx.wait_for(lambda: agent.messages().count("INVITE sip:") >= 2 or None, "a second offer")
            waiting = pbx.api("/api/queues/bench/waiting")
            assert len(waiting) == 1, waiting
            q = bench(pbx)
            assert (q["waiting"], q["abandoned"], q["answered"]) == (1, 0, 0), q
            caller.answer_reinvite(timeout=15)
            caller.hang_up()
            result = agent.wait(timeout=20)
        finally:
            if agent.running():
                agent.stop()
        assert result.successful == 2 and result.failed == 0, result.explain() + agent.messages()[-3000:]
        trace = agent.messages()
        assert "SIP/2.0 486 Busy Here" in trace
        assert trace.count("INVITE sip:") == 2, trace[-3000:]
        q = bench(pbx)
        assert (q["answered"], q["abandoned"], q["waiting"]) == (1, 0, 0), q
        assert (q["offers"], q["declined"]) == (2, 1), q  # the decline and the second ring show
    finally:
        caller.close()
        pbx.stop()


# --- wrap-up (issue 7) ---------------------------------------------------------------------------------
def test_wrapup_keeps_the_next_caller_from_the_agent_until_it_ends(tmp_path: Path) -> None:
    pbx = queue_pbx(tmp_path, WRAPUP)
    first = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    second = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1001")
        assert pbx.request("POST", "/api/agents/1001/login")[0] == 200
        agent = start_sipp("queue_agent_uas", pbx.sip_addr, inf=csv, calls=2, workdir=tmp_path,
                           local_port=port, timeout=40, name="agent")  # fmt: skip
        try:
            first.call("3000")
            first.answer_reinvite(timeout=15)
            second.call("3000")  # waits: the agent is on the first call
            pbx.wait_for(lambda: bench(pbx)["waiting"] == 1 or None, "the second caller waiting")
            before_end = time.monotonic()
            first.hang_up()
            a = pbx.api("/api/agents/1001")
            assert a["status"] == "wrapup", a
            assert bench(pbx)["waiting"] == 1  # not offered during the wrap-up
            second.answer_reinvite(timeout=15)  # offered and answered once it is over
            joined = time.monotonic()
            second.hang_up()
            result = agent.wait(timeout=20)
        finally:
            if agent.running():
                agent.stop()
        assert result.successful == 2 and result.failed == 0, result.explain()
        assert 2.0 <= joined - before_end < 8.0, joined - before_end
        assert bench(pbx)["answered"] == 2
    finally:
        first.close()
        second.close()
        pbx.stop()
