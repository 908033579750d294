"""SQLite persistence across a restart, and the HTTP API in-process (no sockets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sipclient import do_register

from pbx.app import Daemon
from pbx.clock import FakeClock
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.runtime import AllowList, Driver
from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.store.sqlite import Store

ROOT = Path(__file__).parents[2]


def _register_201(core: PbxCore, driver: Driver, clock: FakeClock) -> None:
    effects = do_register(core, clock, "201", "secret201", expires=600)
    driver.execute(effects)


def test_bindings_survive_restart(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config")
    clock = FakeClock()
    store = Store(tmp_path / "pbx.sqlite3", cfg.node.id)
    core = PbxCore(cfg, clock.now(), clock.wall())
    driver = Driver(core, clock, store, AllowList(cfg.sip.allowed_destinations))
    _register_201(core, driver, clock)
    store.close()  # a crash would lose nothing more: every step commits

    # a new process: the monotonic clock starts elsewhere, wall time went on 100 s
    clock2 = FakeClock(start=50.0, wall_offset=clock.wall() + 100 - 50.0)
    store2 = Store(tmp_path / "pbx.sqlite3", cfg.node.id)
    rows = store2.load("binding")
    assert len(rows) == 1
    core2 = PbxCore(cfg, clock2.now(), clock2.wall())
    driver2 = Driver(core2, clock2, store2, AllowList(cfg.sip.allowed_destinations))
    driver2.execute(core2.restore_bindings(rows, clock2.now(), clock2.wall()))
    [b] = core2.registrar.bindings.lookup("201", clock2.now())
    assert b.remaining(clock2.now()) == pytest.approx(500, abs=1)
    # and every stored row says which node owns it
    assert store2.db.execute("SELECT DISTINCT node_id FROM state").fetchall() == [("node1",)]


def test_expired_while_down_is_deleted(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config")
    clock = FakeClock()
    store = Store(tmp_path / "pbx.sqlite3", cfg.node.id)
    core = PbxCore(cfg, clock.now(), clock.wall())
    _register_201(core, Driver(core, clock, store, AllowList(cfg.sip.allowed_destinations)), clock)
    clock2 = FakeClock(start=5.0, wall_offset=clock.wall() + 700 - 5.0)
    core2 = PbxCore(cfg, clock2.now(), clock2.wall())
    driver2 = Driver(core2, clock2, store, AllowList(cfg.sip.allowed_destinations))
    driver2.execute(core2.restore_bindings(store.load("binding"), clock2.now(), clock2.wall()))
    assert core2.registrar.bindings.lookup("201", clock2.now()) == []
    assert store.load("binding") == []


def test_allow_list_refuses_and_counts() -> None:
    cfg = load_config(ROOT / "config")
    clock = FakeClock()
    core = PbxCore(cfg, clock.now(), clock.wall())
    sent: list[tuple[bytes, Addr]] = []

    class Fake:
        family_v6 = False

        def send(self, data: bytes, dest: Addr) -> None:
            sent.append((data, dest))

    driver = Driver(core, clock, None, AllowList(cfg.sip.allowed_destinations))
    driver.add_transport("udp", Fake())
    driver.execute([Send(b"x", Addr("udp", "192.0.2.1", 5060)), Send(b"y", Addr("udp", "127.0.0.1", 5060))])
    driver.execute(
        [Send(b"z", Addr("udp", "255.255.255.255", 5060)), Send(b"w", Addr("udp", "evil.example", 5))]
    )
    assert sent == [(b"y", Addr("udp", "127.0.0.1", 5060))]
    assert core.stats.destinations_refused == 3


def test_api(tmp_path: Path) -> None:
    daemon = Daemon(ROOT / "config", tmp_path)
    from pbx.api.app import create_app

    app = create_app(daemon)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/healthz")).status_code == 503  # not started yet
            daemon._ready = True
            assert (await c.get("/healthz")).json() == {"status": "ok"}
            assert (await c.get("/api/users")).status_code == 401
            h = {"Authorization": "Bearer demo-token-change-me"}
            assert (await c.get("/api/users", headers={"Authorization": "Bearer wrong"})).status_code == 401
            users = (await c.get("/api/users", headers=h)).json()
            assert [u["extension"] for u in users] == ["201", "202", "203", "204", "205"]
            assert not any(u["present"] for u in users)
            assert (await c.get("/api/users/999", headers=h)).status_code == 404
            assert (await c.get("/api/registrations", headers=h)).json() == []
            daemon.core.guard.ban("127.0.0.7", daemon.clock.now())
            bans = (await c.get("/api/bans", headers=h)).json()
            assert [b["ip"] for b in bans] == ["127.0.0.7"]
            assert (await c.delete("/api/bans/127.0.0.7", headers=h)).status_code == 204
            r = await c.delete("/api/bans/127.0.0.7", headers=h)
            assert r.status_code == 404 and "not banned" in r.json()["detail"]
            metrics = (await c.get("/metrics")).text
            assert "pbx_registrations 0.0" in metrics and "process_resident_memory_bytes" in metrics
            assert "pbx_bans_total 1.0" in metrics
            spec = (await c.get("/openapi.json")).json()
            assert "/api/registrations" in spec["paths"]

    asyncio.run(go())
    daemon.store.close()
