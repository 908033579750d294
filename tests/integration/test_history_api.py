"""History, live calls and dialplan explain over the HTTP API, in-process, with the real Daemon.

Phones are the fake phones of the call tests; their bytes go through the daemon's Driver (so
history is written by the same code path as in production) and come back through a fake
transport. Time is a FakeClock; the driver's timer is never armed on a running loop, `advance`
fires due deadlines itself.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "calls"))
from test_call_flows import SDP_B, Msg, Phone

from pbx.api.app import create_app
from pbx.app import Daemon
from pbx.clock import FakeClock
from pbx.sip.addr import Addr
from pbx.sip.parser import parse

ROOT = Path(__file__).parents[2]
H = {"Authorization": "Bearer demo-token-change-me"}


class DaemonNet:
    """The `Net` of the call tests over a Daemon: phones feed the Driver, Sends come back here."""

    family_v6 = False

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.clock = FakeClock()
        daemon.clock = daemon.driver.clock = self.clock  # type: ignore[assignment]
        daemon.core.set_local([("udp", "127.0.0.1", 5060)])
        self.loop = asyncio.new_event_loop()  # never run: only holds the driver's timer handle
        daemon.driver.loop = self.loop
        daemon.driver.add_transport("udp", self)
        self.phones: dict[Addr, Phone] = {}
        self.app = create_app(daemon)

    def send(self, data: bytes, dest: Addr) -> None:  # the Transport protocol
        phone = self.phones.get(dest)
        if phone is not None:
            phone.inbox.append(parse(data))

    def feed(self, phone: Phone, msg: Msg) -> None:
        self.daemon.driver.feed(msg.render(), phone.addr)

    def advance(self, dt: float) -> None:
        end = self.clock.now() + dt
        while (d := self.daemon.core.next_deadline()) is not None and d <= end:
            self.clock.set(max(d, self.clock.now()))
            self.daemon.driver.on_timer()
        self.clock.set(end)

    def api(self, method: str, url: str, headers: dict[str, str] | None = H) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, url, headers=headers)

        return asyncio.run(go())

    def close(self) -> None:
        self.daemon.driver.stop()
        self.loop.close()
        self.daemon.store.close()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[DaemonNet]:
    n = DaemonNet(Daemon(ROOT / "config", tmp_path))
    yield n
    n.close()


def phones(net: DaemonNet) -> tuple[Phone, Phone]:
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)  # type: ignore[arg-type]
    a.register()
    b.register()
    return a, b


def answered_call(net: DaemonNet, a: Phone, b: Phone, talk: float) -> None:
    inv = a.dial("202")
    binv = b.take_req("INVITE")
    net.advance(0.5)
    b.reply(binv, 180)
    net.advance(2.0)
    b.reply(binv, 200, SDP_B)
    a.ack(inv, a.take_resp(200))
    net.advance(talk)
    bye = b.request(b.dialog_as_callee(binv), "BYE")
    assert bye.method == "BYE"
    a.reply(a.take_req("BYE"), 200)
    a.clear()
    b.clear()


def missed_call(net: DaemonNet, a: Phone, b: Phone) -> None:
    a.dial("202")
    binv = b.take_req("INVITE")
    b.reply(binv, 180)
    net.advance(30.5)  # the ring timeout
    b.reply(b.take_req("CANCEL"), 200)
    b.reply(binv, 487)
    a.clear()
    b.clear()


def make_history(net: DaemonNet) -> None:
    a, b = phones(net)
    answered_call(net, a, b, talk=42.0)
    net.advance(60)
    missed_call(net, a, b)
    net.advance(60)
    a.dial("999")
    a.take_resp(404)


def items(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    page: list[dict[str, Any]] = r.json()["items"]
    return page


def test_history_newest_first_with_fields(net: DaemonNet) -> None:
    make_history(net)
    rows = items(net.api("GET", "/api/history?user=201"))
    assert [(r["direction"], r["other_number"], r["result"]) for r in rows] == [
        ("out", "999", "rejected:404"),
        ("out", "202", "no_answer"),
        ("out", "202", "answered"),
    ]
    talk = rows[2]
    assert talk["other_name"] == "Bram Jansen" and talk["device"] == "201"
    assert talk["duration"] == pytest.approx(42.0) and talk["answer"] - talk["start"] == pytest.approx(2.5)
    assert talk["queue_wait"] is None and talk["recorded"] is False and talk["did"] is None
    callee = items(net.api("GET", "/api/history?user=202"))
    assert [
        (r["direction"], r["other_number"], r["other_name"], r["result"], r["device"]) for r in callee
    ] == [
        ("in", "201", "Anna de Vries", "no_answer", None),
        ("in", "201", "Anna de Vries", "answered", "202"),
    ]
    assert net.api("GET", "/api/history?user=204").json() == {"user": "204", "items": [], "next": None}


def test_history_paging_by_cursor_and_offset(net: DaemonNet) -> None:
    make_history(net)
    everything = items(net.api("GET", "/api/history?user=201"))
    first = net.api("GET", "/api/history?user=201&limit=2").json()
    assert [r["id"] for r in first["items"]] == [r["id"] for r in everything[:2]]
    assert first["next"] is not None
    second = net.api("GET", f"/api/history?user=201&limit=2&before={first['next']}").json()
    assert [r["id"] for r in second["items"]] == [everything[2]["id"]] and second["next"] is None
    by_offset = items(net.api("GET", "/api/history?user=201&limit=1&offset=1"))
    assert [r["id"] for r in by_offset] == [everything[1]["id"]]
    # a page boundary stays put when newer calls arrive
    a, b = Phone(net, "201", 5071), Phone(net, "202", 5072)  # type: ignore[arg-type]
    net.phones[a.addr], net.phones[b.addr] = a, b
    net.advance(10)
    missed_call(net, a, b)
    again = net.api("GET", f"/api/history?user=201&limit=2&before={first['next']}").json()
    assert again["items"] == second["items"]


@pytest.mark.parametrize(
    "query, status, reason",
    [
        ("user=999", 404, "no user '999'"),
        ("", 422, "user"),
        ("user=", 422, "user"),
        ("user=201&limit=0", 422, "limit"),
        ("user=201&limit=501", 422, "limit"),
        ("user=201&limit=ten", 422, "limit"),
        ("user=201&offset=-1", 422, "offset"),
        ("user=201&before=not-a-cursor", 422, "before: not a cursor"),
        ("user=201&before=MTIzLjV8YQ&offset=2", 422, "either before or offset"),
    ],
)
def test_history_bad_requests(net: DaemonNet, query: str, status: int, reason: str) -> None:
    r = net.api("GET", f"/api/history?{query}")
    assert r.status_code == status
    assert reason in str(r.json()["detail"])


def test_history_needs_the_token(net: DaemonNet) -> None:
    assert net.api("GET", "/api/history?user=201", headers=None).status_code == 401
    assert net.api("GET", "/api/calls", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_history_survives_a_restart(tmp_path: Path) -> None:
    net = DaemonNet(Daemon(ROOT / "config", tmp_path))
    make_history(net)
    before = items(net.api("GET", "/api/history?user=201"))
    net.close()
    again = DaemonNet(Daemon(ROOT / "config", tmp_path))
    try:
        assert items(again.api("GET", "/api/history?user=201")) == before
        nodes = again.daemon.store.db.execute("SELECT DISTINCT node_id FROM history").fetchall()
        assert nodes == [("node1",)]
        indexes = again.daemon.store.db.execute("PRAGMA index_list(history)").fetchall()
        assert any(i[1] == "history_user_start" for i in indexes)
    finally:
        again.close()


def test_live_calls_and_hangup(net: DaemonNet) -> None:
    a, b = phones(net)
    assert net.api("GET", "/api/calls").json() == []
    inv = a.dial("202")
    binv = b.take_req("INVITE")
    b.reply(binv, 180)
    [ringing] = net.api("GET", "/api/calls").json()
    assert (ringing["caller"], ringing["callee"], ringing["state"]) == ("201", "202", "setup")
    assert [(leg["id"], leg["role"], leg["state"], leg["peer"]) for leg in ringing["legs"]] == [
        ("a", "uas", "early", "201"),
        ("b1", "uac", "early", "202"),
    ]
    net.advance(1.0)
    b.reply(binv, 200, SDP_B)
    a.ack(inv, a.take_resp(200))
    one = net.api("GET", f"/api/calls/{ringing['id']}").json()
    assert one["state"] == "answered" and one["answered"] is not None
    assert {leg["state"] for leg in one["legs"]} == {"confirmed"}
    metrics = net.api("GET", "/metrics").text
    assert "pbx_calls_active 1.0" in metrics

    r = net.api("DELETE", f"/api/calls/{ringing['id']}")
    assert r.status_code == 204
    a.reply(a.take_req("BYE"), 200)
    b.reply(b.take_req("BYE"), 200)
    assert net.api("GET", f"/api/calls/{ringing['id']}").status_code == 404
    r = net.api("DELETE", f"/api/calls/{ringing['id']}")
    assert r.status_code == 404 and "no live call" in r.json()["detail"]
    assert net.api("GET", "/api/calls").json() == []
    [row] = items(net.api("GET", "/api/history?user=202"))
    assert row["result"] == "answered" and row["device"] == "202"

    metrics = net.api("GET", "/metrics").text
    assert "pbx_calls_active 0.0" in metrics
    assert 'pbx_calls_total{result="answered"} 1.0' in metrics
    assert 'pbx_calls_total{result="busy"} 0.0' in metrics
    assert 'pbx_call_setup_seconds_count{stage="ringing"} 1.0' in metrics
    assert 'pbx_call_setup_seconds_bucket{le="1.0",stage="answer"} 1.0' in metrics
    assert 'pbx_call_setup_seconds_sum{stage="answer"} 1.0' in metrics


def test_dialplan_explain(net: DaemonNet) -> None:
    r = net.api("GET", "/api/dialplan/explain?from=203&dial=0031534800900&at=2026-11-22T18:05")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "203" and body["dialled"] == "0031534800900"
    assert body["action"]["type"] == "reject" and body["action"]["status"] == 403
    assert body["rule"]["name"] == "international, outside office hours"
    ok = net.api("GET", "/api/dialplan/explain?from=203&dial=202").json()  # at defaults to now
    assert ok["action"] == {"type": "ring_user", "extension": "202"}
    trunk = net.api("GET", "/api/dialplan/explain?dial=0534800900&context=from-trunk")
    assert trunk.status_code == 200 and trunk.json()["contexts"][0] == "from-trunk"


@pytest.mark.parametrize(
    "query, status, reason",
    [
        ("from=203", 422, "dial"),
        ("from=203&dial=", 422, "dial"),
        ("from=999&dial=202", 422, "from: no user or device '999'"),
        ("from=203&dial=202&at=yesterday", 422, "at: 'yesterday' is not a time"),
        ("from=203&dial=202&context=nowhere", 422, "context: no dialplan context 'nowhere'"),
    ],
)
def test_dialplan_explain_bad_requests(net: DaemonNet, query: str, status: int, reason: str) -> None:
    r = net.api("GET", f"/api/dialplan/explain?{query}")
    assert r.status_code == status
    assert reason in str(r.json()["detail"])


def test_dialplan_explain_without_dialplans(net: DaemonNet, tmp_path: Path) -> None:
    net.daemon.dialplan = None
    net.daemon.dialplan_dir = tmp_path / "no-such-dir"
    r = net.api("GET", "/api/dialplan/explain?from=203&dial=202")
    assert r.status_code == 404 and "no dialplans" in r.json()["detail"]


def test_openapi_describes_the_new_routes(net: DaemonNet) -> None:
    paths = net.api("GET", "/openapi.json").json()["paths"]
    assert {"/api/history", "/api/calls", "/api/calls/{call_id}", "/api/dialplan/explain"} <= set(paths)
    assert "delete" in paths["/api/calls/{call_id}"]


def test_store_pages_through_rows_with_the_same_start(tmp_path: Path) -> None:
    from pbx.history import HistoryRow, decode_cursor, encode_cursor
    from pbx.store.sqlite import Store

    store = Store(tmp_path / "pbx.sqlite3", "node7")
    t = 1_800_000_000.0
    for i, start in enumerate([t, t, t, t + 1, t - 1]):
        row = HistoryRow(f"c{i}-201-out", f"c{i}", "201", "out", "202", None, "201", start, None, start,
                         0.0, None, "busy", None, False)  # fmt: skip
        store.add_history(row)
    store.add_history(store.history("201", 1)[0])  # the same row again: still one row
    seen: list[str] = []
    cursor = None
    while page := store.history("201", 1, cursor):
        seen.append(page[0].id)
        cursor = decode_cursor(encode_cursor(page[0]))
    assert seen == ["c3-201-out", "c2-201-out", "c1-201-out", "c0-201-out", "c4-201-out"]
    assert [r.id for r in store.history("201", 2, offset=3)] == ["c0-201-out", "c4-201-out"]
    assert store.history("202", 10) == []
    assert store.db.execute("SELECT DISTINCT node_id FROM history").fetchall() == [("node7",)]
    store.close()


def test_a_failing_recorder_never_costs_the_step_its_messages() -> None:
    from pbx.config import load_config
    from pbx.core import PbxCore
    from pbx.history import ConfigDirectory, HistoryRecorder
    from pbx.runtime import AllowList, Driver
    from pbx.sip.effects import Send

    cfg = load_config(ROOT / "config")
    clock = FakeClock()
    core = PbxCore(cfg, clock.now(), clock.wall())
    sent: list[bytes] = []

    class Transport:
        family_v6 = False

        def send(self, data: bytes, dest: Addr) -> None:
            sent.append(data)

    class Broken(HistoryRecorder):
        def process(self, effects: Any) -> list[object]:
            raise RuntimeError("bug")

    driver = Driver(core, clock, None, AllowList(cfg.sip.allowed_destinations))
    driver.add_transport("udp", Transport())
    driver.history = Broken(ConfigDirectory(lambda: cfg))
    driver.execute([Send(b"x", Addr("udp", "127.0.0.1", 5070))])
    assert sent == [b"x"] and core.stats.handler_errors == 1
