"""REGISTER processing (RFC 3261 section 10.3, RFC 5626 section 6, RFC 3327, SPEC section 2).

How it works: `handle()` is one atomic step. It authenticates first (digest, `pbx.sip.digest`);
every failure gets the same 401 challenge, whether the user exists or not, so no extension can be
enumerated (stale=true only for a stale nonce with a correct answer). An authenticated user may
only register its own AOR, the To user (Kamailio's auth_check with the To URI): else 403. Then the
whole request is validated and planned before anything changes, so a 400/423 changes nothing:
- expiry per contact: its `expires` param, else the Expires header, else the default; 0 removes
  that contact; 0 < e < min_expires -> 423 with Min-Expires; above max_expires (or absurdly large,
  RFC 4475 scalar02) -> clamped to max_expires;
- `Contact: *` is allowed only alone and with `Expires: 0`, and removes every binding (10.3 step 6);
- a binding is found by its contact URI (compared per 19.1.4, simplified), or with +sip.instance by
  (instance, reg-id) (RFC 5626 6: the device replaces its own earlier binding even if its address
  changed); an instance without reg-id matches on the instance alone (as RFC 5627 GRUU registrars);
- Call-ID/CSeq (10.3 step 7), as Kamailio's usrloc: same Call-ID and an equal CSeq is a repeat, so
  that contact is left alone and the answer is still 200; a lower CSeq is out of order and the
  request fails with 400 "Invalid CSeq Number", changing nothing;
- a full account (max_contacts) gives up its least recently refreshed contact (expired ones
  first), so stale contacts never lock a phone out; a single request with more contacts than the
  limit is refused with 403.
The 200 lists every current contact with `;expires=<remaining>` and a Date header. There is no
Server header. Changes come out as effects (PersistBinding/DeleteBinding) for the shell to store;
qualify pings come out of `on_timer` as QualifyContact effects, and their results go back in
through `qualify_result`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate

from pbx.registrar.bindings import Binding, Bindings, contact_key
from pbx.sip.addr import Addr
from pbx.sip.digest import AuthResult, Credential, DigestAuth
from pbx.sip.errors import SipParseError
from pbx.sip.headers import NameAddr, parse_auth_params, parse_uint
from pbx.sip.message import Request, Response, make_response


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    min_expires: int = 60
    max_expires: int = 7200
    default_expires: int = 3600
    max_contacts: int = 5
    qualify_interval: float = 60  # 0 disables qualify


# --- effects -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersistBinding:
    """Store (insert or replace) this binding, keyed by (aor, binding.key)."""

    binding: Binding


@dataclass(frozen=True, slots=True)
class DeleteBinding:
    aor: str
    contact_key: str


@dataclass(frozen=True, slots=True)
class QualifyContact:
    """Send OPTIONS to `binding.target`; report with `Registrar.qualify_result(aor, key, ok, now)`."""

    binding: Binding


RegistrarEffect = PersistBinding | DeleteBinding | QualifyContact


@dataclass(frozen=True, slots=True)
class RegistrarOutcome:
    response: Response
    effects: list[RegistrarEffect] = field(default_factory=list)
    auth_result: AuthResult = AuthResult.MISSING
    username: str | None = None  # the digest username, when the credentials named one
    aor: str | None = None  # set once authenticated
    added: int = 0  # contacts bound that were not bound before (not refreshes of existing ones)


class _Reject(Exception):
    def __init__(self, status: int, reason: str | None = None, extra: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason
        self.extra = extra


@dataclass(slots=True)  # private and never changed: no frozen __setattr__ cost per contact
class _Contact:
    na: NameAddr
    key: str
    expires: int
    q: float | None
    instance: str | None
    reg_id: int | None


def _to_tag(req: Request) -> str:
    # Deterministic, so a retransmitted request that reaches us again gets the same tag.
    return hashlib.sha1(f"{req.call_id}|{req.from_.tag}".encode()).hexdigest()[:12]


_date_cache: tuple[int, str] = (-1, "")


def _http_date(wall: float) -> str:
    """The Date header value; formatted once per second, not once per registration."""
    global _date_cache
    second = int(wall)
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True))
    return _date_cache[1]


def _has_option(req: Request, header: str, tag: str) -> bool:
    return any(t.strip().lower() == tag for v in req.headers.get_all(header) for t in v.split(","))


class Registrar:
    def __init__(
        self,
        settings: RegistrarSettings,
        auth: DigestAuth,
        lookup_credential: Callable[[str], Credential | None],
        bindings: Bindings | None = None,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.lookup_credential = lookup_credential
        self.bindings = bindings if bindings is not None else Bindings()

    # --- REGISTER -------------------------------------------------------------------------------

    def handle(self, req: Request, source: Addr, now: float, wall: float) -> RegistrarOutcome:
        if req.method != "REGISTER":
            raise ValueError(f"Registrar.handle got {req.method}")
        result, username = self._authenticate(req, now)
        if result is not AuthResult.OK:
            challenge = self.auth.challenge(now, stale=result is AuthResult.STALE)
            hdrs = [("www-authenticate", c) for c in challenge]
            return RegistrarOutcome(self._reply(req, 401, extra=hdrs), [], result, username)
        try:
            aor = req.to.uri.user_unescaped
            if not req.to.uri.is_sip or not aor:
                raise _Reject(400, "Bad To URI")
            if aor != username:
                raise _Reject(403, "Forbidden")
            effects, outbound, added = self._apply(req, aor, source, now, wall)
        except _Reject as r:
            resp = self._reply(req, r.status, r.reason, r.extra)
            return RegistrarOutcome(resp, [], result, username, None if r.status == 403 else username)
        except SipParseError as e:
            reason = "".join(ch for ch in str(e)[:80] if ch.isprintable()) or "Bad Request"
            return RegistrarOutcome(self._reply(req, 400, reason), [], result, username, username)
        extra: list[tuple[str, str]] = [
            ("contact", f"{b.contact};expires={max(1, int(b.remaining(now) + 0.5))}")
            for b in self.bindings.lookup(aor, now)
        ]
        if outbound:
            extra.append(("require", "outbound"))
        extra.extend(("path", p) for p in req.headers.get_all("path"))
        extra.append(("date", _http_date(wall)))
        resp = self._reply(req, 200, extra=extra)
        return RegistrarOutcome(resp, effects, result, username, aor, added)

    def _reply(
        self,
        req: Request,
        status: int,
        reason: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Response:
        return make_response(req, status, reason, to_tag=_to_tag(req), extra=extra)

    def _authenticate(self, req: Request, now: float) -> tuple[AuthResult, str | None]:
        values = req.headers.get_all("authorization")
        chosen = values[0] if values else None
        ours: tuple[str, dict[str, str]] | None = None
        for v in values:  # one per realm may be present (RFC 3261 22.4): take ours
            try:
                parsed = parse_auth_params(v)
            except SipParseError:
                continue
            if parsed[1].get("realm") == self.auth.realm:
                chosen, ours = v, parsed
                break
        try:
            ruri = req.uri
        except SipParseError:
            return AuthResult.URI_MISMATCH, None
        if ours is not None:  # already split: verify it without parsing it again
            return self.auth.verify_parsed("REGISTER", *ours, self.lookup_credential, now, request_uri=ruri)
        return self.auth.verify("REGISTER", chosen, self.lookup_credential, now, request_uri=ruri)

    # --- planning and applying contacts ----------------------------------------------------------

    def _header_expires(self, req: Request) -> int | None:
        v = req.headers.get("expires")
        return None if v is None else parse_uint(v, "Expires")

    def _parse_contacts(self, req: Request) -> list[_Contact]:
        s = self.settings
        hdr = self._header_expires(req)
        out: dict[str, _Contact] = {}  # a contact named twice: the last one counts
        for na in req.contacts:
            if not na.uri.is_sip:
                raise _Reject(400, "Unsupported Contact URI")
            pe = na.param("expires")
            e = parse_uint(pe, "expires") if pe is not None else hdr
            e = s.default_expires if e is None else e
            if 0 < e < s.min_expires:
                raise _Reject(423, None, (("min-expires", str(s.min_expires)),))
            q: float | None = None
            if (qs := na.param("q")) is not None:
                try:
                    q = float(qs)
                except ValueError:
                    q = -1.0
                if not 0.0 <= q <= 1.0:
                    raise _Reject(400, "Bad q Value")
            instance = na.param("+sip.instance")
            if instance is not None:
                instance = instance.strip('"') or None
            reg_id: int | None = None
            if (rs := na.param("reg-id")) is not None and instance is not None:
                if not rs.isdigit() or len(rs) > 10:
                    raise _Reject(400, "Bad reg-id")
                reg_id = int(rs)
            params = na.params
            if any(k.lower() == "expires" for k, _ in params):
                kept = tuple((k, v) for k, v in params if k.lower() != "expires")
                na = NameAddr(na.display, na.uri, kept, na.bracketed)
            stored = na
            key = contact_key(na.uri)
            out.pop(key, None)
            out[key] = _Contact(stored, key, min(e, s.max_expires), q, instance, reg_id)
        return list(out.values())

    def _find(self, current: list[Binding], c: _Contact) -> Binding | None:
        for b in current:
            if b.key == c.key:
                return b
        if c.instance is not None:
            for b in current:
                if b.instance == c.instance and b.reg_id == c.reg_id:
                    return b
        return None

    @staticmethod
    def _in_order(req: Request, b: Binding) -> bool:
        """False for a repeat (same Call-ID, same CSeq); raises for an out-of-order request."""
        if b.call_id != req.call_id:
            return True
        if req.cseq.number < b.cseq:
            raise _Reject(400, "Invalid CSeq Number")
        return req.cseq.number > b.cseq

    def _apply(
        self, req: Request, aor: str, source: Addr, now: float, wall: float
    ) -> tuple[list[RegistrarEffect], bool, int]:
        """(effects, whether outbound was used, how many contacts are newly bound)."""
        s = self.settings
        current = self.bindings.current(aor)
        if req.contact_star:
            if len(req.headers.get_all("contact")) != 1 or self._header_expires(req) != 0:
                raise _Reject(400, "Contact * Needs Expires: 0")
            doomed = [b for b in current if self._in_order(req, b)]
            for b in doomed:
                self.bindings.remove(aor, b.key)
            return [DeleteBinding(aor, b.key) for b in doomed], False, 0
        contacts = self._parse_contacts(req)
        if len(contacts) > s.max_contacts:
            raise _Reject(403, "Too Many Contacts")
        # Plan everything (raising before any change), then apply.
        plan: list[tuple[_Contact, Binding | None]] = []
        for c in contacts:
            old = self._find(current, c)
            if old is not None:
                current.remove(old)  # one binding is replaced by one contact at most
            if old is None or self._in_order(req, old):
                plan.append((c, old))
        effects: list[RegistrarEffect] = []
        ua = req.headers.get("user-agent")
        path = tuple(req.headers.get_all("path"))
        touched: set[str] = set()
        added = 0
        for c, old in plan:
            if old is not None and (old.key != c.key or c.expires == 0):
                self.bindings.remove(aor, old.key)
                effects.append(DeleteBinding(aor, old.key))
            if c.expires == 0:
                continue
            same = old is not None and old.key == c.key
            b = Binding(
                aor=aor,
                key=c.key,
                contact=str(c.na),
                uri=c.na.uri.text,
                expires_at=now + c.expires,
                expires_wall=wall + c.expires,
                call_id=req.call_id,
                cseq=req.cseq.number,
                source=source,
                q=c.q,
                instance=c.instance,
                reg_id=c.reg_id,
                user_agent=ua,
                path=path,
                registered_at_wall=old.registered_at_wall if old is not None and same else wall,
                refreshed_at_wall=wall,
                reachable=old.reachable if old is not None and same else None,
                last_qualified=old.last_qualified if old is not None and same else None,
            )
            if not same:
                added += 1
            qualify_at = now if not same and s.qualify_interval > 0 else None
            self.bindings.put(b, qualify_at=qualify_at)
            touched.add(c.key)
            effects.append(PersistBinding(b))
        effects.extend(self._enforce_limit(aor, touched, now))
        outbound = any(c.reg_id is not None for c in contacts) and _has_option(req, "supported", "outbound")
        return effects, outbound, added

    def _enforce_limit(self, aor: str, keep: set[str], now: float) -> list[RegistrarEffect]:
        current = self.bindings.current(aor)  # least recently refreshed first
        excess = len(current) - self.settings.max_contacts
        if excess <= 0:
            return []
        victims = [b for b in current if b.expires_at <= now and b.key not in keep]
        victims += [b for b in current if b.expires_at > now and b.key not in keep]
        out: list[RegistrarEffect] = []
        for b in victims[:excess]:
            self.bindings.remove(aor, b.key)
            out.append(DeleteBinding(aor, b.key))
        return out

    # --- location service and timers ----------------------------------------------------------

    def lookup(self, aor: str, now: float) -> list[Binding]:
        return self.bindings.lookup(aor, now)

    def load(self, bindings: Iterable[Binding], now: float, wall: float) -> list[RegistrarEffect]:
        """Restore persisted bindings at start; DeleteBinding for those that expired meanwhile."""
        dropped = self.bindings.load(bindings, now, wall, self.settings.qualify_interval)
        return [DeleteBinding(b.aor, b.key) for b in dropped]

    def next_deadline(self) -> float | None:
        return self.bindings.next_deadline()

    def on_timer(self, now: float) -> list[RegistrarEffect]:
        """Expired bindings -> DeleteBinding; due qualifies -> QualifyContact."""
        out: list[RegistrarEffect] = [DeleteBinding(b.aor, b.key) for b in self.bindings.on_timer(now)]
        out.extend(QualifyContact(b) for b in self.due_qualifies(now))
        return out

    def due_qualifies(self, now: float) -> list[Binding]:
        return self.bindings.due_qualifies(now, self.settings.qualify_interval)

    def qualify_result(self, aor: str, contact_key: str, ok: bool, now: float) -> list[RegistrarEffect]:
        """Record an OPTIONS outcome; persists the binding only when its reachability changed."""
        b = self.bindings.qualify_done(aor, contact_key, ok, now, self.settings.qualify_interval)
        return [PersistBinding(b)] if b is not None else []

    def remove(self, aor: str, contact_key: str) -> list[RegistrarEffect]:
        """Administrative removal (API)."""
        return [DeleteBinding(aor, contact_key)] if self.bindings.remove(aor, contact_key) else []

    def snapshot(self, now: float) -> list[Binding]:
        return self.bindings.all(now)


__all__ = [
    "DeleteBinding",
    "PersistBinding",
    "QualifyContact",
    "Registrar",
    "RegistrarEffect",
    "RegistrarOutcome",
    "RegistrarSettings",
]
