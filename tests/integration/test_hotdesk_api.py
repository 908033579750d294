"""Hotdesk over the HTTP API with the real Daemon: sessions, admin login/logout, restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_history_api import ROOT, DaemonNet

from pbx.app import Daemon

H = {"Authorization": "Bearer demo-token-change-me"}


@pytest.fixture
def dnet(tmp_path: Path) -> Iterator[DaemonNet]:
    n = DaemonNet(Daemon(ROOT / "config", tmp_path))
    yield n
    n.close()


def call(net: DaemonNet, method: str, url: str, body: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=net.app), base_url="http://t") as c:
            return await c.request(method, url, json=body, headers=H)

    return asyncio.run(go())


def sessions(net: DaemonNet) -> list[tuple[str, str]]:
    r = call(net, "GET", "/api/hotdesk")
    assert r.status_code == 200, r.text
    return [(s["user"], s["device"]) for s in r.json()["sessions"]]


def test_admin_login_moves_the_user_and_logout_ends_it(dnet: DaemonNet) -> None:
    assert sessions(dnet) == []
    r = call(dnet, "POST", "/api/hotdesk/login", {"user": "203", "device": "201"})
    assert r.status_code == 201, r.text
    assert sessions(dnet) == [("203", "201")]
    call(dnet, "POST", "/api/hotdesk/login", {"user": "203", "device": "202"})
    assert sessions(dnet) == [("203", "202")]  # one device per user
    assert dnet.daemon.core.hotdesk.user_on("201") == "201"
    assert call(dnet, "DELETE", "/api/hotdesk/203").status_code == 204
    assert sessions(dnet) == []
    r = call(dnet, "DELETE", "/api/hotdesk/203")
    assert r.status_code == 404 and "not hotdesk-logged-in" in r.text


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"user": "299", "device": "201"}, 404, "unknown_user"),
        ({"user": "203", "device": "nope"}, 403, "refused_device"),
        ({"user": "203"}, 422, "device"),
        ({"user": "203", "device": "201", "pin": "1"}, 422, "extra"),
    ],
    ids=["unknown user", "unknown device", "missing device", "unknown key"],
)
def test_admin_login_refusals(dnet: DaemonNet, body: dict[str, Any], status: int, reason: str) -> None:
    r = call(dnet, "POST", "/api/hotdesk/login", body)
    assert r.status_code == status and reason in r.text, r.text


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    first = DaemonNet(Daemon(ROOT / "config", tmp_path))
    try:
        assert call(first, "POST", "/api/hotdesk/login", {"user": "204", "device": "205"}).status_code == 201
    finally:
        first.close()
    second = DaemonNet(Daemon(ROOT / "config", tmp_path))
    try:
        assert sessions(second) == [("204", "205")]
        assert second.daemon.core.hotdesk.user_on("205") == "204"
    finally:
        second.close()


def test_metrics_show_hotdesk(dnet: DaemonNet) -> None:
    call(dnet, "POST", "/api/hotdesk/login", {"user": "203", "device": "201"})
    text = call(dnet, "GET", "/metrics").text
    assert "pbx_hotdesk_sessions 1.0" in text and "pbx_hotdesk_logins_total 1.0" in text
