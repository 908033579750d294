"""Operations on the wire: SIGHUP reload (good and bad config) and SIP over IPv6 (::1)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from harness import Pbx, free_port, sipp, wait_until, write_users_csv


def register(
    pbx: Pbx, user: str, workdir: Path, target: tuple[str, int], local_ip: str = "127.0.0.1"
) -> None:
    res = sipp(
        "register_auth", target, inf=write_users_csv(workdir / f"u{user}.csv", [user]), calls=1, rate=10,
        workdir=workdir, local_ip=local_ip, local_port=free_port(local_ip), timeout=20, name=f"reg-{user}",
    )  # fmt: skip
    assert res.clean and res.successful == 1, res.explain() + "\n--- PBX log:\n" + pbx.log()


def test_sighup_reload_adds_a_user_keeps_bindings_and_survives_a_bad_file(tmp_path: Path) -> None:
    pbx = Pbx(tmp_path / "pbx", users=3).start()
    try:
        register(pbx, "1000", tmp_path, pbx.sip_addr)
        assert pbx.request("GET", "/api/users/1099")[0] == 404
        users, devices = pbx.config_dir / "users.yaml", pbx.config_dir / "devices.yaml"
        with users.open("a") as f:
            f.write('  - {extension: "1099", name: "New Colleague", pin: "1099"}\n')
        with devices.open("a") as f:
            f.write('  - {username: "1099", password: "pw1099"}\n')
        os.kill(pbx.pid, signal.SIGHUP)
        pbx.wait_for(lambda: pbx.request("GET", "/api/users/1099")[0] == 200 or None, "the reload")
        assert "1000" in pbx.registered_users()  # bindings survive a reload
        register(pbx, "1099", tmp_path, pbx.sip_addr)  # the new device can register at once

        good = users.read_text()
        users.write_text(good + "  - {extension: 1099x}\n")  # broken: the old config stays
        os.kill(pbx.pid, signal.SIGHUP)
        wait_until(lambda: "reload_failed" in pbx.log_file.read_text(errors="replace"), 10, "reload_failed")
        assert pbx.running()
        assert pbx.request("GET", "/api/users/1099")[0] == 200
        assert {"1000", "1099"} <= pbx.registered_users()
        assert "users.yaml" in pbx.log(20)  # the log names the file (and line) at fault
    finally:
        pbx.stop()


def test_register_over_ipv6(tmp_path: Path) -> None:
    if not Path("/proc/net/if_inet6").exists():
        pytest.skip("no IPv6 in this kernel")
    pbx = Pbx(tmp_path / "pbx", users=2)
    cfg = pbx.config_dir / "pbx.yaml"
    text = cfg.read_text()
    udp = f'    - {{transport: udp, host: "127.0.0.1", port: {pbx.sip_port}}}\n'
    assert udp in text
    v6_port = free_port("::1")
    cfg.write_text(text.replace(udp, udp + f'    - {{transport: udp, host: "::1", port: {v6_port}}}\n'))
    pbx.start()
    try:
        register(pbx, "1001", tmp_path, ("[::1]", v6_port), local_ip="::1")
        regs = [r for r in pbx.registrations() if r.get("user") == "1001"]
        assert regs and "::1" in str(regs[0].get("source")) and "[::1]" in str(regs[0].get("contact")), regs
    finally:
        pbx.stop()


def test_live_events_stream_reports_a_hotdesk_login(tmp_path: Path) -> None:
    import http.client
    import json as _json

    pbx = Pbx(tmp_path / "pbx", users=3).start()
    conn = http.client.HTTPConnection("127.0.0.1", pbx.http_port, timeout=10)
    try:
        conn.request("GET", "/api/events?types=hotdesk", headers={"Authorization": f"Bearer {pbx.token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("content-type", "").startswith("text/event-stream")
        assert resp.readline() == b": connected\n"
        status, body = pbx.request("POST", "/api/hotdesk/login", body={"user": "1002", "device": "1000"})
        assert status == 201, body
        lines = [resp.readline() for _ in range(3)]  # event, data, blank
        assert lines[0] == b"\n" or lines[0].startswith(b"event:")
        text = b"".join(lines).decode()
        data = next(ln for ln in text.splitlines() if ln.startswith("data: "))
        event = _json.loads(data[6:])
        assert (event["type"], event["user"], event["device"]) == ("hotdesk.login", "1002", "1000")
    finally:
        conn.close()
        pbx.stop()
