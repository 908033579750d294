"""The contact-center API with the real Daemon: queues, agents, login/logout, status, why-not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_history_api import ROOT, DaemonNet, phones

from pbx.app import Daemon

H = {"Authorization": "Bearer demo-token-change-me"}


@pytest.fixture
def dnet(tmp_path: Path) -> Iterator[DaemonNet]:
    n = DaemonNet(Daemon(ROOT / "config", tmp_path))
    yield n
    n.close()


def call(
    net: DaemonNet, method: str, url: str, body: Any = None, headers: dict[str, str] = H
) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=net.app), base_url="http://t") as c:
            return await c.request(method, url, json=body, headers=headers)

    return asyncio.run(go())


def agent(net: DaemonNet, ext: str) -> dict[str, Any]:
    r = call(net, "GET", f"/api/agents/{ext}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_queues_and_agents_are_listed(dnet: DaemonNet) -> None:
    qs = call(dnet, "GET", "/api/queues").json()
    assert {q["name"] for q in qs} == {"Algemeen", "Urgent", "Intercollegiaal"}
    assert all(q["logged_in"] == 0 and q["waiting"] == 0 for q in qs)
    names = {a["ext"] for a in call(dnet, "GET", "/api/agents").json()}
    assert {"201", "202", "203", "204", "205"} <= names
    assert call(dnet, "GET", "/api/queues/Algemeen/waiting").json() == []
    assert call(dnet, "GET", "/api/queues/nope/waiting").status_code == 404


def test_login_status_why_not_and_logout(dnet: DaemonNet) -> None:
    phones(dnet)  # 201 and 202 registered: reachable
    assert call(dnet, "GET", "/api/agents/202/why-not").json()["why"] == "not logged in to any queue"
    r = call(dnet, "POST", "/api/agents/202/login", {"queue": "Algemeen"})
    assert r.status_code == 200, r.text
    a = agent(dnet, "202")
    assert a["queues"] == ["Algemeen"] and a["reachable"] and a["status"] == "available"
    r = call(dnet, "PUT", "/api/agents/202/status", {"status": "paused", "reason": None})
    assert r.status_code == 200, r.text
    assert agent(dnet, "202")["status"] == "paused"
    assert call(dnet, "GET", "/api/agents/202/why-not").json()["why"].startswith("paused")
    assert call(dnet, "POST", "/api/agents/202/logout", {}).status_code == 200
    assert agent(dnet, "202")["queues"] == []
    stats = {q["name"]: q for q in call(dnet, "GET", "/api/queues").json()}
    assert stats["Algemeen"]["logged_in"] == 0


def test_unregistered_agent_is_unreachable(dnet: DaemonNet) -> None:
    call(dnet, "POST", "/api/agents/204/login", {})
    a = agent(dnet, "204")
    assert not a["reachable"] and a["status"] == "unreachable"
    assert call(dnet, "GET", "/api/agents/204/why-not").json()["why"] == "phone not registered"


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/api/agents/299", None, 404),
        ("POST", "/api/agents/299/login", {}, 404),
        ("POST", "/api/agents/202/login", {"queue": "Algemeen", "x": 1}, 422),
        ("PUT", "/api/agents/202/status", {"status": "sleeping"}, 422),
        ("POST", "/api/agents/202/login", {"queue": "Nope"}, 409),
    ],
    ids=["unknown agent", "unknown agent login", "unknown key", "bad status", "not a queue"],
)
def test_bad_requests(dnet: DaemonNet, method: str, url: str, body: Any, status: int) -> None:
    r = call(dnet, method, url, body)
    assert r.status_code == status, r.text
    assert r.json().get("detail")


def test_needs_the_token(dnet: DaemonNet) -> None:
    assert call(dnet, "GET", "/api/queues", headers={}).status_code == 401


def test_queue_metrics(dnet: DaemonNet) -> None:
    phones(dnet)
    call(dnet, "POST", "/api/agents/202/login", {"queue": "Algemeen"})
    text = call(dnet, "GET", "/metrics").text
    assert 'pbx_queue_waiting{queue="Algemeen"} 0.0' in text
    assert 'pbx_queue_agents_logged_in{queue="Algemeen"} 1.0' in text
    assert 'pbx_queue_agents{queue="Algemeen",status="available"} 1.0' in text
    assert 'pbx_queue_answered_total{queue="Urgent"} 0.0' in text


def test_console_logout_with_and_without_the_phone(dnet: DaemonNet) -> None:
    phones(dnet)
    call(dnet, "POST", "/api/hotdesk/login", {"user": "203", "device": "201"})
    call(dnet, "POST", "/api/agents/203/login", {})
    r = call(dnet, "DELETE", "/api/agents/203/session")
    assert r.status_code == 200 and r.json() == {"queues": "logged_out"}
    assert agent(dnet, "203")["queues"] == []
    assert dnet.daemon.core.hotdesk.user_on("201") == "203"  # the phone stays
    call(dnet, "POST", "/api/agents/203/login", {})
    r = call(dnet, "DELETE", "/api/agents/203/session?phone=true")
    assert r.json() == {"queues": "logged_out", "phone": "logged_out"}
    assert dnet.daemon.core.hotdesk.user_on("201") == "201"


def test_callbacks_schedule_update_search_cancel_and_restart(tmp_path: Path) -> None:
    first = DaemonNet(Daemon(ROOT / "config", tmp_path))
    try:
        r = call(first, "POST", "/api/callbacks", {"number": "0612345678", "queue": "Algemeen", "at": 4e9})
        assert r.status_code == 201, r.text
        cb = r.json()
        assert cb["state"] == "open" and cb["attempts"] == 0
        again = call(first, "POST", "/api/callbacks", {"number": "0612345678", "queue": "Urgent", "at": 4e9})
        assert again.json()["id"] == cb["id"] and again.json()["queue"] == "Urgent"  # one per number
        assert [c["id"] for c in call(first, "GET", "/api/callbacks?number=12345").json()] == [cb["id"]]
        assert call(first, "GET", "/api/callbacks?number=999").json() == []
        assert call(first, "POST", "/api/callbacks", {"number": "06", "queue": "Nope"}).status_code == 422
        assert call(first, "POST", "/api/callbacks", {"number": "abc", "queue": "Urgent"}).status_code == 422
    finally:
        first.close()
    second = DaemonNet(Daemon(ROOT / "config", tmp_path))
    try:
        rows = call(second, "GET", "/api/callbacks").json()
        assert [(c["id"], c["state"], c["queue"]) for c in rows] == [(cb["id"], "open", "Urgent")]
        assert call(second, "DELETE", f"/api/callbacks/{cb['id']}").json()["state"] == "cancelled"
        assert call(second, "DELETE", f"/api/callbacks/{cb['id']}").status_code == 404
        assert call(second, "POST", f"/api/callbacks/{cb['id']}/retry").status_code == 409
        assert "pbx_callbacks_cancelled_total 1.0" in call(second, "GET", "/metrics").text
    finally:
        second.close()


def test_supervisor_moves_a_waiting_caller_keeping_the_place_and_withdraws_to_a_callback(
    dnet: DaemonNet,
) -> None:
    caller, _agent = phones(dnet)
    inv = caller.dial("300")  # nobody logged in: the caller waits in Algemeen
    caller.ack(inv, caller.take_resp(200))
    [w] = call(dnet, "GET", "/api/queues/Algemeen/waiting").json()
    r = call(dnet, "POST", f"/api/queues/Algemeen/waiting/{w['call_id']}/move", {"queue": "Intercollegiaal"})
    assert r.status_code == 200, r.text
    assert call(dnet, "GET", "/api/queues/Algemeen/waiting").json() == []
    [moved] = call(dnet, "GET", "/api/queues/Intercollegiaal/waiting").json()
    assert moved["call_id"] == w["call_id"] and moved["caller_number"] == "201"
    r = call(dnet, "POST", f"/api/queues/Intercollegiaal/waiting/{w['call_id']}/move", {"priority": 5})
    assert r.status_code == 200
    assert call(dnet, "POST", "/api/queues/x/waiting/nope/move", {"queue": "Urgent"}).status_code == 404
    assert call(dnet, "POST", "/api/queues/x/waiting/nope/move", {}).status_code == 422
    r = call(dnet, "POST", f"/api/queues/Intercollegiaal/waiting/{w['call_id']}/callback")
    assert r.status_code == 200, r.text
    [cb] = call(dnet, "GET", "/api/callbacks").json()
    assert (cb["number"], cb["queue"], cb["state"]) == ("201", "Intercollegiaal", "open")
    assert call(dnet, "GET", "/api/queues/Intercollegiaal/waiting").json()[0]["call_id"] == cb["id"]


def test_queue_call_history_has_the_time_in_queue(dnet: DaemonNet) -> None:
    from test_call_flows import SDP_A, SDP_B

    caller, agent = phones(dnet)
    inv = caller.dial("300")
    d = caller.ack(inv, caller.take_resp(200))
    dnet.advance(12)  # waits 12 s: nobody is logged in yet
    assert call(dnet, "POST", "/api/agents/202/login", {"queue": "Algemeen"}).status_code == 200
    offer = agent.take_req("INVITE")
    agent.reply(offer, 200, SDP_B)
    reinv = caller.take_req("INVITE")
    caller.reply(reinv, 200, SDP_A)
    agent.take_req("ACK")
    caller.request(d, "BYE")
    agent.reply(agent.take_req("BYE"), 200)
    dnet.advance(1)
    rows = call(dnet, "GET", "/api/history?user=202").json()["items"]
    assert rows and rows[0]["direction"] == "in" and rows[0]["other_number"] == "201"
    assert rows[0]["queue_wait"] is not None and 11.5 <= rows[0]["queue_wait"] <= 13
