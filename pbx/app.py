"""Composition root: Config -> cores + transports + store + HTTP API; start, reload, drain.

Everything runs on one asyncio loop (uvloop when installed): SIP over UDP and TCP, the one core
timer, and the FastAPI app under uvicorn. SIGTERM stops accepting, flushes the store and exits 0;
SIGHUP reloads the config (a bad new config is logged and the old one kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from pbx import log
from pbx.acd import effects as acd_fx
from pbx.acd import views as acd_views
from pbx.acd.events import AcdInput
from pbx.acd_metrics import acd_metrics
from pbx.api.app import BadParameter, NoDialplan, create_app
from pbx.api.events import EventHub, to_event
from pbx.api.schemas import (
    Ban,
    CallLeg,
    HistoryEntry,
    HistoryPage,
    HotdeskLockout,
    HotdeskSession,
    HotdeskState,
    LiveCall,
    Registration,
    UserPresence,
)
from pbx.calls.manager import CallInfo
from pbx.clock import SystemClock
from pbx.config import Config, ConfigError, load_config
from pbx.core import PbxCore
from pbx.dialplan import Dialplan, default_dialplan_dir, load_dialplans, load_optional_dialplans
from pbx.dialplan.explain import explain, parse_at, render_json
from pbx.history import ConfigDirectory, HistoryRecorder, decode_cursor, encode_cursor
from pbx.hotdesk.records import RECORD_KIND as HOTDESK_KIND
from pbx.media.detect import make_detector
from pbx.media.effects import MediaClose, MediaEvent, MediaOpen, MediaPlay, MediaStopPlay, MediaUpdate
from pbx.media.source import load_source
from pbx.metrics import PbxCollector, make_registry, render
from pbx.runtime import AllowList, Driver, freeze_startup_objects
from pbx.sip.message import REASONS
from pbx.stats import CallStats
from pbx.store.sqlite import Store
from pbx.transport.rtp import MediaEngine
from pbx.transport.tcp import TcpTransport
from pbx.transport.udp import UdpTransport

logger = log.get("pbx.app")


MEDIA_EFFECTS = (MediaOpen, MediaUpdate, MediaPlay, MediaStopPlay, MediaClose)  # a tuple: cheap isinstance


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Daemon:
    def __init__(self, config_dir: Path, data_dir: Path, dialplan_dir: Path | None = None) -> None:
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.dialplan_dir = dialplan_dir if dialplan_dir is not None else default_dialplan_dir(config_dir)
        self.config: Config = load_config(config_dir)
        self.dialplan: Dialplan | None = load_optional_dialplans(self.dialplan_dir, self.config)
        log.setup(self.config.logging.level)
        self.clock = SystemClock()
        self.store = Store(data_dir / "pbx.sqlite3", self.config.node.id)
        self.core = PbxCore(self.config, self.clock.now(), self.clock.wall(), dialplan=self.dialplan)
        self.events = EventHub()
        allow = AllowList(self.config.sip.allowed_destinations)
        self.driver = Driver(self.core, self.clock, self.store, allow, on_effect=self._on_effect)
        self.media = MediaEngine(
            self.clock, allow, load_source(self.config.media.sounds, self.config.media.language),
            self._media_event, detector=make_detector,
        )  # fmt: skip
        self.call_stats = CallStats()
        self.driver.history = HistoryRecorder(ConfigDirectory(lambda: self.core.config), self.call_stats)
        records = self.store.load("binding")
        self.driver.execute(self.core.restore_bindings(records, self.clock.now(), self.clock.wall()))
        logger.info("bindings_restored", stored=len(records), live=len(self.core.registrar.bindings))
        sessions = self.store.load(HOTDESK_KIND)
        self.driver.execute(self.core.restore_hotdesk(sessions, self.clock.now(), self.clock.wall()))
        logger.info("hotdesk_restored", stored=len(sessions), live=len(self.core.hotdesk.sessions()))
        agents = self.store.load("acd_agent")
        self.driver.execute(self.core.restore_acd(agents, self.clock.now(), self.clock.wall()))
        logger.info("agents_restored", stored=len(agents))
        callbacks = self.store.load("callback")
        self.driver.execute(self.core.restore_callbacks(callbacks, self.clock.now(), self.clock.wall()))
        self.transports: list[UdpTransport | TcpTransport] = []
        self.collector = PbxCollector(
            self.core.stats,
            self._gauges,
            self._counters,
            self.call_stats,
            extra=lambda: acd_metrics(self.core.acd, self.clock.now()),
        )
        self.registry = make_registry(self.collector)
        self.token = self.config.api.token
        self._ready = False
        self._stop = asyncio.Event()

    # --- media: effects out to the RTP shell, its events back into the core ---
    def _on_effect(self, e: object) -> None:
        if isinstance(e, MEDIA_EFFECTS):
            self.media.execute(e)
            return
        if self.events.subscribers:
            event = to_event(e)
            if event is not None:
                self.events.publish(event)

    def _media_event(self, ev: MediaEvent) -> None:
        # Called from inside a media step (or a core step's effects): run it as its own step.
        asyncio.get_event_loop().call_soon(
            self.driver.command, lambda now, wall: self.core.on_media_event(ev, now, wall)
        )

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

    def history(self, user: str, limit: int, before: str | None, offset: int) -> HistoryPage | None:
        if self.core.config.user(user) is None:
            return None
        try:
            cursor = decode_cursor(before) if before is not None else None
        except ValueError as e:
            raise BadParameter(str(e)) from None
        rows = self.store.history(user, limit + 1, cursor, offset)  # one more: is there a next page?
        items = rows[:limit]
        more = len(rows) > limit
        return HistoryPage(
            user=user,
            items=[HistoryEntry.model_validate(r, from_attributes=True) for r in items],
            next=encode_cursor(items[-1]) if more and items else None,
        )

    def calls(self) -> list[LiveCall]:
        return [_live(c) for c in self.core.calls(self.clock.now())]

    def call(self, call_id: str) -> LiveCall | None:
        return next((c for c in self.calls() if c.id == call_id), None)

    def hangup(self, call_id: str) -> bool:
        found = False

        def step(now: float, wall: float) -> list[Any]:
            nonlocal found
            effects = self.core.hangup(call_id, now, wall)
            found = effects is not None
            return effects or []

        self.driver.command(step)
        return found

    def originate(self, user: str, number: str) -> tuple[str | None, int, str]:
        """(call id, 0, "") or (None, SIP status, reason)."""
        result: list[tuple[str | None, int, str]] = []

        def step(now: float, wall: float) -> list[Any]:
            res, effects = self.core.originate(user, number, now, wall)
            if isinstance(res, str):
                result.append((res, 0, ""))
            else:
                result.append((None, res.status, res.reason or REASONS.get(res.status, "")))
            return effects

        self.driver.command(step)
        return result[0]

    def hotdesk(self) -> HotdeskState:
        now = self.clock.now()
        snap = self.core.hotdesk.snapshot(now)
        return HotdeskState(
            sessions=[HotdeskSession(user=x.user, device=x.device, since=x.since) for x in snap.sessions],
            lockouts=[
                HotdeskLockout(kind=lk.kind.value, key=lk.key, expires_in=max(0, int(lk.until - now)))
                for lk in snap.lockouts
            ],
        )

    def hotdesk_login(self, user: str, device: str) -> str:
        return self._hotdesk_step(lambda now, wall: self.core.hotdesk_login(user, device, now, wall))

    def hotdesk_logout(self, user: str) -> str:
        return self._hotdesk_step(lambda now, wall: self.core.hotdesk_logout(user, now, wall))

    def _hotdesk_step(self, fn: Callable[[float, float], tuple[str, list[Any]]]) -> str:
        result: list[str] = []

        def step(now: float, wall: float) -> list[Any]:
            outcome, effects = fn(now, wall)
            result.append(outcome)
            return effects

        self.driver.command(step)
        return result[0]

    # --- the ACD (pbx/api/acd.py) ---
    def queue_stats(self) -> list[Any]:
        return acd_views.queue_stats(self.core.acd, self.clock.now())

    def waiting(self, queue: str) -> list[Any] | None:
        if queue not in self.core.acd.queues:
            return None
        return acd_views.waiting(self.core.acd, queue, self.clock.now())

    def agents(self) -> list[Any]:
        return acd_views.agent_snapshots(self.core.acd, self.clock.now())

    def agent(self, ext: str) -> Any | None:
        return acd_views.agent_snapshot(self.core.acd, ext, self.clock.now())

    def why_not(self, ext: str, queue: str | None) -> str:
        return acd_views.why_not(self.core.acd, ext, self.clock.now(), self.clock.wall(), queue)

    def acd_command(self, command: AcdInput) -> tuple[bool, str]:
        answer: list[Any] = []

        def step(now: float, wall: float) -> list[Any]:
            result, effects = self.core.acd_command(command, now, wall)
            answer.extend(result)
            return effects

        self.driver.command(step)
        agent = getattr(command, "agent", "")
        for e in answer:
            if isinstance(e, acd_fx.Refused) and e.agent == agent:
                return False, e.reason
            if isinstance(e, acd_fx.Confirmed) and e.agent == agent:
                return True, e.detail
        return True, ""

    def requeue(self, call_id: str, queue: str) -> str | None:
        why: list[str | None] = []

        def step(now: float, wall: float) -> list[Any]:
            reason, effects = self.core.requeue(call_id, queue, now, wall)
            why.append(reason)
            return effects

        self.driver.command(step)
        return why[0]

    def callbacks(self, number: str | None, planning: bool) -> list[dict[str, Any]]:
        book = self.core.queues.book
        rows = book.planning(self.clock.wall()) if planning else book.search(number)
        return [cb.record() for cb in rows]

    def callback_command(self, fn: Callable[[Any, float, float], Any]) -> Any:
        result: list[Any] = []

        def step(now: float, wall: float) -> list[Any]:
            value, effects = self.core.callback_command(fn, now, wall)
            result.append(value)
            return effects

        self.driver.command(step)
        return result[0]

    def explain(self, caller: str | None, dial: str, at: str | None, context: str | None) -> dict[str, Any]:
        plan = self.dialplan
        if plan is None:
            try:
                plan = load_dialplans(self.dialplan_dir, self.core.config)
            except ConfigError as e:
                raise NoDialplan(f"no dialplans loaded ({str(e).splitlines()[0]})") from None
        cfg = plan.config
        if caller is not None and context is None and cfg.user(caller) is None and cfg.device(caller) is None:
            raise BadParameter(f"from: no user or device {caller!r} (give context= for other callers)")
        if context is not None and context not in plan.contexts:
            raise BadParameter(f"context: no dialplan context {context!r}")
        try:
            wall = parse_at(at) if at is not None else datetime.fromtimestamp(self.clock.wall()).astimezone()
        except ValueError as e:
            raise BadParameter(f"at: {e}") from None
        return render_json(plan, explain(plan, dial, wall, caller, context))

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
        udp = next((t for t in self.config.sip.listen if t.transport == "udp"), None)
        if self.config.media.address is not None:
            self.media.host = self.config.media.address  # RTP ports are reserved where SDP points
        elif udp is not None:
            self.media.host = udp.host
        ports = self.core.b2bua.ports
        ports.reserve, ports.unreserve = self.media.reserve, self.media.unreserve
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
        freeze_startup_objects()
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
            plan = load_optional_dialplans(self.dialplan_dir, new)
        except ConfigError as e:
            logger.error("reload_failed", problems=str(e).splitlines())
            return
        self.config = new
        self.dialplan = plan
        self.token = new.api.token
        self.driver.allow = AllowList(new.sip.allowed_destinations)
        self.driver.command(lambda now, wall: self.core.apply_config(new, now, wall, dialplan=plan))
        logger.info("config_reloaded")

    async def shutdown(self, server: uvicorn.Server, api_task: asyncio.Task[None]) -> None:
        self._ready = False
        logger.info("pbx_stopping")
        for t in self.transports:
            t.close()
        self.driver.stop()
        self.media.close_all()
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(api_task, 5.0)
        self.store.close()
        logger.info("pbx_stopped")


def _live(c: CallInfo) -> LiveCall:
    return LiveCall(
        id=c.call_id,
        caller=c.caller,
        callee=c.callee,
        state=c.state,
        started=c.started_wall,
        answered=c.answered_wall,
        duration=c.duration,
        legs=[
            CallLeg(id=x.id, role=x.role, state=x.state, peer=x.peer, sip_call_id=x.sip_call_id)
            for x in c.legs
        ],
    )


def run(config_dir: Path, data_dir: Path, dialplan_dir: Path | None = None) -> None:
    daemon = Daemon(config_dir, data_dir, dialplan_dir)
    try:
        import uvloop
    except ImportError:
        asyncio.run(daemon.run())
    else:
        uvloop.run(daemon.run())
