"""ACD distribution on the wire (issue 7), checked from the agents' side: SIPp callers dial queue
"Algemeen" (300); three SIPp agents (1001-1003) registered and logged in answer the offers. Which
agent got which caller is read from the agents' own SIPp message traces (the From of every INVITE
they received), not from the PBX's view.

- longest_idle: the agents become idle at known moments (each takes one call in a set order while
  the others are paused), then the next calls must go to the longest idle agent first.
- ringall: every agent's phone rings for every call; for each call one agent (a different one
  each time) answers and the two others must be cancelled.
"""

from __future__ import annotations

from pathlib import Path

from harness import Pbx, sipp, write_users_csv
from queue_kit import Agent, agent, header, login, make_pbx, received, scenario, set_status, start_agent

AGENTS = ("1001", "1002", "1003")


def queues(strategy: str) -> str:
    return f"""\
queues:
  - {{name: Algemeen, number: "300", label: Algemeen, strategy: {strategy}, wrapup: 0, ring_timeout: 20,
     members: ["1001", "1002", "1003"]}}
"""


def one_call(pbx: Pbx, workdir: Path, caller: str, free: tuple[str, ...]) -> None:
    """`caller` dials 300, is joined to an agent, hangs up after 300 ms; then every agent in
    `free` is available again (wrap-up 0), so the next call sees a settled queue."""
    res = sipp("acd_caller_uac", pbx.sip_addr, inf=write_users_csv(workdir / f"caller{caller}.csv", [caller]),
               calls=1, rate=1, workdir=workdir, keys={"callee": "300"}, timeout=30, extra=["-d", "300"],
               name=f"caller{caller}")  # fmt: skip
    assert res.clean and res.successful == 1, f"{res.explain()}\n{pbx.log(30)}"
    pbx.wait_for(
        lambda: all(agent(pbx, a)["status"] == "available" for a in free), f"{free} available again", 10
    )


def offered_by(agents: dict[str, Agent]) -> dict[str, list[str]]:
    """Per agent, the callers (From user) of the INVITEs its SIPp received, in order."""
    out = {}
    for ext, a in agents.items():
        res = a.sipp.wait(timeout=20)
        assert res.failed == 0, f"agent {ext}: {res.explain()}"
        invites = received(a.sipp.messages(), "INVITE")
        out[ext] = [header(m, "From").split("sip:", 1)[1].split("@", 1)[0] for m in invites]
    return out


def test_longest_idle_offers_the_agent_idle_longest_first(tmp_path: Path) -> None:
    pbx = make_pbx(tmp_path / "pbx", queues("longest_idle"))
    sf = scenario(tmp_path, "acd_agent_uas", queue="Algemeen")
    agents = {ext: start_agent(pbx, tmp_path, ext, sf, calls=2, timeout=90) for ext in AGENTS}
    try:
        for ext in AGENTS:
            login(pbx, ext)
        # Idle order made known: 1002 takes a call alone, then 1003 (idle since its login, before
        # 1002's call ended), then 1001 (idle since its login, the longest).
        set_status(pbx, "1001", "paused")
        set_status(pbx, "1003", "paused")
        one_call(pbx, tmp_path, "1004", ("1002",))
        set_status(pbx, "1003", "available")
        one_call(pbx, tmp_path, "1005", ("1002", "1003"))
        set_status(pbx, "1001", "available")
        one_call(pbx, tmp_path, "1006", AGENTS)
        # Now idle since: 1002 (ended first) < 1003 < 1001; each call makes its agent the newest.
        for caller in ("1007", "1008", "1009"):
            one_call(pbx, tmp_path, caller, AGENTS)
        got = offered_by(agents)
    finally:
        for a in agents.values():
            a.stop()
        pbx.stop()
    assert got == {"1002": ["1004", "1007"], "1003": ["1005", "1008"], "1001": ["1006", "1009"]}, got


def test_ringall_rings_every_agent_for_every_call_and_one_answers_each(tmp_path: Path) -> None:
    pbx = make_pbx(tmp_path / "pbx", queues("ringall"))
    sf = scenario(tmp_path, "acd_agent_ringall_uas", queue="Algemeen")
    callers = ("1004", "1005", "1006")
    agents = {}
    try:
        for k, ext in enumerate(AGENTS):  # agent k answers call k and must be cancelled for the others
            modes = tmp_path / f"modes{ext}.csv"
            modes.write_text("SEQUENTIAL\n" + "".join("answer;\n" if i == k else "ring;\n" for i in range(3)))
            agents[ext] = start_agent(pbx, tmp_path, ext, sf, calls=3, inf=modes, timeout=90)
            login(pbx, ext)
        for caller in callers:
            one_call(pbx, tmp_path, caller, AGENTS)
        got = offered_by(agents)
        results = {ext: a.sipp.wait(timeout=1) for ext, a in agents.items()}
        cancels = {ext: len(received(a.sipp.messages(), "CANCEL")) for ext, a in agents.items()}
        acks_with_sdp = {ext: [m for m in received(a.sipp.messages(), "ACK") if "m=audio" in m]
                         for ext, a in agents.items()}  # fmt: skip
        stats = {q["name"]: q for q in pbx.api("/api/queues")}["Algemeen"]
    finally:
        for a in agents.values():
            a.stop()
        pbx.stop()
    for ext in AGENTS:  # every phone rang for every caller, in the callers' order
        assert got[ext] == list(callers), got
        assert results[ext].successful == 3 and results[ext].failed == 0, results[ext].explain()
        assert cancels[ext] == 2, cancels  # cancelled for the two calls another agent answered
        assert len(acks_with_sdp[ext]) == 1, acks_with_sdp  # joined to exactly one caller
    assert (stats["answered"], stats["offers"], stats["waiting"]) == (3, 9, 0), stats
