"""scripts/gen-config writes a benchmark config that load_config accepts (SPEC section 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pbx.config import load_config

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen-config"


def gen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_generated_config_loads(tmp_path: Path) -> None:
    done = gen("--users", "50", "--out", tmp_path / "bench")
    assert done.returncode == 0, done.stderr
    cfg = load_config(tmp_path / "bench")
    assert len(cfg.users) == 50 and len(cfg.devices) == 50
    assert cfg.users[0].extension == "1000" and cfg.users[-1].extension == "1049"
    assert cfg.users[0].pin == "1000"
    device = cfg.device("1049")
    assert device is not None and device.password == "pw1049"
    (queue,) = cfg.queues
    assert (queue.name, queue.number, len(queue.members)) == ("bench", "3000", 50)
    assert cfg.security.requests_per_second == 0
    assert cfg.security.auth_failures_before_ban == 20
    assert {str(n) for n in cfg.sip.allowed_destinations} == {"127.0.0.0/8", "::1/128"}
    assert (cfg.api.port, cfg.api.token) == (8080, "bench-token")


def test_options(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = gen(
        *("--users", "5", "--out", out, "--first", "7", "--sip-host", "::1", "--sip-port", "5070"),
        *("--http-port", "8081", "--token", "secret-token", "--transports", "tcp"),
        *("--ban-after", "3", "--rps", "50"),
    )
    assert done.returncode == 0, done.stderr
    cfg = load_config(out)
    assert [u.pin for u in cfg.users] == ["0007", "0008", "0009", "0010", "0011"]
    assert [(lst.transport, lst.host, lst.port) for lst in cfg.sip.listen] == [("tcp", "::1", 5070)]
    assert (cfg.api.port, cfg.api.token) == (8081, "secret-token")
    assert (cfg.security.auth_failures_before_ban, cfg.security.requests_per_second) == (3, 50)


def test_queue_number_moves_when_3000_is_an_extension(tmp_path: Path) -> None:
    assert gen("--users", "2500", "--out", tmp_path / "big").returncode == 0
    cfg = load_config(tmp_path / "big")
    assert cfg.queues[0].number == "3500"  # the first number after the last extension, 3499


def test_refuses_a_directory_with_other_yaml(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("node: {id: x}\n")
    done = gen("--users", "1", "--out", tmp_path)
    assert done.returncode == 1 and "mine.yaml" in done.stderr


@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3 on PATH")
def test_runs_directly_without_the_package(tmp_path: Path) -> None:
    assert os.access(SCRIPT, os.X_OK)
    env = {"PATH": os.environ["PATH"]}  # no PYTHONPATH, no venv: it must need nothing but stdlib
    done = subprocess.run(
        [str(SCRIPT), "--users", "3", "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(load_config(tmp_path / "c").users) == 3
