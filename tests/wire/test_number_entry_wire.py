"""Number entry (VC 4.3) on the wire: a caller (media_ua.py) dials an IVR that asks for a Dutch
BSN (11-proof), keys it as RFC 4733 events, and is queued; the SIPp agent's INVITE carries
`X-PBX-Number-Entry: <digits>;valid` or, after three wrong tries, `;invalid` (issue 5)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import REPO, Pbx, free_port, password_of, start_sipp
from media_ua import MediaUA
from test_calls_wire import register_callee

PLAN = """\
default:
  - match: {exact: "400"}
    number_entry: {prompt: enter_number, min: 9, max: 9, validator: elfproef, next: to-queue}
to-queue:
  - {match: {prefix: ""}, ring_queue: bench}
"""
PROMPT = (REPO / "sounds" / "nl" / "enter_number.ul").read_bytes()


def prompts_heard(u: MediaUA) -> int:
    """How often the start of "enter your number" arrived so far (it is sent byte for byte)."""
    audio = b"".join(p.payload for p in u.received)
    mark = PROMPT[next(i for i, b in enumerate(PROMPT) if b not in (0xFF, 0x7F)) :][:320]
    return audio.count(mark)


def key_until_offered(u: MediaUA, digits: str, tries: int) -> None:
    """Key `digits` once per try, each time after the PBX has started asking again."""
    for n in range(1, tries + 1):
        deadline = time.monotonic() + 15
        while prompts_heard(u) < n and time.monotonic() < deadline:
            u.record_for(0.1)
        assert prompts_heard(u) >= n, f"the PBX did not ask (try {n})"
        for d in digits:
            u.send_rfc4733(d)
            u.record_for(0.08)


@pytest.mark.parametrize(
    ("digits", "tries", "header"),
    [("111222333", 1, "111222333;valid"), ("123456789", 3, "123456789;invalid")],
)
def test_the_keyed_number_reaches_the_agents_invite(
    tmp_path: Path, digits: str, tries: int, header: str
) -> None:
    pbx = Pbx(tmp_path / "pbx", users=3)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    caller = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1001")
        assert pbx.request("POST", "/api/agents/1001/login")[0] == 200
        agent = start_sipp("queue_agent_uas", pbx.sip_addr, inf=csv, calls=1, workdir=tmp_path,
                           local_port=port, timeout=60, name="agent", trace_msg=True)  # fmt: skip
        try:
            caller.call("400")
            key_until_offered(caller, digits, tries)
            caller.answer_reinvite(timeout=20)  # queued, offered to 1001, joined
            caller.hang_up()
            result = agent.wait(timeout=20)
        finally:
            if agent.running():
                agent.stop()
        trace = agent.messages()
        assert result.successful == 1 and result.failed == 0, result.explain() + trace[-2000:] + pbx.log(30)
        offers = [m for m in trace.split("\n\n") if "INVITE sip:" in m]
        assert offers and f"X-PBX-Number-Entry: {header}" in offers[0], trace[-3000:]
    finally:
        caller.close()
        pbx.stop()
