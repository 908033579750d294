"""The queue keys and the `acd:` section the engine needs: defaults, checks with file:line
messages, and the demo config driving a real engine."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pbx.acd import AcdEngine, AgentReachability, CallerJoined, Login, Offer
from pbx.config import ConfigError, load_config
from pbx.config.models import Queue

REPO = Path(__file__).resolve().parents[3]

BASE = """\
api: {token: xxxxxxxxxxxxxxxx}
users:
  - {extension: 201, hotdesk: false}
  - {extension: 202, hotdesk: false}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "pbx.yaml").write_text(BASE + text)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path)
    return [str(p).replace(str(tmp_path), "cfg") for p in e.value.problems]


def test_queue_defaults_are_asterisk_like() -> None:
    q = Queue(name="Q", number="300")
    assert (q.retry_delay, q.max_length, q.join_when_empty, q.leave_when_empty) == (5, 0, True, False)
    assert (q.announce_frequency, q.service_level, q.autopause_after, q.progressive_step) == (0, 20, 0, 10)
    assert q.penalties == {}


def test_penalty_for_a_non_member(tmp_path: Path) -> None:
    text = """\
queues:
  - name: Q
    number: 300
    members: [201]
    penalties: {202: 1}
"""
    assert problems(tmp_path, text) == [
        "cfg/pbx.yaml:9: queues[0].penalties.202: '202' is not a member of this queue"
    ]


def test_negative_values_are_refused(tmp_path: Path) -> None:
    text = """\
queues:
  - {name: Q, number: 300, members: [201], penalties: {201: -1}, retry_delay: -1}
"""
    found = problems(tmp_path, text)
    assert any("queues[0].penalties[201]: -1 is too small" in p for p in found)
    assert any("retry_delay: -1 is too small" in p for p in found)


def test_acd_codes_unique_and_autopause_reason_known(tmp_path: Path) -> None:
    text = """\
acd:
  pause_reasons:
    - {code: 1, name: lunch}
    - {code: 1, name: coffee}
  dispositions:
    - {code: 5, name: sale}
  autopause_reason: 7
"""
    found = problems(tmp_path, text)
    assert "cfg/pbx.yaml:8: acd.pause_reasons[1].code: duplicate code '1' (also pause_reasons[0])" in found
    assert "cfg/pbx.yaml:11: acd.autopause_reason: '7' is not a pause_reasons code" in found


def test_demo_config_runs_the_engine() -> None:
    cfg = load_config(REPO / "config")
    assert [c.name for c in cfg.acd.pause_reasons][:1] == ["lunch"]
    algemeen = cfg.queue("Algemeen")
    assert algemeen is not None and algemeen.penalties == {"205": 1}
    acd = AcdEngine(cfg, random.Random(1), now=0.0)
    for ext in ("201", "205"):
        acd.handle(AgentReachability(ext, True), 0.0, 0.0)
        acd.handle(Login(ext), 0.0, 0.0)
    out = acd.handle(CallerJoined("c1", "300", "0612345678", "Jan"), 1.0, 1.0)
    assert [(e.agent, e.queue, e.urgent) for e in out if isinstance(e, Offer)] == [("201", "Algemeen", False)]
    out = acd.handle(CallerJoined("u1", "301"), 2.0, 2.0)
    # Urgent rings everyone free (ringall); 201 rings for c1 already
    assert [e.agent for e in out if isinstance(e, Offer)] == ["205"]
