"""The driver: feeds network input and timer expiry to the pure core and executes its effects.

One asyncio timer for the whole daemon, re-armed after every batch of steps at
`core.next_deadline()` (aioquic's pattern), up to TIMER_SLACK late so that neighbouring deadlines
share one wake-up. Every step runs inside a try/except: one bad packet or one failing handler
is logged and counted, and never stops the daemon. The destination allow-list is enforced here,
at the only place bytes leave the process.

Store writes go into an open SQLite transaction that is committed COMMIT_DELAY seconds after
the first write of a burst (one commit per burst of registrations instead of one per step: a
commit costs more than the REGISTER's own writes). Durability: `flush()` commits at once, and
`stop()` (SIGTERM, SIGINT) and `Store.close()` flush, so a graceful restart loses no binding; a
crash of the process loses at most the writes of the last COMMIT_DELAY seconds (the phones
that registered then are told 200 and have to register again after the restart). Without a
running event loop (start-up, tests) every step commits at once.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
from collections.abc import Callable, Iterable
from typing import Protocol

from pbx import log
from pbx.acd import effects as acd_fx
from pbx.acd.callbacks import PersistCallback
from pbx.acd.effects import PersistAgent
from pbx.clock import Clock
from pbx.core import Effect, PbxCore
from pbx.history import HistoryRecorder, PersistHistory, SetDisposition
from pbx.hotdesk.model import (
    DeleteSession,
    LockedOut,
    NotifyDevice,
    PersistSession,
    SessionEnded,
    SessionStarted,
)
from pbx.hotdesk.records import RECORD_KIND as HOTDESK_KIND
from pbx.hotdesk.records import record_key as hd_key
from pbx.hotdesk.records import to_record as hd_record
from pbx.registrar.records import record_key, to_record
from pbx.registrar.registrar import DeleteBinding, PersistBinding
from pbx.sip.addr import Addr
from pbx.sip.effects import Send
from pbx.store.sqlite import Store

logger = log.get("pbx.runtime")
COMMIT_DELAY = 0.005  # seconds: the crash window of store writes (see above)
TIMER_SLACK = 0.01  # seconds a core deadline may be handled late (SIP timers are 100s of ms)
FULL_GC_EVERY = 1000  # middle-generation collections between full ones (CPython's default: 10)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def freeze_startup_objects() -> None:
    """Tune the garbage collector once the daemon is up.

    Everything allocated so far (modules, config, the API app) moves out of the collector's
    sight, so a full collection walks only what SIP traffic keeps alive, not the few hundred
    thousand objects of the libraries. And full collections become rare: by default CPython runs
    one every 10 middle-generation passes once a quarter more objects have survived, which
    under load is every few seconds, and each walks every live transaction (they live 32 s:
    ~100,000 of them at 1,500 REGISTER/s), a pause of 100 ms or more here. SIP state is freed
    by reference counting; only the rare reference cycle waits for the next full collection,
    now minutes apart under load."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_GC_EVERY)


class Transport(Protocol):
    family_v6: bool

    def send(self, data: bytes, dest: Addr) -> None: ...


class AllowList:
    """Destinations the daemon may send to. Checked per packet, so the common case is cached."""

    def __init__(self, networks: Iterable[IpNetwork]) -> None:
        self.networks = list(networks)
        self._cache: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        ok = self._cache.get(host)
        if ok is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                ok = False  # we only ever send to addresses, never resolve names a peer gives us
            else:
                if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                ok = any(ip in n for n in self.networks) and not _never(ip)
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[host] = ok
        return ok


BINDING_EFFECTS = (PersistBinding, DeleteBinding)
SESSION_EFFECTS = (PersistSession, DeleteSession)
HOTDESK_EVENTS = (SessionStarted, SessionEnded, LockedOut, NotifyDevice)


def _log_hotdesk(e: object) -> None:
    if isinstance(e, SessionStarted):
        logger.info("hotdesk_login", user=e.user, device=e.device)
    elif isinstance(e, SessionEnded):
        logger.info("hotdesk_logout", user=e.user, device=e.device, reason=e.reason.value)
    elif isinstance(e, LockedOut):
        logger.warning("hotdesk_locked_out", kind=e.kind.value, key=e.key)
    elif isinstance(e, NotifyDevice):
        logger.debug("hotdesk_device_user", device=e.device, user=e.user)


ACD_EVENTS = (acd_fx.Confirmed, acd_fx.Refused, acd_fx.AgentChanged, acd_fx.CallerAnswered,
              acd_fx.CallerAbandoned, acd_fx.Queued)  # fmt: skip
# what the driver writes to the store, in the step's transaction
STORE_EFFECTS = (
    *BINDING_EFFECTS,
    *SESSION_EFFECTS,
    PersistCallback,
    PersistAgent,
    PersistHistory,
    SetDisposition,
)


def _log_acd(e: object) -> None:
    if isinstance(e, acd_fx.AgentChanged):
        logger.info("agent_status", agent=e.agent, chosen=e.chosen, activity=e.activity, reason=e.reason)
    elif isinstance(e, acd_fx.Confirmed):
        logger.info("agent_command", agent=e.agent, command=e.command, detail=e.detail)
    elif isinstance(e, acd_fx.Refused):
        logger.info("agent_command_refused", agent=e.agent, command=e.command, reason=e.reason)
    elif isinstance(e, acd_fx.CallerAnswered):
        logger.info(
            "queue_answered", call_id=e.call_id, queue=e.queue, agent=e.agent, waited=round(e.waited, 1)
        )
    elif isinstance(e, acd_fx.CallerAbandoned):
        logger.info("queue_abandoned", call_id=e.call_id, queue=e.queue, waited=round(e.waited, 1))
    elif isinstance(e, acd_fx.Queued):
        logger.info("queue_position", call_id=e.call_id, queue=e.queue, position=e.position)


def _never(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Broadcast, multicast and unspecified addresses are never a SIP peer (RFC 4475 bcast).
    if ip.is_multicast or ip.is_unspecified:
        return True
    return isinstance(ip, ipaddress.IPv4Address) and (ip == ipaddress.IPv4Address("255.255.255.255"))


class Driver:
    def __init__(
        self,
        core: PbxCore,
        clock: Clock,
        store: Store | None,
        allow: AllowList,
        on_effect: Callable[[Effect], None] | None = None,
    ) -> None:
        self.core = core
        self.clock = clock
        self.store = store
        self.allow = allow
        self.transports: dict[tuple[str, bool], Transport] = {}
        self.on_effect = on_effect
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.history: HistoryRecorder | None = None  # turns call events into PersistHistory
        self._commit: asyncio.TimerHandle | None = None
        self._rearm_pending = False
        self._rearmed_at = -1e9  # clock.now() of the last batched re-arm
        self._stopped = False

    def add_transport(self, name: str, transport: Transport) -> None:
        self.transports.setdefault((name, transport.family_v6), transport)

    def feed(self, data: bytes, source: Addr) -> None:
        try:
            effects = self.core.receive(data, source, self.clock.now(), self.clock.wall())
            self.execute(effects)
        except Exception:
            self.core.stats.handler_errors += 1
            logger.exception("handler_error", source=str(source))
        self._rearm_soon()

    def _rearm_soon(self) -> None:
        """Re-arm once the loop has delivered the datagrams it read together (libuv reads up
        to 32 per wake-up under load), and at most once per TIMER_SLACK: the next deadline is
        asked of every core once per batch, not once per datagram. A deadline a step adds is
        then armed up to TIMER_SLACK late and fires up to TIMER_SLACK after it: 20 ms at most,
        against SIP's shortest timers of 200 ms (100 Trying) and 500 ms (T1). Without a running
        loop (tests), at once."""
        if self._rearm_pending:
            return
        loop = self._running_loop()
        if loop is None:
            self.rearm()
            return
        self._rearm_pending = True
        wait = self._rearmed_at + TIMER_SLACK - self.clock.now()
        if wait > 0:
            loop.call_later(wait, self._rearm_due)
        else:
            loop.call_soon(self._rearm_due)

    def _rearm_due(self) -> None:
        self._rearm_pending = False
        if self._stopped:
            return
        self._rearmed_at = self.clock.now()
        self.rearm()

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self.loop
        if loop is not None and loop.is_running():
            return loop
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def command(self, fn: Callable[[float, float], list[Effect]]) -> None:
        """Run an API command as one core step, the same path a SIP event takes."""
        effects = fn(self.clock.now(), self.clock.wall())
        self.execute(effects)
        self.rearm()

    def execute(self, effects: list[Effect]) -> None:
        if not effects:
            return
        if self.history is not None:
            effects = self._with_history(self.history, effects)
        wrote = False
        try:
            for e in effects:
                if isinstance(e, Send):
                    self._send(e)
                elif isinstance(e, STORE_EFFECTS):
                    if self.store is not None:
                        if not wrote:
                            wrote = True
                            if not self.store.in_transaction:
                                self.store.begin()
                        self._write(self.store, e)
                elif isinstance(e, HOTDESK_EVENTS):
                    _log_hotdesk(e)
                elif isinstance(e, ACD_EVENTS):
                    _log_acd(e)
                if self.on_effect is not None:
                    self.on_effect(e)
        finally:
            if wrote:
                self._commit_soon()

    def _write(self, store: Store, e: Effect) -> None:
        """One persistence effect, inside the step's transaction (committed per burst)."""
        wall = self.clock.wall()
        if isinstance(e, PersistBinding):
            b = e.binding
            store.put("binding", record_key(b.aor, b.key), to_record(b), wall)
        elif isinstance(e, PersistSession):
            store.put(HOTDESK_KIND, hd_key(e.session.user), hd_record(e.session), wall)
        elif isinstance(e, PersistCallback):
            store.put(e.kind, e.callback.id, e.callback.record(), wall)
        elif isinstance(e, PersistAgent):
            store.put(e.kind, e.key, e.record, wall)
        elif isinstance(e, PersistHistory):
            store.add_history(e.row)
        elif isinstance(e, SetDisposition):
            store.set_disposition(e)
        elif isinstance(e, DeleteBinding):
            store.delete("binding", record_key(e.aor, e.contact_key))
        elif isinstance(e, DeleteSession):
            store.delete(HOTDESK_KIND, hd_key(e.user))

    def _commit_soon(self) -> None:
        if self._commit is not None:
            return  # this burst's commit is already scheduled
        loop = self._running_loop()
        if loop is None:
            self.flush()  # no loop to batch on: commit with the step
            return
        self._commit = loop.call_later(COMMIT_DELAY, self._commit_due)

    def _commit_due(self) -> None:
        self._commit = None
        try:
            if self.store is not None:
                self.store.commit()
        except Exception:
            logger.exception("store_commit_failed")

    def flush(self) -> None:
        """Commit the store's pending writes now."""
        if self._commit is not None:
            self._commit.cancel()
            self._commit = None
        if self.store is not None:
            self.store.commit()

    def _with_history(self, history: HistoryRecorder, effects: list[Effect]) -> list[Effect]:
        """The step's effects plus its history rows. A failure here costs history, never the
        step's SIP messages."""
        try:
            return history.process(effects)
        except Exception:
            self.core.stats.handler_errors += 1
            logger.exception("history_error")
            return effects

    def _send(self, e: Send) -> None:
        dest = e.dest
        if not self.allow.allows(dest.host):
            self.core.stats.destinations_refused += 1
            logger.info("destination_refused", dest=str(dest))
            return
        t = self.transports.get((dest.transport, ":" in dest.host))
        if t is None:
            self.core.stats.destinations_refused += 1
            return
        t.send(e.data, dest)

    def on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            effects = self.core.on_timer(self.clock.now(), self.clock.wall())
            self.execute(effects)
        except Exception:
            self.core.stats.handler_errors += 1
            logger.exception("timer_error")
        self.rearm()

    def rearm(self) -> None:
        d = self.core.next_deadline()
        if d is None:
            return
        at = self._timer_at
        if at is not None and d <= at <= d + TIMER_SLACK:
            return  # the armed timer fires late enough to find d due, and soon enough
        if self._timer is not None:
            self._timer.cancel()
        loop = self.loop or asyncio.get_running_loop()
        self.loop = loop
        # Armed a little after d: deadlines that fall within TIMER_SLACK of each other (every
        # transaction's Timer J, thousands per second under load) are handled by one wake-up.
        at = d + TIMER_SLACK
        # clock.now() and loop.time() are both monotonic seconds; map through the difference.
        self._timer = loop.call_later(max(0.0, at - self.clock.now()), self.on_timer)
        self._timer_at = at

    def stop(self) -> None:
        self._stopped = True  # a re-arm still scheduled must not start the timer again
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
