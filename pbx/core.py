"""PbxCore: the whole PBX as one pure object. Bytes and time in; effects and a deadline out.

receive(data, source, now, wall) runs one step: the flood guard, the parser (a malformed request
gets its 4xx here, an unanswerable one is dropped), the transaction layer (retransmissions are
absorbed before anything else sees them), then the request's handler by method. Responses go to
the client transactions (qualify OPTIONS). Timers of every part are merged into one deadline.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pbx import log
from pbx.acd.engine import AcdEngine
from pbx.acd.events import AcdInput, AgentReachability
from pbx.acd.reconcile import AgentTruth, Truth, reconcile
from pbx.calls.manager import CallInfo, CallManager
from pbx.calls.queues import QueueCalls
from pbx.calls.routing import Reject
from pbx.config import Config
from pbx.config.models import User
from pbx.dialplan import Dialplan
from pbx.hotdesk.core import HotdeskCore
from pbx.hotdesk.model import NotifyDevice, SessionEnded, SessionStarted
from pbx.hotdesk.notify import check_sync, should_notify
from pbx.hotdesk.records import from_record as hd_from_record
from pbx.media.effects import MediaEvent
from pbx.registrar.bindings import Binding
from pbx.registrar.records import from_record
from pbx.registrar.registrar import (
    DeleteBinding,
    PersistBinding,
    QualifyContact,
    Registrar,
    RegistrarSettings,
)
from pbx.security.guard import Guard
from pbx.sip.addr import Addr, response_destination
from pbx.sip.digest import AuthResult, Credential, DigestAuth
from pbx.sip.effects import Send
from pbx.sip.errors import SipParseError
from pbx.sip.headers import parse_uint
from pbx.sip.message import REASONS, Headers, Request, Response, make_response
from pbx.sip.parser import parse, parse_request_head_for_reply
from pbx.sip.stack import (
    ResponseReceived,
    StrayInvite2xx,
    TransactionLayer,
    TransactionTimedOut,
    new_branch,
)
from pbx.sip.transaction import TimerConfig
from pbx.stats import Stats
from pbx.trunks.registration import TrunkRegistrations

logger = log.get("pbx.core")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RECONCILE_EVERY = 30.0  # seconds between ACD reconciler runs (drift repair, issue 7)
Effect = Any  # Send | PersistBinding | DeleteBinding | ... (frozen dataclasses)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY"
ACCEPT = "application/sdp"
SUPPORTED = "path, outbound, gruu, timer, replaces"
KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "REFER", "NOTIFY",
     "SUBSCRIBE", "PUBLISH", "MESSAGE", "PRACK"}
)  # fmt: skip
SUPPORTED_EXTENSIONS = frozenset({"path", "outbound", "gruu", "timer", "replaces"})
URI_SCHEMES = frozenset({"sip", "sips", "tel"})


class PbxCore:
    def __init__(self, config: Config, now: float, wall: float, dialplan: Dialplan | None = None) -> None:
        self.stats = Stats()
        self.local: list[tuple[str, str, int]] = []
        self._qualify: dict[str, tuple[str, str]] = {}  # client tx key -> (aor, contact key)
        self._notify_tx: dict[str, tuple[str, str]] = {}  # hotdesk NOTIFY tx key -> (device, Call-ID)
        self.apply_config(config, now, wall, initial=True, dialplan=dialplan)

    # --- configuration ---------------------------------------------------------------------
    def apply_config(
        self, config: Config, now: float, wall: float, initial: bool = False, dialplan: Dialplan | None = None
    ) -> list[Effect]:
        self.config = config
        self.dialplan = dialplan
        # A trunk is recognised by its `match` networks, or else by its own host and port.
        self.trunk_sources: list[tuple[IpNetwork, int | None, str]] = []
        self._trunk_cache: dict[tuple[str, int], str | None] = {}
        for t in config.trunks:
            if t.match:
                self.trunk_sources += [(net, None, t.name) for net in t.match]
            else:
                with contextlib.suppress(ValueError):
                    self.trunk_sources.append((ipaddress.ip_network(t.host), t.port, t.name))
        sip = config.sip
        self.timers = TimerConfig(t1=sip.t1, t2=sip.t2, t4=sip.t4)
        self.server_name = sip.server_name
        creds: dict[str, Credential] = {}
        for d in config.devices:
            if d.password is not None:
                creds[d.username] = Credential.from_password(d.username, sip.realm, d.password)
            elif d.ha1 is not None:
                creds[d.username] = Credential(d.username, ha1_md5=d.ha1.lower())
        self.credentials = creds
        # INVITEs may also authenticate as a trunk (inbound_digest); REGISTER never can.
        self.trunk_users = {t.username: t.name for t in config.trunks if t.inbound_digest and t.username}
        self.invite_credentials = dict(creds)
        for t in config.trunks:
            if t.inbound_digest and t.username and t.password:
                self.invite_credentials[t.username] = Credential.from_password(
                    t.username, sip.realm, t.password
                )
        auth = DigestAuth(
            realm=sip.realm,
            secret=(config.auth.secret or "").encode(),
            nonce_ttl=config.auth.nonce_ttl,
            qop=config.auth.qop,
            sha256=config.auth.sha256,
        )
        r = config.registrar
        settings = RegistrarSettings(
            min_expires=r.min_expires,
            max_expires=r.max_expires,
            default_expires=r.default_expires,
            max_contacts=r.max_contacts,
            qualify_interval=r.qualify_interval,
        )
        s = config.security
        guard = Guard(
            auth_failures_before_ban=s.auth_failures_before_ban,
            failure_window=s.failure_window,
            requests_per_second=s.requests_per_second,
            ban_seconds=s.ban_seconds,
            trusted=list(s.trusted),
        )
        if initial:
            self.tx = TransactionLayer(self.timers)
            self.auth = auth
            self.registrar = Registrar(settings, auth, self.credentials.get)
            self.guard = guard
            self.trunk_regs = TrunkRegistrations(self.tx, lambda: self.local, self.server_name)
            self.b2bua = CallManager(
                config, self.tx, self.registrar.bindings.lookup, lambda: self.local, self.timers,
                server=self.server_name, dialplan=dialplan,
            )  # fmt: skip
            self.hotdesk = HotdeskCore(config)
            self.b2bua.hotdesk = self.hotdesk
            self.acd = AcdEngine(config, random.Random(), now)
            self.queues = QueueCalls(self.b2bua, self.acd)
            self.b2bua.queues = self.queues
            self._reconcile_at = now + RECONCILE_EVERY
            self._registered: set[str] = set()  # devices with a live binding (hotdesk needs changes)
        else:
            # Bindings, bans and live transactions survive a reload; settings change in place.
            self.tx.timers = self.timers
            self.auth = auth
            self.registrar.settings = settings
            self.registrar.auth = auth
            self.registrar.lookup_credential = self.credentials.get
            g = self.guard
            g.threshold, g.window, g.rate = guard.threshold, guard.window, guard.rate
            g.ban_seconds, g.trusted = guard.ban_seconds, guard.trusted
            g._trusted_cache.clear()
            # Calls in progress keep their legs; new calls see the new users, devices and timers.
            self.b2bua.config, self.b2bua.timers, self.b2bua.server = config, self.timers, self.server_name
            self.b2bua.moh_on_hold, self.b2bua.moh_language = config.media.moh_on_hold, config.media.language
            self.b2bua.dialplan = dialplan
            self.trunk_regs.server = self.server_name
        self.trunk_regs.configure(config.trunks, now)
        if initial:
            return []
        out: list[Effect] = list(self.hotdesk.apply_config(config, now, wall))
        self.b2bua.step_time = (now, wall)
        self.queues.carry_out(self.acd.apply_config(config, now, wall), now, wall)
        out += self.b2bua.take_effects()
        out += self._sync_agents(None, now, wall)
        return self._notify_phones(out, now)

    def set_local(self, listens: Sequence[tuple[str, str, int]]) -> None:
        """The addresses we listen on (after binding port 0); used for our own Via/Contact."""
        self.local = list(listens)

    def restore_bindings(self, records: list[dict[str, Any]], now: float, wall: float) -> list[Effect]:
        """Bindings from the store after a restart; DeleteBinding for those expired meanwhile."""
        bindings = []
        for r in records:
            try:
                bindings.append(from_record(r))
            except (KeyError, TypeError, ValueError):
                logger.warning("binding_record_unreadable", record=str(r)[:200])
        out = list(self.registrar.load(bindings, now, wall))
        self._registered = {b.aor for b in self.registrar.bindings.all(now)}
        return out

    def restore_hotdesk(self, records: list[dict[str, Any]], now: float, wall: float) -> list[Effect]:
        """Hotdesk sessions from the store after a restart (after the bindings)."""
        good = []
        for r in records:
            try:
                hd_from_record(r)
                good.append(r)
            except (KeyError, TypeError, ValueError):
                logger.warning("hotdesk_record_unreadable", record=str(r)[:200])
        restored = self.hotdesk.restore(good, now, wall, registered=set(self._registered))
        return self._notify_phones(list(restored), now)

    def hotdesk_login(self, user: str, device: str, now: float, wall: float) -> tuple[str, list[Effect]]:
        outcome, effects = self.hotdesk.login(user, device, now, wall)
        out = [*effects, *self._sync_agents(_hotdesk_users(effects), now, wall)]
        return outcome.value, self._notify_phones(out, now)

    def hotdesk_logout(self, user: str, now: float, wall: float) -> tuple[str, list[Effect]]:
        outcome, effects = self.hotdesk.force_logout(user, now, wall)
        out = [*effects, *self._sync_agents(_hotdesk_users(effects), now, wall)]
        return outcome.value, self._notify_phones(out, now)

    # --- input -----------------------------------------------------------------------------
    def receive(self, data: bytes, source: Addr, now: float, wall: float) -> list[Effect]:
        self.b2bua.step_time = (now, wall)
        return self._notify_phones(self._receive(data, source, now, wall), now)

    def _receive(self, data: bytes, source: Addr, now: float, wall: float) -> list[Effect]:
        if not self.guard.allow(source.host, now):
            self.stats.dropped_banned += 1
            return []
        if len(data) <= 4 and not data.strip():
            return []  # CRLF keep-alive (RFC 5626 3.5.1)
        try:
            msg = parse(
                data,
                stream=source.reliable,
                max_size=self.config.sip.max_message_bytes,
                max_headers=self.config.sip.max_headers,
            )
        except SipParseError as e:
            return self._malformed(data, e, source)
        if isinstance(msg, Response):
            if logger.debug_enabled:
                logger.debug("sip_response_in", status=msg.status, call_id=msg.call_id, source=str(source))
            return self._on_response(msg, now, wall)
        if logger.debug_enabled:
            logger.debug("sip_request_in", method=msg.method, call_id=msg.call_id, source=str(source))
        return self._on_request(msg, source, now, wall)

    def _malformed(self, data: bytes, e: SipParseError, source: Addr) -> list[Effect]:
        head = parse_request_head_for_reply(data)
        if head is None:
            self.stats.parse_errors["dropped"] += 1
            logger.debug("malformed_dropped", source=str(source), error=str(e))
            return []
        self.stats.parse_errors["answered"] += 1
        logger.info("malformed_request", source=str(source), status=e.status_hint, error=str(e),
                    call_id=head.call_id)  # fmt: skip
        resp = make_response(head, e.status_hint, extra=self._server_header())
        resp.reason = _reason_for(e)
        self.stats.responses_out[(head.method, e.status_hint)] += 1
        try:
            dest = response_destination(head.top_via, source)
        except SipParseError:
            return []
        return [Send(resp.render(), dest)]

    def _on_response(self, resp: Response, now: float, wall: float) -> list[Effect]:
        try:
            method = resp.cseq.method
        except SipParseError:
            return []
        self.stats.responses_in[(method, resp.status)] += 1
        out: list[Effect] = []
        for ev in self.tx.receive_response(resp, now):
            out.extend(self._on_tx_event(ev, now, wall))
        return out

    def _on_request(self, req: Request, source: Addr, now: float, wall: float) -> list[Effect]:
        fresh, effects = self.tx.receive_request(req, source, now)
        if fresh is None:
            return effects
        req = fresh
        self.stats.requests_in[req.method] += 1
        if req.method == "ACK":
            return [*effects, *self.b2bua.on_ack(req, now, wall)]  # the ACK of a 2xx: end to end
        resp = self._handle(req, source, now, wall, effects)
        if resp is not None:
            self.stats.responses_out[(req.method, resp.status)] += 1
            if logger.debug_enabled:
                logger.debug("sip_response_out", status=resp.status, method=req.method, call_id=req.call_id)
            effects.extend(self.tx.respond(req, resp, now))
            if req.method == "REGISTER":
                # The server transaction keeps the request for 32 s (Timer J) but never reads
                # it again: drop its parsed views (Via, From, Contact ...), so that tens of
                # thousands of live transactions hold a third of the objects the collector
                # would otherwise walk in every full collection.
                req.invalidate()
        return effects

    # --- request handlers -----------------------------------------------------------------
    def _handle(
        self, req: Request, source: Addr, now: float, wall: float, effects: list[Effect]
    ) -> Response | None:
        common = self._common_checks(req)
        if common is not None:
            return common
        m = req.method
        if m == "REGISTER":
            return self._register(req, source, now, wall, effects)
        if m == "OPTIONS":
            return self._reply(req, 200, extra=self._capabilities())
        if m == "INVITE":
            return self._invite(req, source, now, wall, effects)
        if m == "CANCEL":
            effects.extend(self.b2bua.on_cancel(req, now, wall))
            return None
        if m in ("BYE", "INFO", "UPDATE", "NOTIFY", "REFER", "PRACK"):
            effects.extend(self.b2bua.on_request(req, now, wall))  # in-dialog; unknown dialog: 481
            return None
        if m in KNOWN_METHODS:
            return self._reply(req, 405, extra=[("allow", ALLOW)])
        return self._reply(req, 501, extra=[("allow", ALLOW)])

    def _common_checks(self, req: Request) -> Response | None:
        """RFC 3261 8.2.1-8.2.3 and 16.3: the checks a UAS makes before it looks at the method."""
        h = req.headers
        mf = h.get("max-forwards")
        if req.uri.scheme not in URI_SCHEMES:
            return self._reply(req, 416)  # RFC 4475 unkscm, novelsc
        if mf is not None and parse_uint(mf, "Max-Forwards") == 0 and req.method != "OPTIONS":
            return self._reply(req, 483)
        if req.method not in ("ACK", "CANCEL") and ("require" in h or "proxy-require" in h):
            unsupported = [
                opt
                for name in ("require", "proxy-require")
                for opt in h.get_all(name)
                if opt.lower() not in SUPPORTED_EXTENSIONS
            ]
            if unsupported:
                return self._reply(req, 420, extra=[("unsupported", ", ".join(unsupported))])
        if req.body and req.method in ("INVITE", "UPDATE", "ACK", "PRACK"):
            ctype = (h.get("content-type") or "").split(";")[0].strip().lower()
            if ctype not in ("application/sdp", "multipart/mixed"):
                return self._reply(req, 415, extra=[("accept", ACCEPT)])  # RFC 4475 invut
        if req.method in ("INVITE", "OPTIONS"):
            accepts = [a.split(";")[0].strip().lower() for a in h.get_all("accept")]
            if accepts and not any(a in ("application/sdp", "application/*", "*/*") for a in accepts):
                return self._reply(req, 406, extra=[("accept", ACCEPT)])  # RFC 4475 sdp01
        return None

    def _register(
        self, req: Request, source: Addr, now: float, wall: float, effects: list[Effect]
    ) -> Response:
        outcome = self.registrar.handle(req, source, now, wall)
        result = outcome.auth_result
        if result is not None:
            self.stats.auth_results[result.value] += 1  # the values are the lower-case names
            if result.is_failure and self.guard.auth_failed(source.host, outcome.username, now):
                logger.warning("source_banned", source=source.host, account=outcome.username,
                               call_id=req.call_id)  # fmt: skip
        effects.extend(outcome.effects)
        if outcome.effects:
            effects.extend(self._registrations_changed(list(outcome.effects), now, wall))
        resp = outcome.response
        for k, v in self._server_header():
            resp.headers.add(k, v)
        if resp.status == 200:
            # A new contact is news; a refresh of a known one (every phone, every few minutes)
            # is not, and one JSON line per refresh costs as much as a tenth of the REGISTER.
            if outcome.added:
                logger.info("registered", aor=outcome.username, call_id=req.call_id, source=str(source))
            elif logger.debug_enabled:
                logger.debug("reregistered", aor=outcome.username, call_id=req.call_id, source=str(source))
        return resp

    def _invite(
        self, req: Request, source: Addr, now: float, wall: float, effects: list[Effect]
    ) -> Response | None:
        # A re-INVITE in one of our dialogs is authenticated by the dialog; anything else must come
        # from a device that proves who it is (407 challenge, as REGISTER gets 401). The
        # CallManager answers from there on.
        if req.to.tag and self.b2bua.has_dialog(req):
            effects.extend(self.b2bua.on_request(req, now, wall))
            return None
        trunk = self._trunk_of(source)
        if trunk is not None and not req.to.tag:
            effects.extend(self.b2bua.on_trunk_invite(req, source, trunk, now, wall))
            return None
        header = req.headers.get("proxy-authorization")
        if header is None:
            return self._reply(req, 407, extra=self._challenge("proxy-authenticate", now))
        result, user = self.auth.verify(
            req.method, header, self.invite_credentials.get, now, request_uri=req.uri
        )
        self.stats.auth_results[result.name.lower()] += 1
        if result is not AuthResult.OK:
            if result.is_failure:
                self.guard.auth_failed(source.host, user, now)
            return self._reply(
                req, 407, extra=self._challenge("proxy-authenticate", now, stale=result is AuthResult.STALE)
            )
        assert user is not None
        if req.to.tag:  # authenticated, but for a dialog we do not have
            effects.extend(self.b2bua.on_request(req, now, wall))
            return None
        trunk = self.trunk_users.get(user)
        if trunk is not None:  # the carrier proved who it is with the trunk's credentials
            effects.extend(self.b2bua.on_trunk_invite(req, source, trunk, now, wall))
            return None
        effects.extend(self.b2bua.on_invite(req, source, user, now, wall))
        return None

    def _trunk_of(self, source: Addr) -> str | None:
        """The trunk this source address belongs to (calls from the carrier are
        trusted by address, as Asterisk's `identify` and Kamailio's `permissions` do)."""
        if not self.trunk_sources:
            return None
        key = (source.host, source.port)
        cache = self._trunk_cache
        if key in cache:
            return cache[key]
        name: str | None = None
        try:
            ip = ipaddress.ip_address(source.host)
        except ValueError:
            ip = None
        if ip is not None:
            for net, port, trunk in self.trunk_sources:
                if ip.version == net.version and ip in net and (port is None or port == source.port):
                    name = trunk
                    break
        if len(cache) >= 4096:  # bounded: any address may send an INVITE
            cache.clear()
        cache[key] = name
        return name

    def _challenge(self, header: str, now: float, stale: bool = False) -> list[tuple[str, str]]:
        return [(header, v) for v in self.auth.challenge(now, stale=stale)]

    def _reply(self, req: Request, status: int, extra: Sequence[tuple[str, str]] = ()) -> Response:
        tag = secrets.token_hex(6) if status > 100 else None
        return make_response(req, status, to_tag=tag, extra=[*extra, *self._server_header()])

    def _server_header(self) -> list[tuple[str, str]]:
        return [("server", self.server_name)]

    def _capabilities(self) -> list[tuple[str, str]]:
        return [("allow", ALLOW), ("accept", ACCEPT), ("supported", SUPPORTED)]

    # --- timers ----------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        parts = (self.tx, self.registrar, self.guard, self.b2bua, self.trunk_regs, self.hotdesk, self.acd)
        ds = [d for d in (p.next_deadline() for p in parts) if d is not None]
        ds.append(self._reconcile_at)
        cb = self.queues.next_deadline(*self.b2bua.step_time)
        if cb is not None:
            ds.append(cb)
        return min(ds) if ds else None

    def on_timer(self, now: float, wall: float) -> list[Effect]:
        self.b2bua.step_time = (now, wall)
        out: list[Effect] = []
        for ev in self.tx.on_timer(now):
            out.extend(self._on_tx_event(ev, now, wall))
        out.extend(self.b2bua.on_timer(now, wall))
        if self.local:
            out.extend(self.trunk_regs.on_timer(now))
        expired: list[Effect] = []
        for e in self.registrar.on_timer(now):
            if isinstance(e, QualifyContact):
                out.extend(self._qualify_send(e.binding, now))
            else:
                expired.append(e)
        out += expired
        out += self._registrations_changed(expired, now, wall)
        hd = list(self.hotdesk.on_timer(now, wall))
        out += hd
        out += self._sync_agents(_hotdesk_users(hd), now, wall)
        self.b2bua.step_time = (now, wall)
        self.queues.carry_out(self.acd.on_timer(now, wall), now, wall)
        self.queues.tick(now, wall)
        if now >= self._reconcile_at:
            self._reconcile_at = now + RECONCILE_EVERY
            self.queues.carry_out(reconcile(self.acd, self._acd_truth(now), now, wall), now, wall)
        out += self.b2bua.take_effects()
        self.guard.on_timer(now)
        return self._notify_phones(out, now)

    def _acd_truth(self, now: float) -> Truth:
        """What really is, for the reconciler: registrations, answered calls, ringing offers."""
        dialogs: dict[str, set[str]] = {}
        for info in self.b2bua.snapshot(now):
            if info.state != "answered":
                continue
            call = self.b2bua.call(info.call_id)
            parties = {info.caller}
            if call is not None and call.winner is not None:
                callee = self.hotdesk.user_on(call.winner.peer_name)
                if callee is not None:
                    parties.add(callee)
            for user in parties & self.acd.agents.keys():
                if self.queues.working(user) or info.call_id in self.queues.joined:
                    dialogs.setdefault(user, set()).add(info.call_id)
        ringing: dict[str, set[str]] = {}
        for call_id, agent in self.queues.offers:
            ringing.setdefault(agent, set()).add(call_id)
        agents = {
            ext: AgentTruth(
                any(self.registrar.bindings.lookup(d, now) for d in self.hotdesk.devices_of(ext)),
                frozenset(dialogs.get(ext, ())),
                frozenset(ringing.get(ext, ())),
            )
            for ext in self.acd.agents
        }
        queued = {cb.id for cb in self.queues.book.items.values() if cb.queued}
        return Truth(agents, frozenset(self.queues.waiting) | queued)

    def _sync_agents(self, users: set[str] | None, now: float, wall: float) -> list[Effect]:
        """Tell the ACD which agents have a registered phone (all of them when `users` is None)."""
        acd = self.acd
        names = acd.agents.keys() if users is None else [u for u in users if u in acd.agents]
        out: list[Effect] = []
        for user in list(names):
            reachable = any(self.registrar.bindings.lookup(d, now) for d in self.hotdesk.devices_of(user))
            if acd.agents[user].reachable != reachable:
                self.b2bua.step_time = (now, wall)
                self.queues.handle(AgentReachability(user, reachable), now, wall)
                out += self.b2bua.take_effects()
        return out

    def acd_command(self, command: AcdInput, now: float, wall: float) -> tuple[list[Any], list[Effect]]:
        """An API command for the ACD: (the engine's answer, the step's effects)."""
        self.b2bua.step_time = (now, wall)
        answer = self.queues.handle(command, now, wall)
        return list(answer), self.b2bua.take_effects()

    def restore_callbacks(self, records: list[dict[str, Any]], now: float, wall: float) -> list[Effect]:
        """Call-backs from the store: open ones rejoin their queue (with their original place)."""
        self.b2bua.step_time = (now, wall)
        self.queues.book.restore(records)
        self.queues.tick(now, wall)
        return self.b2bua.take_effects()

    def callback_command(self, fn: Callable[[QueueCalls, float, float], Any], now: float,
                         wall: float) -> tuple[Any, list[Effect]]:  # fmt: skip
        """An API command on the call-back book (schedule, cancel, retry) as one step."""
        self.b2bua.step_time = (now, wall)
        result = fn(self.queues, now, wall)
        return result, self.b2bua.take_effects()

    def restore_acd(self, records: list[dict[str, Any]], now: float, wall: float) -> list[Effect]:
        self.b2bua.step_time = (now, wall)
        self.queues.carry_out(self.acd.restore(records, now, wall), now, wall)
        return self.b2bua.take_effects() + self._sync_agents(None, now, wall)

    def _registrations_changed(self, effects: list[Effect], now: float, wall: float) -> list[Effect]:
        """Tell hotdesk about devices that got their first binding or lost their last one."""
        out: list[Effect] = []
        for aor in {e.binding.aor if isinstance(e, PersistBinding) else e.aor
                    for e in effects if isinstance(e, PersistBinding | DeleteBinding)}:  # fmt: skip
            live = bool(self.registrar.bindings.lookup(aor, now))
            if live != (aor in self._registered):
                if live:
                    self._registered.add(aor)
                else:
                    self._registered.discard(aor)
                out += self.hotdesk.registration_changed(aor, live, now, wall)
                user = self.hotdesk.user_on(aor)
                if user is not None:
                    out += self._sync_agents({user}, now, wall)
        return out

    def _on_tx_event(self, ev: Effect, now: float, wall: float) -> list[Effect]:
        if isinstance(ev, Send):
            return [ev]
        if isinstance(ev, ResponseReceived | TransactionTimedOut) and self.b2bua.owns(ev.key):
            return self.b2bua.on_tx_event(ev, now, wall)
        if isinstance(ev, ResponseReceived | TransactionTimedOut) and self.trunk_regs.owns(ev.key):
            return list(self.trunk_regs.on_tx_event(ev, now))
        if isinstance(ev, StrayInvite2xx):
            return self.b2bua.on_stray_2xx(ev.response)  # re-ACKed if it is one of our dialogs
        if isinstance(ev, ResponseReceived | TransactionTimedOut) and ev.key in self._notify_tx:
            self._notify_result(ev)
            return []
        if isinstance(ev, ResponseReceived):
            target = self._qualify.pop(ev.key, None)
            if target is not None and ev.response.status >= 200:
                return list(self.registrar.qualify_result(target[0], target[1], True, now))
            if target is not None:
                self._qualify[ev.key] = target
            return []
        if isinstance(ev, TransactionTimedOut):
            target = self._qualify.pop(ev.key, None)
            if target is not None:
                return list(self.registrar.qualify_result(target[0], target[1], False, now))
            return []
        return []

    def _origin(self, dest: Addr) -> tuple[str, str] | None:
        """For a request of our own to `dest`: our host:port on its transport and a fresh Via
        (None: we do not listen on that transport)."""
        local = next((lt for lt in self.local if lt[0] == dest.transport), None)
        if local is None:
            return None
        lhost = f"[{local[1]}]" if ":" in local[1] else local[1]
        me = f"{lhost}:{local[2]}"
        return me, f"SIP/2.0/{dest.transport.upper()} {me};branch={new_branch()};rport"

    def _qualify_send(self, b: Binding, now: float) -> list[Effect]:
        """OPTIONS to a registered contact (Asterisk's qualify): sent to where it registered from."""
        dest = b.target
        origin = self._origin(dest)
        if origin is None:
            return []
        me, via = origin
        h = Headers()
        h.add("via", via)
        h.add("max-forwards", "70")
        h.add("from", f"<sip:pbx@{me}>;tag={secrets.token_hex(6)}")
        h.add("to", f"<{b.uri}>")
        h.add("call-id", secrets.token_hex(12))
        h.add("cseq", "1 OPTIONS")
        h.add("user-agent", self.server_name)
        req = Request("OPTIONS", b.uri, h)
        key, effects = self.tx.send_request(req, dest, now)
        self._qualify[key] = (b.aor, b.key)
        self.stats.requests_out["OPTIONS"] += 1
        return effects

    def _notify_phones(self, effects: list[Effect], now: float) -> list[Effect]:
        """A NOTIFY (docs/hotdesk.md) to every live contact of each device whose user changed."""
        for e in [e for e in effects if type(e) is NotifyDevice]:
            if not should_notify(self.config, e.device):
                continue
            for b in self.registrar.bindings.lookup(e.device, now):
                effects.extend(self._notify_send(b, e.user, now))
        return effects

    def _notify_send(self, b: Binding, user: str | None, now: float) -> list[Effect]:
        dest = b.target
        origin = self._origin(dest)
        if origin is None:
            return []
        me, via = origin
        call_id = secrets.token_hex(12)
        tag = secrets.token_hex(6)
        to = f"sip:{b.aor}@{me}"
        req = check_sync(b.uri, to, user, via, f"sip:pbx@{me}", tag, call_id, self.server_name)
        key, effects = self.tx.send_request(req, dest, now)
        self._notify_tx[key] = (b.aor, call_id)
        self.stats.requests_out["NOTIFY"] += 1
        logger.info("hotdesk_notify", call_id=call_id, device=b.aor, user=user or "", dest=str(dest))
        return effects

    def _notify_result(self, ev: ResponseReceived | TransactionTimedOut) -> None:
        if isinstance(ev, ResponseReceived) and ev.response.status < 200:
            return
        device, call_id = self._notify_tx.pop(ev.key)
        status = ev.response.status if isinstance(ev, ResponseReceived) else None
        # 489/405/481 or silence: a phone that does not act on check-sync; nothing else depends on it
        logger.info("hotdesk_notify_result", call_id=call_id, device=device, status=status or "timeout")

    # --- snapshots for the API and metrics -------------------------------------------------
    def presence(self, now: float) -> list[tuple[User, list[str], int]]:
        """Each user with the devices they are on and how many live contacts those have."""
        out = []
        for u in self.config.users:
            devices = list(self.hotdesk.devices_of(u.extension))
            contacts = sum(len(self.registrar.bindings.lookup(d, now)) for d in devices)
            out.append((u, devices, contacts))
        return out

    def calls(self, now: float) -> list[CallInfo]:
        return self.b2bua.snapshot(now)

    def hangup(self, call_id: str, now: float, wall: float) -> list[Effect] | None:
        """End a live call (API command); None if there is no such live call."""
        return self.b2bua.hangup(call_id, now, wall)

    def requeue(self, call_id: str, queue: str, now: float, wall: float) -> tuple[str | None, list[Effect]]:
        """VC 2.1.2 (API command): (None, effects) when done, else (why not, [])."""
        self.b2bua.step_time = (now, wall)
        why = self.b2bua.offers.requeue(call_id, queue, now, wall)
        return why, self.b2bua.take_effects()

    def on_media_event(self, ev: MediaEvent, now: float, wall: float) -> list[Effect]:
        """A playback ended, a digit came in, or a session failed (from the media shell)."""
        self.b2bua.step_time = (now, wall)
        return self.b2bua.on_media_event(ev, now, wall)

    def originate(
        self, user: str, dialled: str, now: float, wall: float
    ) -> tuple[str | Reject, list[Effect]]:
        """Click-to-dial (API command): the call id, or why not; and the step's effects."""
        res = self.b2bua.originator.originate(user, dialled, now, wall)
        return res, self.b2bua.take_effects()

    def lift_ban(self, ip: str) -> bool:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return False
        return self.guard.lift(ip)

    def gauges(self, now: float) -> dict[str, float]:
        return {
            "registrations": float(len(self.registrar.bindings.all(now))),
            "bans_active": float(len(self.guard.bans(now))),
            "sip_transactions": float(self.tx.count()),
            "calls_active": float(len(self.b2bua.snapshot(now))),
            "hotdesk_sessions": float(len(self.hotdesk.sessions())),
            "hotdesk_lockouts_active": float(len(self.hotdesk.lockouts(now))),
            "rtp_ports_in_use": float(self.b2bua.ports.in_use()),
        }

    def counters(self) -> dict[str, float]:
        st = self.tx.stats
        return {
            "sip_retransmissions_sent": float(st.retransmissions_sent),
            "sip_retransmissions_absorbed": float(st.retransmissions_absorbed),
            "sip_transaction_timeouts": float(sum(st.timeouts.values())),
            "bans": float(self.guard.bans_total),
            "hotdesk_logins": float(self.hotdesk.stats.logins),
            "hotdesk_logouts": float(sum(self.hotdesk.stats.logouts.values())),
            "hotdesk_pin_failures": float(self.hotdesk.limiter.failures_total),
            "hotdesk_lockouts": float(self.hotdesk.limiter.lockouts_total),
            **{f"callbacks_{k}": float(v) for k, v in self.queues.book.counters.items()},
        }


def _hotdesk_users(effects: Iterable[object]) -> set[str]:
    """Users whose phone changed in these hotdesk effects (their reachability may have too)."""
    out: set[str] = set()
    for e in effects:
        user = e.user if isinstance(e, SessionStarted | SessionEnded | NotifyDevice) else None
        if user is not None:
            out.add(user)
    return out


def _reason_for(e: SipParseError) -> str:
    base = REASONS.get(e.status_hint, "Bad Request")
    detail = "".join(c for c in str(e)[:60] if c.isascii() and c.isprintable())
    return f"{base} ({detail})" if detail else base
