"""Registration over the wire: SIPp, baresip, pyVoIP and sipvicious against the real daemon.

Run: scripts/in-netns .venv/bin/pytest tests/wire -q
Each test starts its own daemon (own ports, own data dir) from scripts/gen-config.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from harness import (
    Pbx,
    binding_contact,
    binding_user,
    free_port,
    header_values,
    options_request,
    run_tool,
    sipp,
    status_of,
    stop_process,
    tail,
    user_range,
    wait_until,
    which,
    write_users_csv,
)

T = TypeVar("T")
TABLE_ROW = re.compile(r"^\|\s*(\S[^|]*?)\s*\|\s*([^|]*?)\s*\|", re.M)


def settle(read: Callable[[], T], want: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Read until `want(value)` holds or `timeout` passes; return the last value read.

    The daemon answers 200 before (or while) it publishes the binding to the API and the
    store, so the API may lag the SIP answer by a moment. The caller asserts on the value.
    """
    last: list[T] = []

    def check() -> bool:
        last[:] = [read()]
        return want(last[0])

    with contextlib.suppress(TimeoutError):
        wait_until(check, timeout, "the API to show the expected state", interval=0.1)
    return last[0] if last else read()


def register(pbx: Pbx, users: list[str], workdir: Path, *, local_port: int, rate: float = 100) -> None:
    """Register `users` with SIPp (digest); every call must succeed."""
    csv = write_users_csv(workdir / f"users-{users[0]}-{len(users)}.csv", users)
    res = sipp(
        "register_auth",
        pbx.sip_addr,
        inf=csv,
        calls=len(users),
        rate=rate,
        workdir=workdir / "sipp",
        local_port=local_port,
        timeout=30 + len(users) / rate * 2,
        name=f"register-{len(users)}",
    )
    assert res.clean and res.successful == len(users), res.explain() + "\n--- PBX log:\n" + pbx.log()


def bindings_by_user(pbx: Pbx) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for b in pbx.registrations():
        out.setdefault(binding_user(b), []).append(binding_contact(b))
    return out


# --------------------------------------------------------------------------------------------
# SIPp
# --------------------------------------------------------------------------------------------
def test_sipp_registers_1000_users_with_digest(pbx_factory: Callable[..., Pbx], tmp_path: Path) -> None:
    pbx = pbx_factory(1000)
    users = user_range(1000)
    port = free_port()
    register(pbx, users, tmp_path, local_port=port, rate=200)

    regs = settle(lambda: bindings_by_user(pbx), lambda r: len(r) >= 1000, timeout=20)
    assert set(regs) == set(users), f"missing: {sorted(set(users) - set(regs))[:20]}"
    assert all(len(c) == 1 for c in regs.values()), {u: c for u, c in regs.items() if len(c) != 1}
    wrong = {u: c for u, c in regs.items() if f"sip:{u}@127.0.0.1:{port}" not in c[0]}
    assert not wrong, f"contacts not the ones SIPp registered: {dict(list(wrong.items())[:5])}"


def test_sipp_registers_over_tcp(pbx: Pbx, tmp_path: Path) -> None:
    users = user_range(10)
    csv = write_users_csv(tmp_path / "users.csv", users)
    port = free_port()
    res = sipp(
        "register_auth",
        pbx.sip_addr,
        inf=csv,
        calls=len(users),
        rate=20,
        workdir=tmp_path / "sipp",
        transport="t1",
        local_port=port,
    )
    assert res.clean and res.successful == len(users), res.explain() + "\n--- PBX log:\n" + pbx.log()
    regs = settle(lambda: bindings_by_user(pbx), lambda r: set(r) == set(users))
    assert set(regs) == set(users)
    assert all("transport=tcp" in c[0].lower() for c in regs.values()), regs


def test_unregister_removes_only_that_binding(pbx: Pbx, tmp_path: Path) -> None:
    users = user_range(10)
    port = free_port()
    register(pbx, users, tmp_path, local_port=port)
    assert settle(lambda: set(bindings_by_user(pbx)), lambda r: r == set(users)) == set(users)

    # unregister.xml registers, checks the 200 lists a Contact, sends Expires: 0 and checks the
    # final 200 lists none (same Contact as above, so it is the same binding)
    gone, kept = users[:5], users[5:]
    csv = write_users_csv(tmp_path / "gone.csv", gone)
    res = sipp(
        "unregister",
        pbx.sip_addr,
        inf=csv,
        calls=len(gone),
        rate=50,
        workdir=tmp_path / "sipp",
        local_port=port,
    )
    assert res.clean and res.successful == len(gone), res.explain() + "\n--- PBX log:\n" + pbx.log()
    left = settle(lambda: set(bindings_by_user(pbx)), lambda r: r == set(kept))
    assert left == set(kept)


def test_register_below_min_expires_gets_423(pbx: Pbx, tmp_path: Path) -> None:
    # register_423.xml: REGISTER Expires: 10 -> 401 -> with auth -> 423 carrying Min-Expires
    users = user_range(5)
    csv = write_users_csv(tmp_path / "users.csv", users)
    res = sipp("register_423", pbx.sip_addr, inf=csv, calls=len(users), rate=20, workdir=tmp_path / "sipp")
    assert res.clean and res.successful == len(users), res.explain() + "\n--- PBX log:\n" + pbx.log()
    assert bindings_by_user(pbx) == {}, "a refused REGISTER created a binding"


def test_bindings_survive_a_restart(pbx_factory: Callable[..., Pbx], tmp_path: Path) -> None:
    pbx = pbx_factory(20)
    users = user_range(20)
    register(pbx, users, tmp_path, local_port=free_port())
    before = settle(lambda: bindings_by_user(pbx), lambda r: len(r) == 20)
    assert set(before) == set(users)

    rc = pbx.stop()
    assert rc == 0, f"SIGTERM should stop the daemon gracefully, exit code {rc}\n{pbx.log()}"
    pbx.start()
    after = settle(lambda: bindings_by_user(pbx), lambda r: r == before)
    assert after == before


# --------------------------------------------------------------------------------------------
# baresip
# --------------------------------------------------------------------------------------------
BARESIP_MODULE_DIRS = (
    "/usr/lib/baresip/modules",
    "/usr/lib/x86_64-linux-gnu/baresip/modules",
    "/usr/local/lib/baresip/modules",
)


def netstring_command(port: int, command: str, timeout: float = 3.0) -> bytes:
    """Send one ctrl_tcp command (JSON in a netstring) to baresip; return what came back."""
    body = json.dumps({"command": command, "params": "", "token": "wire"}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(str(len(body)).encode() + b":" + body + b",")
        try:
            return s.recv(65536)
        except TimeoutError:
            return b""


def test_baresip_registers_and_user_is_present(pbx: Pbx, tmp_path: Path) -> None:
    baresip = which("baresip")
    if baresip is None:
        pytest.skip("baresip is not installed (apt-get install baresip)")
    module_path = next((d for d in BARESIP_MODULE_DIRS if Path(d, "ctrl_tcp.so").exists()), None)
    if module_path is None:
        pytest.skip("baresip modules (ctrl_tcp.so) not found")
    sip_port, ctrl_port = free_port(), free_port()
    conf = tmp_path / "baresip"
    conf.mkdir()
    # net_interface: baresip 1.0 ignores loopback when it picks its own address; naming the
    # address makes it use 127.0.0.1 (the only one in the namespace)
    (conf / "config").write_text(
        "poll_method\tepoll\n"
        f"sip_listen\t127.0.0.1:{sip_port}\n"
        "net_interface\t127.0.0.1\n"
        f"module_path\t{module_path}\n"
        "module\tg711.so\n"
        "module_tmp\tuuid.so\n"
        "module_tmp\taccount.so\n"
        "module_app\tmenu.so\n"
        "module_app\tctrl_tcp.so\n"
        f"ctrl_tcp_listen\t127.0.0.1:{ctrl_port}\n"
    )
    (conf / "accounts").write_text(f"<sip:1000@127.0.0.1:{pbx.sip_port}>;auth_pass=pw1000;regint=600\n")
    log = tmp_path / "baresip.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [baresip, "-f", str(conf)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        regs = settle(lambda: bindings_by_user(pbx), lambda r: "1000" in r, timeout=15)
        assert "1000" in regs, f"baresip did not register\n--- baresip:\n{tail(log)}\n--- PBX:\n{pbx.log()}"
        assert any(f"127.0.0.1:{sip_port}" in c for c in regs["1000"]), regs["1000"]
        present = settle(pbx.users_present, lambda p: p.get("1000") is True)
        assert present.get("1000") is True, present
        assert present.get("1001") is False, "a user without a registered device must not be present"
    finally:
        if proc.poll() is None:
            try:
                netstring_command(ctrl_port, "quit")
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(proc, timeout=5)


# --------------------------------------------------------------------------------------------
# pyVoIP
# --------------------------------------------------------------------------------------------
PYVOIP_PHONE = """
import os, sys
from pyVoIP.VoIP import VoIPPhone
server_port, sip_port, rtp = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
phone = VoIPPhone("127.0.0.1", server_port, "1001", "pw1001", myIP="127.0.0.1",
                  sipPort=sip_port, rtpPortLow=rtp, rtpPortHigh=rtp + 10)
phone.start()
print("started", phone.get_status(), flush=True)
sys.stdin.readline()          # the test says when to stop
phone.stop()
print("stopped", phone.get_status(), flush=True)
os._exit(0)                   # pyVoIP's timer threads must not keep the process alive
"""


def test_pyvoip_registers_and_unregisters(pbx: Pbx, tmp_path: Path) -> None:
    pytest.importorskip("pyVoIP")
    sip_port, rtp = free_port(), free_port()
    log = tmp_path / "pyvoip.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", PYVOIP_PHONE, str(pbx.sip_port), str(sip_port), str(rtp)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
        )
    try:
        regs = settle(lambda: bindings_by_user(pbx), lambda r: "1001" in r, timeout=15)
        assert "1001" in regs, f"pyVoIP did not register\n--- pyVoIP:\n{tail(log)}\n--- PBX:\n{pbx.log()}"
        assert any(f"127.0.0.1:{sip_port}" in c for c in regs["1001"]), regs["1001"]
        assert proc.stdin is not None
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()
        proc.wait(timeout=20)
        assert "stopped" in log.read_text(), tail(log)
        # phone.stop() unregisters (Expires: 0, challenged, answered with MD5 without qop)
        left = settle(lambda: bindings_by_user(pbx), lambda r: "1001" not in r)
        assert "1001" not in left, f"pyVoIP's unregister left {left.get('1001')}\n{tail(log)}"
    finally:
        stop_process(proc, timeout=5)


# --------------------------------------------------------------------------------------------
# sipvicious
# --------------------------------------------------------------------------------------------
def sipvicious(tool: str) -> str:
    path = which(f"sipvicious_{tool}", tool)
    if path is None:
        pytest.skip(f"sipvicious {tool} not installed (pip install sipvicious or apt-get install sipvicious)")
    return path


@pytest.mark.parametrize("method", ["REGISTER", "INVITE", "OPTIONS"])
def test_svwar_finds_no_extension(pbx: Pbx, tmp_path: Path, method: str) -> None:
    # users 1000-1009 exist; 990-999 and 1010 do not: a known and an unknown user must get
    # the same kind of answer, so svwar cannot tell them apart
    run = run_tool(
        [sipvicious("svwar"), "-e990-1010", "-m", method, "-p", str(pbx.sip_port), "127.0.0.1"],
        timeout=120,
        log=tmp_path / "svwar.log",
    )
    found = [row for row in TABLE_ROW.findall(run.output) if row[0].isdigit()]
    assert found == [], f"svwar enumerated extensions:\n{run.output}"
    assert not run.timed_out, f"svwar did not finish:\n{run.output}"
    # it must have had answers to work with (a silent PBX would also "find nothing")
    assert "timed out" not in run.output and "no server" not in run.output.lower(), run.output
    assert "found nothing" in run.output, run.output


def test_svcrack_gets_banned_and_finds_no_password(pbx_factory: Callable[..., Pbx], tmp_path: Path) -> None:
    pbx = pbx_factory(10, ban_after=5)
    words = tmp_path / "words.txt"
    guesses = ["1000", "password", "123456", "pw1001", "pw100", "pw10000", "PW1000", "secret", "admin"]
    guesses += [f"guess{i}" for i in range(40)]
    assert "pw1000" not in guesses
    words.write_text("\n".join(guesses) + "\n")
    run = run_tool(
        [sipvicious("svcrack"), "-u1000", "-d", str(words), "-p", str(pbx.sip_port), "127.0.0.1"],
        timeout=90,
        log=tmp_path / "svcrack.log",
    )
    cracked = [row for row in TABLE_ROW.findall(run.output) if row[0] == "1000"]
    assert cracked == [], f"svcrack reports a password:\n{run.output}"
    assert "pw1000" not in run.output

    banned = settle(pbx.banned_ips, lambda ips: "127.0.0.1" in ips)
    assert "127.0.0.1" in banned, f"no ban after {len(guesses)} wrong passwords: {pbx.bans()}\n{run.output}"

    # the ban can be lifted, and then the PBX answers that address again
    status, body = pbx.request("DELETE", "/api/bans/127.0.0.1")
    assert status in (200, 204), (status, body)
    assert "127.0.0.1" not in pbx.banned_ips()
    assert options_status(pbx) == 200


def options_status(pbx: Pbx, timeout: float = 3.0) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        s.sendto(options_request(pbx.sip_addr, s.getsockname(), "wire-options"), pbx.sip_addr)
        try:
            return status_of(s.recv(65535))
        except TimeoutError:
            return None


def test_svmap_shows_no_version(pbx: Pbx, tmp_path: Path) -> None:
    run = run_tool(
        [sipvicious("svmap"), "-p", str(pbx.sip_port), "127.0.0.1"], timeout=60, log=tmp_path / "svmap.log"
    )
    rows = [row for row in TABLE_ROW.findall(run.output) if row[0].startswith("127.0.0.1:")]
    assert rows, f"svmap did not find the PBX:\n{run.output}"
    user_agent = rows[0][1]
    assert not re.search(r"\d+\.\d+", user_agent), f"svmap sees a version: {user_agent!r}"

    # and the headers themselves (svmap shows one of them)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        s.sendto(options_request(pbx.sip_addr, s.getsockname(), "svmap-check"), pbx.sip_addr)
        answer = s.recv(65535)
    for value in header_values(answer, "Server", "User-Agent"):
        assert not re.search(r"\d+\.\d+", value), f"version string in {value!r}"
