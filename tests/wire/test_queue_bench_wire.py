"""The queue benchmark's scenarios on the wire (scripts/bench-queue): SIPp callers dial the queue,
the PBX answers them (music), one SIPp UAS that plays the agent answers the offer, the PBX joins
the caller by re-INVITE; the caller hangs up, the PBX hangs up the agent. Three calls, all done."""

from __future__ import annotations

from pathlib import Path

from harness import Pbx, free_port, start_sipp, write_users_csv
from test_calls_wire import register_callee

PLAN = """\
default:
  - {match: {exact: "3000"}, ring_queue: bench}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
"""
QUEUES = """\
queues:
  - {name: bench, number: "3000", label: Bench, strategy: longest_idle, wrapup: 0, members: ["1001"]}
"""


def test_three_sipp_queue_calls_reach_the_sipp_agent(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path / "pbx", users=2)
    (pbx.config_dir / "queues.yaml").write_text(QUEUES)
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    pbx.start()
    try:
        port = free_port()
        csv = register_callee(pbx, tmp_path, port, user="1001")
        status, body = pbx.request("POST", "/api/agents/1001/login")
        assert status == 200, body
        agent = start_sipp("queue_agent_bench_uas", pbx.sip_addr, inf=csv, calls=3, workdir=tmp_path,
                           local_port=port, timeout=40, name="agent", trace_msg=True)  # fmt: skip
        try:
            caller = start_sipp(
                "queue_caller_uac", pbx.sip_addr, inf=write_users_csv(tmp_path / "caller.csv", ["1000"]),
                calls=3, rate=10, limit=1, workdir=tmp_path, keys={"callee": "3000"}, timeout=40,
                extra=["-d", "100"], name="caller", trace_msg=True,
            ).wait(timeout=60)  # fmt: skip
            answered = agent.wait(timeout=20)
        finally:
            if agent.running():
                agent.stop()
        assert caller.clean and caller.successful == 3, caller.explain() + pbx.log(40)
        assert answered.clean and answered.successful == 3, answered.explain() + agent.messages()[-3000:]
        stats = {q["name"]: q for q in pbx.api("/api/queues")}
        assert stats["bench"]["answered"] == 3 and stats["bench"]["waiting"] == 0, stats
    finally:
        pbx.stop()
