"""Helpers for the ACD and operator wire tests (test_acd_distribution_wire.py,
test_operator_wire.py): a PBX with queues and a dialplan of the test's own, SIPp agents that
register from a port and then answer (or decline) the offers sent there, and reading which
offers an agent's SIPp received from its message trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import SCENARIOS, Pbx, RunningSipp, free_port, start_sipp, wait_until
from test_calls_wire import register_callee

# The queues of the demo config (SPEC section 9), with members from the generated users.
PLAN = """\
default:
  - {match: {pattern: "_30[0-2]"}, ring_queue: "${EXTEN}"}
  - {match: {pattern: "_*45!"}, feature: queue_login}
  - {match: {pattern: "_*9*X!"}, feature: cherry_pick}
  - {match: {pattern: _10XX}, ring_user: "${EXTEN}"}
  - {match: {pattern: _0Z.}, trunk: {name: carrier}}
from-trunk:
  - {match: {regex: '\\+31534800(30[0-2])'}, ring_queue: "${1}"}
"""


def make_pbx(workdir: Path, queues: str, *, users: int = 10, trunk_port: int | None = None) -> Pbx:
    """A started PBX (users 1000..) with `queues` as queues.yaml, the PLAN dialplan and, with
    `trunk_port`, a trunk "carrier" at 127.0.0.1:trunk_port (calls from there come in by it)."""
    pbx = Pbx(workdir, users=users)
    (pbx.config_dir / "queues.yaml").write_text(queues)
    if trunk_port is not None:
        (pbx.config_dir / "trunks.yaml").write_text(
            f'trunks:\n  - {{name: carrier, host: "127.0.0.1", port: {trunk_port}, prefixes: ["0"]}}\n'
        )
    (pbx.workdir / "dialplans").mkdir(exist_ok=True)
    (pbx.workdir / "dialplans" / "default.yaml").write_text(PLAN)
    return pbx.start()


def scenario(workdir: Path, template: str, **values: str) -> Path:
    """A copy of scenarios/<template>.xml with @NAME@ placeholders replaced (SIPp does not put
    -key values into regular expressions)."""
    text = (SCENARIOS / f"{template}.xml").read_text()
    for name, value in values.items():
        text = text.replace(f"@{name.upper()}@", value)
    assert not re.search(r"@[A-Z]+@", text), f"a placeholder is left in {template}"
    tag = "-".join(v.strip("+") for v in values.values())
    out = workdir / f"{template}-{tag}.xml"
    out.write_text(text)
    return out


@dataclass
class Agent:
    """A SIPp phone registered as `ext` that handles `calls` offers with its scenario."""

    ext: str
    port: int
    sipp: RunningSipp

    def stop(self) -> None:
        if self.sipp.running():
            self.sipp.stop()


def start_agent(
    pbx: Pbx,
    workdir: Path,
    ext: str,
    sf: Path,
    *,
    calls: int,
    inf: Path | None = None,
    pause_ms: int = 0,
    timeout: float = 60,
) -> Agent:
    """Register `ext` from a fresh port, then run `sf` there as a UAS for `calls` offers."""
    port = free_port()
    csv = register_callee(pbx, workdir, port, user=ext)
    extra = ["-d", str(pause_ms)] if pause_ms else []
    run = start_sipp(sf, pbx.sip_addr, inf=inf or csv, calls=calls, workdir=workdir, local_port=port,
                     timeout=timeout, name=f"agent{ext}", trace_msg=True, extra=extra)  # fmt: skip
    return Agent(ext, port, run)


def received(trace: str, method: str) -> list[str]:
    """The requests of `method` in a SIPp -trace_msg log that SIPp received, in order."""
    out = []
    for block in trace.split("-----------------------------------------------"):
        if "message received" not in block:
            continue
        body = block.split("bytes :", 1)[-1].lstrip()
        if body.startswith(f"{method} "):
            out.append(body)
    return out


def header(message: str, name: str) -> str:
    m = re.search(rf"^{re.escape(name)}:\s*(.*)$", message, re.M | re.I)
    return m.group(1).strip() if m else ""


def login(pbx: Pbx, ext: str, queue: str | None = None) -> None:
    status, body = pbx.request("POST", f"/api/agents/{ext}/login", body={"queue": queue} if queue else None)
    assert status == 200, body


def set_status(pbx: Pbx, ext: str, status: str) -> None:
    code, body = pbx.request("PUT", f"/api/agents/{ext}/status", body={"status": status})
    assert code == 200, body


def agent(pbx: Pbx, ext: str) -> dict[str, Any]:
    found = pbx.api(f"/api/agents/{ext}")
    assert isinstance(found, dict)
    return found


def waiting(pbx: Pbx, queue: str) -> list[dict[str, Any]]:
    rows = pbx.api(f"/api/queues/{queue}/waiting")
    assert isinstance(rows, list)
    return rows


def wait_waiting(pbx: Pbx, queue: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The waiting callers of `queue` once there are `count` of them (none ringing an agent)."""
    return pbx.wait_for(
        lambda: (rows := waiting(pbx, queue)) and len(rows) == count and rows, f"{count} waiting in {queue}",
        timeout,
    )  # fmt: skip


def live_call(pbx: Pbx, call_id: str) -> dict[str, Any] | None:
    status, body = pbx.request("GET", f"/api/calls/{call_id}")
    return body if status == 200 and isinstance(body, dict) else None


def wait_joined(pbx: Pbx, call_id: str, timeout: float = 15) -> dict[str, Any]:
    """The live call once it is answered with every leg it has confirmed (caller and agent)."""

    def joined() -> dict[str, Any] | None:
        call = live_call(pbx, call_id)
        if call is None or call["state"] != "answered":
            return None
        legs = [leg for leg in call["legs"] if leg["state"] != "ended"]
        return call if len(legs) >= 2 and all(leg["state"] == "confirmed" for leg in legs) else None

    return pbx.wait_for(joined, f"call {call_id} joined", timeout)


def until(check: Any, what: str, timeout: float = 10) -> Any:
    return wait_until(check, timeout, what, interval=0.05)


def timeline(trace: str) -> list[tuple[float, str, str]]:
    """(seconds of day, "sent" | "received", first line) of every message in a SIPp -trace_msg log."""
    out = []
    for block in trace.split("-----------------------------------------------")[1:]:
        stamp, _, rest = block.partition("\n")
        clock = stamp.strip().split(" ")[-1]
        h, m, s = clock.split(":")
        way = "received" if "message received" in rest.split("\n", 1)[0] else "sent"
        first = rest.split("\n\n", 1)[-1].lstrip().split("\n", 1)[0]
        out.append((int(h) * 3600 + int(m) * 60 + float(s), way, first.strip()))
    return out
