"""A disposition set from the API or by the agent's phone (*48*<code>) shows in the agent's row of
that call in GET /api/history (issue 7): after the call ended, and while it is still up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_acd_api import call
from test_call_flows import SDP_A, SDP_B, Phone
from test_history_api import ROOT, DaemonNet, phones

from pbx.app import Daemon


@pytest.fixture
def dnet(tmp_path: Path) -> Iterator[DaemonNet]:
    n = DaemonNet(Daemon(ROOT / "config", tmp_path))
    yield n
    n.close()


def queue_call(dnet: DaemonNet, caller: Phone, agent: Phone, hang_up: bool = True) -> object:
    assert call(dnet, "POST", "/api/agents/202/login", {"queue": "Algemeen"}).status_code == 200
    inv = caller.dial("300")
    d = caller.ack(inv, caller.take_resp(200))
    offer = agent.take_req("INVITE")
    agent.reply(offer, 200, SDP_B)
    caller.reply(caller.take_req("INVITE"), 200, SDP_A)
    agent.take_req("ACK")
    if hang_up:
        caller.request(d, "BYE")
        agent.reply(agent.take_req("BYE"), 200)
    dnet.advance(1)
    return d


def rows(dnet: DaemonNet, user: str) -> list[dict[str, object]]:
    r = call(dnet, "GET", f"/api/history?user={user}")
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def test_api_disposition_after_the_call_goes_into_the_agents_row(dnet: DaemonNet) -> None:
    caller, agent = phones(dnet)
    queue_call(dnet, caller, agent)
    assert rows(dnet, "202")[0]["disposition"] is None
    r = call(dnet, "POST", "/api/agents/202/disposition", {"code": "2"})
    assert r.status_code == 200, r.text
    (row,) = rows(dnet, "202")
    assert row["disposition"] == "2" and row["queue_wait"] is not None
    assert [x["disposition"] for x in rows(dnet, "201")] == [None]  # the caller's row is theirs
    assert call(dnet, "POST", "/api/agents/202/disposition", {"code": "77"}).status_code == 409
    assert rows(dnet, "202")[0]["disposition"] == "2"  # an unknown code changes nothing


def test_api_disposition_during_the_call_is_in_the_row_when_it_ends(dnet: DaemonNet) -> None:
    caller, agent = phones(dnet)
    d = queue_call(dnet, caller, agent, hang_up=False)
    assert call(dnet, "POST", "/api/agents/202/disposition", {"code": "3"}).status_code == 200
    assert rows(dnet, "202") == []  # no row before the end
    caller.request(d, "BYE")  # type: ignore[arg-type]
    agent.reply(agent.take_req("BYE"), 200)
    dnet.advance(1)
    assert rows(dnet, "202")[0]["disposition"] == "3"


def test_star48_from_the_phone_during_wrapup(dnet: DaemonNet) -> None:
    caller, agent = phones(dnet)
    queue_call(dnet, caller, agent)
    agent.inbox.clear()
    inv = agent.dial("*48*1")  # the engine's SetDisposition -> Disposition -> the recorder
    agent.ack(inv, agent.take_resp(200))
    assert rows(dnet, "202")[0]["disposition"] == "1"
