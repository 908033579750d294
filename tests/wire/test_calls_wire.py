"""Calls on the wire: SIPp caller -> the real PBX daemon -> SIPp callee, over loopback.

One daemon serves the module; each test gets a caller and a callee of its own (users 1000+2k
and 1001+2k) and reads only its own part of the daemon's log. The callee registers with
register_auth.xml from a port P (that SIPp exits), then a SIPp UAS scenario is started on the
same port P (the PBX sends its INVITE to the address a device registered from), then the
matching UAC scenario runs as the caller, who authenticates its INVITE (407) and dials the
callee. Every scenario step is a `recv` that fails the SIPp call when the expected message does
not come (or another one comes instead), and SIPp's "unexpected message" reports must be empty,
so "both sides completed N calls" means each side saw exactly the messages its scenario lists.
Then the PBX's own view: every call it started it also ended, with the expected reason, no
error was logged, and GET /api/calls lists no call.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from baresip_kit import Baresip, find_baresip
from harness import (
    Pbx,
    SippResult,
    free_port,
    sipp,
    start_sipp,
    tail,
    wait_until,
    write_users_csv,
)

USERS = 48  # two per test (caller, callee), so that one daemon serves the whole module


@dataclass
class Line:
    """A caller and a callee of their own on the module's daemon, and where the test's part of
    the daemon's log begins (the log is shared by the tests of this module)."""

    pbx: Pbx
    caller: str
    callee: str
    log_from: int

    def log_lines(self) -> list[str]:
        with self.pbx.log_file.open("rb") as f:
            f.seek(self.log_from)
            return f.read().decode(errors="replace").splitlines()


@pytest.fixture(scope="module")
def shared_pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    """One daemon for the module (starting one per test would double the file's time)."""
    pbx = Pbx(tmp_path_factory.mktemp("calls-pbx"), users=USERS).start()
    yield pbx
    rc = pbx.stop()
    assert rc == 0, f"the daemon did not stop cleanly ({rc})\n{pbx.log()}"


_pairs = itertools.count()


@pytest.fixture
def line(shared_pbx: Pbx) -> Line:
    k = next(_pairs)
    assert 2 * k + 1 < USERS, "more tests than users: raise USERS"
    assert shared_pbx.running(), f"the daemon died\n{shared_pbx.log()}"
    size = shared_pbx.log_file.stat().st_size
    return Line(shared_pbx, str(1000 + 2 * k), str(1001 + 2 * k), size)


@dataclass
class Outcome:
    uac: SippResult
    uas: SippResult
    pbx: Pbx

    def explain(self) -> str:
        return (
            f"--- caller (UAC):\n{self.uac.explain()}\n--- callee (UAS):\n{self.uas.explain()}\n"
            f"--- PBX log:\n{self.pbx.log(40)}"
        )


def register_callee(pbx: Pbx, workdir: Path, port: int, user: str) -> Path:
    csv = write_users_csv(workdir / f"callee-{user}.csv", [user])
    res = sipp(
        "register_auth", pbx.sip_addr, inf=csv, calls=1, rate=10, workdir=workdir, local_port=port,
        name=f"register-{user}",
    )  # fmt: skip
    assert res.clean and res.successful == 1, res.explain() + "\n--- PBX log:\n" + pbx.log()
    return csv


def call(
    line: Line,
    workdir: Path,
    scenario: str,
    *,
    calls: int = 1,
    rate: float = 10,
    pause_ms: int = 100,
    limit: int | None = None,
    caller_transport: str = "u1",
    callee_scenario: str | None = None,
) -> Outcome:
    """Run call_<scenario>_uas.xml as the callee and call_<scenario>_uac.xml as the caller."""
    pbx = line.pbx
    stem = f"call_{scenario}_" if scenario else "call_"
    uac_sf, uas_sf = stem + "uac", callee_scenario or stem + "uas"
    port = free_port()
    callee_csv = register_callee(pbx, workdir, port, line.callee)
    bound = 30 + calls / rate * 2
    uas = start_sipp(
        uas_sf, pbx.sip_addr, inf=callee_csv, calls=calls, workdir=workdir, local_port=port,
        timeout=bound + 10, extra=["-d", str(pause_ms)], trace_msg=True,
    )  # fmt: skip
    try:
        caller_csv = write_users_csv(workdir / "caller.csv", [line.caller])
        uac = start_sipp(
            uac_sf, pbx.sip_addr, inf=caller_csv, calls=calls, rate=rate, workdir=workdir,
            keys={"callee": line.callee}, timeout=bound, limit=limit, extra=["-d", str(pause_ms)],
            trace_msg=True, transport=caller_transport,
        ).wait()  # fmt: skip
        # the callee ends by itself after its last call; give it a moment, then stop it
        with_deadline = 10.0 if uac.clean else 2.0
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not uas.running(), with_deadline, "the callee SIPp to finish")
        uas_res = uas.wait(timeout=0.1) if not uas.running() else uas.stop()
    finally:
        if uas.running():
            uas.stop()
    return Outcome(uac, uas_res, pbx)


def call_events(line: Line) -> tuple[dict[str, str], dict[str, str]]:
    """(call_id -> dialled) of call_started and (call_id -> reason) of call_ended, from the
    test's part of the log."""
    started: dict[str, str] = {}
    ended: dict[str, str] = {}
    for text in line.log_lines():
        if not text.startswith("{"):
            continue
        try:
            rec: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError:
            continue
        if rec.get("event") == "call_started":
            started[str(rec.get("call_id"))] = str(rec.get("dialled"))
        elif rec.get("event") == "call_ended":
            ended[str(rec.get("call_id"))] = str(rec.get("reason"))
    return started, ended


def errors_in_log(line: Line) -> list[str]:
    text = line.log_lines()
    return [ln for ln in text if '"level": "error"' in ln or '"level": "critical"' in ln or "Traceback" in ln]


def live_calls(pbx: Pbx) -> list[Any] | None:
    """GET /api/calls when the daemon has it (None: it does not exist yet)."""
    status, body = pbx.request("GET", "/api/calls")
    if status == 404 and not isinstance(body, list):
        return None
    assert status == 200, (status, body)
    if isinstance(body, dict):
        body = body.get("calls", body.get("items"))
    assert isinstance(body, list), body
    return body


def assert_pbx_done(line: Line, n: int, reasons: Counter[str]) -> None:
    """The PBX started n calls to the callee, ended each with the expected reasons, keeps none."""
    pbx = line.pbx

    def settled() -> tuple[dict[str, str], dict[str, str]] | None:
        s, e = call_events(line)
        return (s, e) if len(e) >= n else None

    try:
        started, ended = wait_until(settled, 10, "the PBX to log every call_ended", interval=0.1)
    except TimeoutError:
        started, ended = call_events(line)
    assert len(started) == n and set(started.values()) == {line.callee}, (started, pbx.log())
    assert set(ended) == set(started), f"calls started but not ended: {set(started) - set(ended)}"
    assert Counter(ended.values()) == reasons, Counter(ended.values())
    assert errors_in_log(line) == []
    # GET /api/calls came with another change; a daemon without it (404) still has the log's
    # call_started/call_ended pairs above as the proof that no call is left
    if live_calls(pbx) is not None:
        wait_until(lambda: live_calls(pbx) == [], 10, "GET /api/calls to list no call")


def unexpected(res: SippResult) -> list[str]:
    """SIPp's "unexpected message" reports: with -nd a call goes on after one, so a message the
    scenario does not list (an extra response, a request too many) shows up only here."""
    try:
        text = res.error_file.read_text(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if "unexpected" in ln.lower()]


def assert_clean(out: Outcome, n: int) -> None:
    assert out.uac.clean and out.uac.successful == n, out.explain()
    assert out.uas.clean and out.uas.successful == n, out.explain()
    assert out.uac.created == n and out.uas.created == n, out.explain()
    assert unexpected(out.uac) == [] and unexpected(out.uas) == [], out.explain()


# --------------------------------------------------------------------------------------------
def test_100_calls_complete_and_none_is_left(line: Line, tmp_path: Path) -> None:
    # INVITE/407/ACK/INVITE/100/180/200/ACK/pause 100 ms/BYE/200, 50 calls/s, up to 20 at once
    out = call(line, tmp_path, "", calls=100, rate=50, limit=20)
    assert_clean(out, 100)
    assert out.uas.out_of_call_msgs == 0 and out.uac.out_of_call_msgs == 0, out.explain()
    assert_pbx_done(line, 100, Counter({"caller_hangup": 100}))


def test_cancel_before_answer(line: Line, tmp_path: Path) -> None:
    # caller: 180 -> CANCEL -> 200 -> 487 -> ACK; callee: 180 -> CANCEL -> 200 -> 487 -> ACK
    out = call(line, tmp_path, "cancel", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"cancelled": 3}))


def test_cancel_before_the_callee_rang(line: Line, tmp_path: Path) -> None:
    # the callee sends its 180 only after 300 ms: the caller's CANCEL comes first, so the PBX
    # answers 200 and 487 at once, and cancels the B leg when its 180 arrives (RFC 3261 9.1)
    out = call(line, tmp_path, "cancel_early", calls=3, pause_ms=300)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"cancelled": 3}))


def test_callee_busy_486_reaches_the_caller(line: Line, tmp_path: Path) -> None:
    out = call(line, tmp_path, "486", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"busy": 3}))


def test_hold_and_resume_are_relayed_and_answered(line: Line, tmp_path: Path) -> None:
    # the callee must see a=sendonly then a=sendrecv; the caller must get its answers (recvonly,
    # sendrecv) back in 200s that it ACKs, and the callee must get those ACKs
    out = call(line, tmp_path, "hold", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def test_hold_from_the_callee_side(line: Line, tmp_path: Path) -> None:
    # re-INVITE a=sendonly from the callee: the caller must get it in its own dialog, and its
    # 200 (a=recvonly) must reach the callee, whose ACK must reach the caller
    out = call(line, tmp_path, "callee_hold", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def test_delayed_offer(line: Line, tmp_path: Path) -> None:
    # INVITE without SDP: the callee's 200 carries the offer to the caller, and the caller's
    # ACK carries the answer to the callee (RFC 3261 13.2.1)
    out = call(line, tmp_path, "late_sdp", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def test_reinvite_without_sdp(line: Line, tmp_path: Path) -> None:
    # a re-INVITE without SDP: the offer comes in the callee's 200, the answer in the caller's
    # ACK, which the PBX holds back and puts into its ACK to the callee
    out = call(line, tmp_path, "reinvite_nosdp", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def test_update_is_relayed_and_answered(line: Line, tmp_path: Path) -> None:
    # UPDATE with SDP (sendonly) during the call: relayed into the callee's dialog, its 200
    # (recvonly) back to the caller; with music on hold on, the PBX still relays an UPDATE
    out = call(line, tmp_path, "update", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def received(workdir: Path, scenario: str, first_line: str, cseq: str) -> Counter[str]:
    """Per Call-ID, how many messages starting with `first_line` and carrying `cseq` SIPp
    received (its -trace_msg log of `scenario`)."""
    seen: Counter[str] = Counter()
    for path in workdir.glob(f"{scenario}_*_messages.log"):
        for block in path.read_text(errors="replace").split(
            "-----------------------------------------------"
        ):
            body = block.split("\n", 2)
            if len(body) < 3 or "message received" not in body[1]:
                continue
            msg = body[2].lstrip()
            call_id = re.search(r"^Call-ID:\s*(\S+)", msg, re.M | re.I)
            if (
                msg.startswith(first_line)
                and re.search(rf"^CSeq:\s*{cseq}\s*$", msg, re.M | re.I)
                and call_id
            ):
                seen[call_id.group(1)] += 1
    return seen


def test_the_200_is_sent_again_until_the_late_ack(line: Line, tmp_path: Path) -> None:
    # the caller waits 2 s before its ACK: the PBX re-sends the 200 (T1 = 500 ms, then 1 s)
    # and the call goes on normally once the ACK is there (no ack_timeout)
    out = call(line, tmp_path, "slow_ack", calls=2, rate=5, callee_scenario="call_uas")
    assert_clean(out, 2)
    assert_pbx_done(line, 2, Counter({"caller_hangup": 2}))
    oks = received(tmp_path, "call_slow_ack_uac", "SIP/2.0 200 OK", "2 INVITE")
    assert len(oks) == 2 and all(n >= 2 for n in oks.values()), oks


def test_bye_from_the_callee(line: Line, tmp_path: Path) -> None:
    out = call(line, tmp_path, "callee_bye", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"callee_hangup": 3}))


@pytest.mark.parametrize("scenario", ["", "callee_bye", "hold"])
def test_caller_over_tcp(line: Line, tmp_path: Path, scenario: str) -> None:
    # the A leg over TCP, the B leg over UDP: responses and the PBX's own in-dialog requests
    # (BYE, relayed re-INVITE answers) must reach the caller on its connection
    out = call(line, tmp_path, scenario, calls=3, caller_transport="t1")
    assert_clean(out, 3)
    reason = "callee_hangup" if scenario == "callee_bye" else "caller_hangup"
    assert_pbx_done(line, 3, Counter({reason: 3}))


def test_info_dtmf_relay_is_relayed(line: Line, tmp_path: Path) -> None:
    out = call(line, tmp_path, "info", calls=3)
    assert_clean(out, 3)
    assert_pbx_done(line, 3, Counter({"caller_hangup": 3}))


def test_two_contacts_ring_in_parallel_and_the_other_is_cancelled(line: Line, tmp_path: Path) -> None:
    # the callee registers two contacts (two ports); both ring; the first answers (call_uas),
    # the other keeps ringing (call_cancel_uas) and must get CANCEL, answer it 200 and the
    # INVITE 487, and get the ACK; the caller sees one ordinary call
    pbx = line.pbx
    answering, ringing = free_port(), free_port()
    csv = register_callee(pbx, tmp_path, answering, line.callee)
    register_callee(pbx, tmp_path, ringing, line.callee)
    path = f"/api/registrations/{line.callee}"
    assert pbx.wait_for(lambda: len(pbx.api(path)) == 2 or None, "two contacts of the callee")
    n = 3
    common: dict[str, Any] = {"inf": csv, "calls": n, "workdir": tmp_path, "timeout": 40, "trace_msg": True}
    uas_ok = start_sipp("call_uas", pbx.sip_addr, local_port=answering, name="answering", **common)
    uas_cancel = start_sipp("call_cancel_uas", pbx.sip_addr, local_port=ringing, name="ringing", **common)
    try:
        caller_csv = write_users_csv(tmp_path / "caller.csv", [line.caller])
        uac = sipp(
            "call_uac", pbx.sip_addr, inf=caller_csv, calls=n, rate=2, workdir=tmp_path,
            keys={"callee": line.callee}, timeout=30, extra=["-d", "100"],
        )  # fmt: skip
        for uas in (uas_ok, uas_cancel):
            with contextlib.suppress(TimeoutError):
                wait_until(lambda u=uas: not u.running(), 10, "a callee SIPp to finish")
        ok, cancelled = uas_ok.wait(timeout=1), uas_cancel.wait(timeout=1)
    finally:
        for uas in (uas_ok, uas_cancel):
            if uas.running():
                uas.stop()
    detail = (
        f"--- caller:\n{uac.explain()}\n--- answering:\n{ok.explain()}\n--- ringing:\n{cancelled.explain()}"
    )
    assert uac.clean and uac.successful == n, detail
    assert ok.clean and ok.successful == n, detail
    assert cancelled.clean and cancelled.successful == n, detail
    assert [unexpected(r) for r in (uac, ok, cancelled)] == [[], [], []], detail
    assert_pbx_done(line, n, Counter({"caller_hangup": n}))


def test_a_scenario_fails_when_the_callee_is_not_there(line: Line, tmp_path: Path) -> None:
    # the tests above can fail: without a registered callee the PBX answers 480 and the caller's
    # scenario, which expects 180, fails
    caller_csv = write_users_csv(tmp_path / "caller.csv", [line.caller])
    uac = sipp(
        "call_uac", line.pbx.sip_addr, inf=caller_csv, calls=1, rate=10, workdir=tmp_path,
        keys={"callee": line.callee}, timeout=20, recv_timeout_ms=1000,
    )  # fmt: skip
    assert not uac.clean and uac.failed == 1, uac.explain()
    assert "480" in uac.error_file.read_text(errors="replace"), uac.explain()


# --------------------------------------------------------------------------------------------
# baresip to baresip through the PBX
# --------------------------------------------------------------------------------------------
def metric(pbx: Pbx, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent); labels in any order."""
    _, text = pbx.request("GET", "/metrics")
    for line in str(text).splitlines():
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if found == labels:
            return float(value)
    return 0.0


def test_baresip_calls_baresip_with_hold_and_resume(line: Line, tmp_path: Path) -> None:
    binary, module_path, why = find_baresip()
    if binary is None or module_path is None:
        pytest.skip(why)
    pbx = line.pbx
    caller = Baresip(tmp_path, line.caller, pbx, module_path, auto_answer=False)
    callee = Baresip(tmp_path, line.callee, pbx, module_path, auto_answer=True)
    try:
        for phone in (caller, callee):
            phone.start(binary)
        both = {line.caller, line.callee}
        pbx.wait_for(lambda: both <= pbx.registered_users() or None, "both baresips registered")
        oks_before = metric(pbx, "pbx_sip_responses_received_total", method="INVITE", code="200")

        caller.command("dial", f"sip:{line.callee}@127.0.0.1:{pbx.sip_port}")
        # the callee answers by itself (answermode=auto: no CALL_INCOMING event then); RTP
        # flows between the phones (the PBX relays the SDP untouched)
        for phone in (caller, callee):
            phone.wait_event("CALL_ESTABLISHED")
            phone.wait_event("CALL_RTPESTAB")
        assert callee.event_field("CALL_ESTABLISHED", "peerdisplayname") == f"User {line.caller}"
        started, _ = call_events(line)
        assert len(started) == 1, started

        # hold and resume from the caller: the PBX sends the callee a re-INVITE each time (its
        # music offer, then the relayed resume) and gets its 200 (counted as INVITE 200s
        # received, the callee being the only phone answering INVITEs meanwhile)
        for command, oks in (("hold", 2), ("resume", 3)):
            caller.command(command)
            pbx.wait_for(
                lambda n=oks: (
                    metric(pbx, "pbx_sip_responses_received_total", method="INVITE", code="200")
                    >= oks_before + n
                    or None
                ),
                f"the callee's 200 to the {command} re-INVITE",
            )

        caller.command("hangup")
        caller.wait_event("CALL_CLOSED")
        callee.wait_event("CALL_CLOSED")
    finally:
        for phone in (caller, callee):
            phone.stop()
    detail = f"--- caller:\n{tail(caller.log)}\n--- callee:\n{tail(callee.log)}\n--- PBX:\n{pbx.log()}"
    assert "CALL_ESTABLISHED" in caller.event_types(), detail
    assert_pbx_done(line, 1, Counter({"caller_hangup": 1}))
