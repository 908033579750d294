"""POST /api/calls (click-to-dial) through the real Daemon, its Driver and the HTTP app, in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_history_api import ROOT, DaemonNet, phones  # also puts tests/unit/calls on sys.path

from test_call_flows import SDP_A, SDP_B  # isort: skip

from pbx.app import Daemon

H = {"Authorization": "Bearer demo-token-change-me"}


@pytest.fixture
def dnet(tmp_path: Path) -> Iterator[DaemonNet]:
    n = DaemonNet(Daemon(ROOT / "config", tmp_path))
    yield n
    n.close()


def post(net: DaemonNet, body: Any, headers: dict[str, str] = H) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=net.app), base_url="http://t") as c:
            return await c.post("/api/calls", json=body, headers=headers)

    return asyncio.run(go())


def test_click_to_dial_rings_the_user_first_then_bridges(dnet: DaemonNet) -> None:
    a, b = phones(dnet)
    r = post(dnet, {"user": "201", "number": "202"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    inv_a = a.take_req("INVITE")
    assert b.count("INVITE") == 0
    live = dnet.api("GET", f"/api/calls/{cid}")
    assert live.status_code == 200 and live.json()["state"] == "setup"
    a.reply(inv_a, 200, SDP_A)
    a.take_req("ACK")
    inv_b = b.take_req("INVITE")
    b.reply(inv_b, 200, SDP_B)
    a.reply(a.take_req("INVITE"), 200, SDP_A)
    assert b.take_req("ACK").body == SDP_A
    assert dnet.api("GET", f"/api/calls/{cid}").json()["state"] == "answered"
    assert dnet.api("DELETE", f"/api/calls/{cid}").status_code == 204
    assert a.take_req("BYE") and b.take_req("BYE")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"user": "299", "number": "202"}, 404, "no user 299"),
        ({"user": "203", "number": "201"}, 409, "no registered phone"),
        ({"user": "201", "number": "299"}, 404, "299"),
        ({"user": "201", "number": "20x"}, 422, "pattern"),
        ({"user": "201"}, 422, "number"),
        ({"user": "201", "number": "202", "extra": 1}, 422, "extra"),
    ],
    ids=["unknown user", "user not registered", "no route", "bad number", "missing number", "unknown key"],
)
def test_click_to_dial_refusals(dnet: DaemonNet, body: dict[str, Any], status: int, reason: str) -> None:
    phones(dnet)
    r = post(dnet, body)
    assert r.status_code == status and reason in r.text, r.text


def test_click_to_dial_needs_the_token(dnet: DaemonNet) -> None:
    assert post(dnet, {"user": "201", "number": "202"}, headers={}).status_code == 401
