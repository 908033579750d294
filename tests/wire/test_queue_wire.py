"""A queue call on the wire: a caller (recording UA) dials the queue, hears music, a SIPp agent
logged in through the API gets the offer (delayed offer, X-PBX-Queue), answers, and the PBX joins
them by re-INVITE; after the hang-up the agent is in wrap-up and the queue counts one answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO, Pbx, free_port, password_of, start_sipp
from media_ua import MediaUA
from test_calls_wire import register_callee

PLAN = """\
default:
  - {match: {exact: "3000"}, ring_queue: bench}
  - {match: {pattern: "_*45!"}, feature: queue_login}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
"""


@pytest.fixture
def queue_pbx(tmp_path: Path) -> Iterator[Pbx]:
    pbx = Pbx(tmp_path / "pbx", users=3)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    yield pbx
    pbx.stop()


def test_queue_call_reaches_a_logged_in_agent(queue_pbx: Pbx, tmp_path: Path) -> None:
    pbx = queue_pbx
    port = free_port()
    csv = register_callee(pbx, tmp_path, port, user="1001")
    status, body = pbx.request("POST", "/api/agents/1001/login")
    assert status == 200, body
    assert pbx.api("/api/agents/1001")["status"] == "available"
    agent = start_sipp("queue_agent_uas", pbx.sip_addr, inf=csv, calls=1, workdir=tmp_path, local_port=port,
                       timeout=40, name="agent", trace_msg=True)  # fmt: skip
    caller = MediaUA("1000", password_of("1000"), pbx.sip_addr)
    try:
        caller.call("3000")
        caller.answer_reinvite(timeout=15)
        waited = list(caller.received)
        caller.record_for(0.2)
        caller.hang_up()
        result = agent.wait(timeout=15)
    finally:
        caller.close()
        if agent.running():
            agent.stop()
    assert result.successful == 1 and result.failed == 0, (
        result.explain() + agent.messages()[-2000:] + pbx.log(30)
    )
    moh = (REPO / "sounds" / "moh" / "default.ul").read_bytes()
    heard = b"".join(p.payload for p in waited)
    assert heard and heard[:160] == moh[:160]  # the caller heard the queue's music first
    a = pbx.api("/api/agents/1001")
    assert a["status"] in ("wrapup", "available"), a
    stats = {q["name"]: q for q in pbx.api("/api/queues")}
    assert stats["bench"]["answered"] == 1 and stats["bench"]["waiting"] == 0


RINGALL = """\
queues:
  - {name: bench, number: "3000", label: "Bench urgent", strategy: ringall, urgent: true,
     members: ["1001", "1002"]}
"""


def test_ringall_rings_every_agent_the_first_answer_wins_the_other_is_cancelled(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path / "pbx", users=3)
    (pbx.config_dir / "queues.yaml").write_text(RINGALL)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    try:
        agents = {}
        for ext, scenario in (("1001", "queue_agent_uas"), ("1002", "queue_agent_cancel_uas")):
            port = free_port()
            csv = register_callee(pbx, tmp_path, port, user=ext)
            assert pbx.request("POST", f"/api/agents/{ext}/login")[0] == 200
            agents[ext] = start_sipp(scenario, pbx.sip_addr, inf=csv, calls=1, workdir=tmp_path,
                                     local_port=port, timeout=40, name=f"agent{ext}")  # fmt: skip
        caller = MediaUA("1000", password_of("1000"), pbx.sip_addr)
        try:
            caller.call("3000")
            caller.answer_reinvite(timeout=15)
            caller.hang_up()
            results = {ext: a.wait(timeout=15) for ext, a in agents.items()}
        finally:
            caller.close()
            for a in agents.values():
                if a.running():
                    a.stop()
        for ext, r in results.items():
            assert r.successful == 1 and r.failed == 0, f"{ext}: {r.explain()}\n{pbx.log(30)}"
        stats = {q["name"]: q for q in pbx.api("/api/queues")}
        assert stats["bench"]["answered"] == 1 and stats["bench"]["offers"] == 2
    finally:
        pbx.stop()
