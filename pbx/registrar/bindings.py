"""The location store: AOR -> contact bindings, with expiry and qualify as deadlines (RFC 3261 10.3).

How it works: bindings live in a dict per AOR, keyed by `contact_key` (the contact URI normalised
for comparison, RFC 3261 19.1.4 simplified) and kept in refresh order, so the first one is the
least recently refreshed (the one a full account gives up, SPEC section 2). Two min-heaps of
(deadline, seq, aor, key) drive time: one for expiry, one for the next qualify (OPTIONS ping).
Heap entries are never removed in place (lazy deletion): an entry is acted on only if the binding
still has that deadline. When stale entries outnumber live ones the heaps are rebuilt, so memory
stays O(bindings) whatever the refresh rate, and each operation is O(log n).

Monotonic `expires_at` drives the timers; `expires_wall` (epoch) is what persistence keeps, so
`load()` can rebuild monotonic deadlines after a restart.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import unquote

from pbx.sip.addr import Addr
from pbx.sip.uri import Uri, parse_uri

_KEYS: dict[str, str] = {}  # URI text -> contact_key: the same phones refresh again and again


def contact_key(uri: Uri) -> str:
    """A comparison key for a contact URI (RFC 3261 19.1.4, simplified).

    Scheme and host are case-insensitive, the user is compared unescaped, a missing port is not
    the default port's equal (per the RFC), parameter names are case-insensitive and their order
    does not matter. Non-SIP URIs compare by their text.
    """
    key = _KEYS.get(uri.text)
    if key is None:
        key = _contact_key(uri)
        if len(uri.text) <= 256:
            if len(_KEYS) >= 4096:
                _KEYS.clear()
            _KEYS[uri.text] = key
    return key


def _contact_key(uri: Uri) -> str:
    if not uri.is_sip:
        return uri.text
    user = unquote(uri.user) if uri.user is not None else ""
    port = "" if uri.port is None else str(uri.port)
    params = ";".join(sorted(f"{k.lower()}={(v or '').lower()}" for k, v in uri.params))
    return f"{uri.scheme}:{user}@{uri.host_key}:{port};{params}?{uri.headers}"


@dataclass(frozen=True, slots=True)
class Binding:
    aor: str  # the To user, e.g. "201"
    key: str  # contact_key(uri): identity of the binding within the AOR
    contact: str  # Contact value as received (name-addr form, without `expires`), rendered back as is
    uri: str  # the contact URI text
    expires_at: float  # monotonic
    expires_wall: float  # epoch seconds, for persistence across restarts
    call_id: str
    cseq: int
    source: Addr  # where the REGISTER came from (received/rport): the way back through NAT
    q: float | None = None
    instance: str | None = None  # +sip.instance, quotes removed (RFC 5626 section 4.2)
    reg_id: int | None = None
    user_agent: str | None = None
    path: tuple[str, ...] = ()
    registered_at_wall: float = 0.0  # first registration of this contact
    refreshed_at_wall: float = 0.0  # last REGISTER that (re)set it
    reachable: bool | None = None  # None: not qualified yet
    last_qualified: float | None = None  # monotonic

    def remaining(self, now: float) -> float:
        return max(0.0, self.expires_at - now)

    @property
    def target(self) -> Addr:
        """Where to send requests for this binding.

        The source address: behind NAT only it reaches the phone (what Kamailio's
        fix_nated_register and Asterisk's force_rport do), and over TCP the shell maps it to the
        phone's connection. Only a third-party registration, a contact naming a public IP
        literal other than the source, is sent to the contact itself.
        """
        if self.source.reliable:
            return self.source
        u = parse_uri(self.uri)
        if u.bare_host == self.source.host:
            return self.source  # the usual case, without parsing an address
        try:
            ip = ipaddress.ip_address(u.bare_host)
        except ValueError:
            return self.source
        if ip.is_global and str(ip) != self.source.host:
            return Addr(u.transport, str(ip), u.port or 5060)
        return self.source


class Bindings:
    def __init__(self) -> None:
        self._aors: dict[str, dict[str, Binding]] = {}
        self._qdue: dict[tuple[str, str], float] = {}  # next qualify time per binding
        self._expiry: list[tuple[float, int, str, str]] = []
        self._qualify: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._count = 0

    # --- queries ------------------------------------------------------------------------------

    def get(self, aor: str, key: str) -> Binding | None:
        c = self._aors.get(aor)
        return c.get(key) if c else None

    def current(self, aor: str) -> list[Binding]:
        """Every stored binding of an AOR in refresh order (oldest first), expired or not."""
        c = self._aors.get(aor)
        return list(c.values()) if c else []

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings of an AOR, highest q first, then most recently refreshed first."""
        c = self._aors.get(aor)
        if not c:
            return []
        live = [b for b in c.values() if b.expires_at > now]
        if len(live) > 1:
            live.reverse()
            live.sort(key=lambda b: -(b.q if b.q is not None else 1.0))
        return live

    def all(self, now: float) -> list[Binding]:
        return [b for c in self._aors.values() for b in c.values() if b.expires_at > now]

    def aors(self) -> list[str]:
        return list(self._aors)

    def __len__(self) -> int:
        return self._count

    # --- changes ------------------------------------------------------------------------------

    def put(self, b: Binding, qualify_at: float | None = None) -> None:
        """Add or replace a binding; it moves to the end of its AOR's refresh order."""
        c = self._aors.setdefault(b.aor, {})
        if c.pop(b.key, None) is None:
            self._count += 1
        c[b.key] = b
        heapq.heappush(self._expiry, (b.expires_at, next(self._seq), b.aor, b.key))
        if qualify_at is not None:
            self._schedule_qualify(b.aor, b.key, qualify_at)
        self._maybe_compact()

    def update(self, b: Binding) -> None:
        """Replace a binding's fields (reachability) without touching order or deadlines."""
        c = self._aors.get(b.aor)
        if c is not None and b.key in c:
            c[b.key] = b

    def remove(self, aor: str, key: str) -> Binding | None:
        c = self._aors.get(aor)
        if not c:
            return None
        b = c.pop(key, None)
        if b is not None:
            self._count -= 1
            self._qdue.pop((aor, key), None)
            if not c:
                del self._aors[aor]
        return b

    def load(
        self, bindings: Iterable[Binding], now: float, wall: float, qualify_interval: float = 0
    ) -> list[Binding]:
        """Restore persisted bindings after a restart: monotonic deadlines from `expires_wall`.

        Already expired ones are dropped and returned (so the store can delete them).
        Reachability is unknown again, and qualifies are spread over one interval so a restart
        does not ping every phone at once.
        """
        given = list(bindings)
        live = sorted((b for b in given if b.expires_wall > wall), key=lambda b: b.refreshed_at_wall)
        for i, b in enumerate(live):
            restored = replace(
                b, expires_at=now + (b.expires_wall - wall), reachable=None, last_qualified=None
            )
            q = now + qualify_interval * (i + 1) / len(live) if qualify_interval > 0 else None
            self.put(restored, qualify_at=q)
        return [b for b in given if b.expires_wall <= wall]

    # --- expiry -------------------------------------------------------------------------------

    def next_expiry(self) -> float | None:
        self._drop_stale_expiry()
        return self._expiry[0][0] if self._expiry else None

    def next_qualify(self) -> float | None:
        self._drop_stale_qualify()
        return self._qualify[0][0] if self._qualify else None

    def next_deadline(self) -> float | None:
        ds = [d for d in (self.next_expiry(), self.next_qualify()) if d is not None]
        return min(ds) if ds else None

    def on_timer(self, now: float) -> list[Binding]:
        """Remove and return the bindings whose expiry has come (at or before `now`)."""
        out: list[Binding] = []
        while self._expiry and self._expiry[0][0] <= now:
            t, _, aor, key = heapq.heappop(self._expiry)
            b = self.get(aor, key)
            if b is not None and b.expires_at == t:
                self.remove(aor, key)
                out.append(b)
        return out

    def _drop_stale_expiry(self) -> None:
        h = self._expiry
        while h:
            t, _, aor, key = h[0]
            b = self.get(aor, key)
            if b is not None and b.expires_at == t:
                return
            heapq.heappop(h)

    # --- qualify ------------------------------------------------------------------------------

    def _schedule_qualify(self, aor: str, key: str, at: float) -> None:
        self._qdue[(aor, key)] = at
        heapq.heappush(self._qualify, (at, next(self._seq), aor, key))

    def due_qualifies(self, now: float, interval: float) -> list[Binding]:
        """Bindings whose qualify is due. Each is rescheduled `interval` later (in case no result
        ever comes back); `qualify_done` reschedules from the time of the result."""
        out: list[Binding] = []
        while self._qualify and self._qualify[0][0] <= now:
            t, _, aor, key = heapq.heappop(self._qualify)
            b = self.get(aor, key)
            if b is None or self._qdue.get((aor, key)) != t:
                continue
            if b.expires_at > now:
                out.append(b)
            if interval > 0:
                self._schedule_qualify(aor, key, now + interval)
            else:
                del self._qdue[(aor, key)]
        self._maybe_compact()
        return out

    def qualify_done(self, aor: str, key: str, ok: bool, now: float, interval: float) -> Binding | None:
        """Record a qualify result; returns the updated binding if reachability changed."""
        b = self.get(aor, key)
        if b is None:
            return None
        changed = b.reachable is not ok
        nb = replace(b, reachable=ok, last_qualified=now)
        self._aors[aor][key] = nb
        if interval > 0:
            self._schedule_qualify(aor, key, now + interval)
            self._maybe_compact()
        return nb if changed else None

    def _drop_stale_qualify(self) -> None:
        h = self._qualify
        while h:
            t, _, aor, key = h[0]
            if self._qdue.get((aor, key)) == t:
                return
            heapq.heappop(h)

    def _maybe_compact(self) -> None:
        if len(self._expiry) > 2 * self._count + 1024:
            self._expiry = [
                (b.expires_at, next(self._seq), b.aor, b.key) for c in self._aors.values() for b in c.values()
            ]
            heapq.heapify(self._expiry)
        if len(self._qualify) > 2 * len(self._qdue) + 1024:
            self._qualify = [(t, next(self._seq), a, k) for (a, k), t in self._qdue.items()]
            heapq.heapify(self._qualify)

    @property
    def heap_sizes(self) -> tuple[int, int]:
        return len(self._expiry), len(self._qualify)
