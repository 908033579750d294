"""Composition root: Config -> cores + transports + store + HTTP API; start, reload, drain.

Everything runs on one asyncio loop (uvloop when installed): SIP over UDP and TCP, the one core
timer, and the FastAPI app under uvicorn. SIGTERM stops accepting, flushes the store and exits 0;
SIGHUP reloads the config (a bad new config is logged and the old one kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator
from pathlib import Path

import uvicorn

from pbx import log
from pbx.api.app import create_app
from pbx.api.schemas import Ban, Registration, UserPresence
from pbx.clock import SystemClock
from pbx.config import Config, ConfigError, load_config
from pbx.core import PbxCore
from pbx.metrics import PbxCollector, make_registry, render
from pbx.runtime import AllowList, Driver
from pbx.store.sqlite import Store
from pbx.transport.tcp import TcpTransport
from pbx.transport.udp import UdpTransport

logger = log.get("pbx.app")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Daemon:
    def __init__(self, config_dir: Path, data_dir: Path) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.config: Config = load_config(config_dir)
        log.setup(self.config.logging.level)
        self.clock = SystemClock()
        self.store = Store(data_dir / "pbx.sqlite3", self.config.node.id)
        self.core = PbxCore(self.config, self.clock.now(), self.clock.wall())
        self.driver = Driver(
            self.core, self.clock, self.store, AllowList(self.config.sip.allowed_destinations)
        )
        records = self.store.load("binding")
        self.driver.execute(self.core.restore_bindings(records, self.clock.now(), self.clock.wall()))
        logger.info("bindings_restored", stored=len(records), live=len(self.core.registrar.bindings))
        self.transports: list[UdpTransport | TcpTransport] = []
        self.collector = PbxCollector(self.core.stats, self._gauges, self._counters)
        self.registry = make_registry(self.collector)
        self.token = self.config.api.token
        self._ready = False
        self._stop = asyncio.Event()

    # --- Backend for the API ---
    def ready(self) -> bool:
        return self._ready

    def registrations(self, user: str | None = None) -> list[Registration]:
        now = self.clock.now()
        return [
            Registration(
                user=b.aor,
                aor=b.aor,
                contact=b.contact,
                expires_in=max(0, int(b.expires_at - now)),
                source=str(b.source),
                user_agent=b.user_agent,
                instance=b.instance,
                reachable=b.reachable,
                registered_at=b.registered_at_wall,
                node_id=self.config.node.id,
            )
            for b in self.core.registrar.bindings.all(now)
            if user is None or b.aor == user
        ]

    def users(self) -> list[UserPresence]:
        return [
            UserPresence(extension=u.extension, name=u.name, present=n > 0, devices=devs, contacts=n)
            for u, devs, n in self.core.presence(self.clock.now())
        ]

    def user(self, extension: str) -> UserPresence | None:
        return next((u for u in self.users() if u.extension == extension), None)

    def bans(self) -> list[Ban]:
        now, wall = self.clock.now(), self.clock.wall()
        return [
            Ban(
                ip=b.ip,
                reason=b.reason.name.lower(),
                since=wall - (now - b.since),
                expires_in=max(0, int(b.until - now)),
            )
            for b in self.core.guard.bans(now)
        ]

    def lift_ban(self, ip: str) -> bool:
        return self.core.lift_ban(ip)

    def metrics(self) -> bytes:
        return render(self.registry)

    def _gauges(self) -> dict[str, float]:
        return self.core.gauges(self.clock.now())

    def _counters(self) -> dict[str, float]:
        return self.core.counters()

    # --- lifecycle ---
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for listen in self.config.sip.listen:
            t: UdpTransport | TcpTransport
            if listen.transport == "udp":
                t = UdpTransport(listen.host, listen.port, self.driver.feed)
            else:
                t = TcpTransport(listen.host, listen.port, self.driver.feed)
            await t.start()
            self.transports.append(t)
            self.driver.add_transport(listen.transport, t)
            logger.info("sip_listening", transport=listen.transport, host=listen.host, port=t.port)
        self.core.set_local(
            [
                (listen.transport, listen.host, t.port)
                for listen, t in zip(self.config.sip.listen, self.transports, strict=True)
            ]
        )
        app = create_app(self)
        server = _QuietServer(
            uvicorn.Config(
                app,
                host=self.config.api.host,
                port=self.config.api.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        api_task = loop.create_task(server.serve())
        self.driver.rearm()
        self._ready = True
        logger.info("pbx_started", node=self.config.node.id, api_port=self.config.api.port)
        stop_task = loop.create_task(self._stop.wait())
        done, _ = await asyncio.wait({api_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if api_task in done and api_task.exception() is not None:
            logger.error("api_failed", error=str(api_task.exception()))
        await self.shutdown(server, api_task)

    def reload(self) -> None:
        try:
            new = load_config(self.config_dir)
        except ConfigError as e:
            logger.error("reload_failed", problems=str(e).splitlines())
            return
        self.config = new
        self.token = new.api.token
        self.driver.allow = AllowList(new.sip.allowed_destinations)
        self.driver.command(lambda now, wall: self.core.apply_config(new, now, wall))
        logger.info("config_reloaded")

    async def shutdown(self, server: uvicorn.Server, api_task: asyncio.Task[None]) -> None:
        self._ready = False
        logger.info("pbx_stopping")
        for t in self.transports:
            t.close()
        self.driver.stop()
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(api_task, 5.0)
        self.store.close()
        logger.info("pbx_stopped")


def run(config_dir: Path, data_dir: Path) -> None:
    daemon = Daemon(config_dir, data_dir)
    try:
        import uvloop
    except ImportError:
        asyncio.run(daemon.run())
    else:
        uvloop.run(daemon.run())
