"""Flood and brute-force protection: per-source rate limits, auth-failure bans (SPEC section 2).

How it works (what fail2ban + Kamailio's pike/htable give an operator, in one pure object):
- `allow(ip, now)` is asked for every incoming message. A banned source is dropped. Otherwise a
  token bucket per source (capacity and refill = `requests_per_second`) is charged one token; an
  empty bucket means a flood, and the source is banned.
- `auth_failed(ip, account, now)` is told of every failed digest check (the AuthResult failures,
  not MISSING/STALE). A source with `auth_failures_before_ban` failures within `failure_window`
  seconds is banned. Failures are also counted per account, for metrics and the API (an account
  attacked from many sources shows up there; each source is still banned on its own count).
- Trusted networks are never banned nor rate limited.
- Memory is bounded under a flood of random (spoofed) sources: per-source and per-account state
  lives in LRU-ordered dicts capped at `max_tracked`, the least recently seen evicted first; idle
  entries are forgotten by `on_timer` (a full bucket and no recent failures carry no information).
- Bans expire through a min-heap of (until, ip) with lazy deletion; `next_deadline()` is the
  earliest of the next ban expiry and the next idle sweep.
Times are monotonic seconds; the shell converts `Ban.since/until` to wall time for display.
"""

from __future__ import annotations

import enum
import heapq
import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_V = TypeVar("_V")


class BanReason(enum.Enum):
    AUTH_FAILURES = "auth_failures"
    FLOOD = "flood"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Ban:
    ip: str
    reason: BanReason
    since: float  # monotonic
    until: float  # monotonic


@dataclass(slots=True)
class _Source:
    tokens: float
    stamp: float  # last refill time
    failures: deque[float]  # times of recent auth failures (at most the threshold)


class Guard:
    def __init__(
        self,
        auth_failures_before_ban: int = 20,
        failure_window: float = 60,
        requests_per_second: float = 500,
        ban_seconds: float = 600,
        trusted: Iterable[IpNetwork | str] = (),
        max_tracked: int = 100_000,
    ) -> None:
        self.threshold = auth_failures_before_ban
        self.window = failure_window
        self.rate = requests_per_second
        self.ban_seconds = ban_seconds
        self.trusted: tuple[IpNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        self.max_tracked = max_tracked
        # An idle source is forgotten once its bucket is full again and its failures are outside
        # the window: it then looks exactly like an unknown source.
        self._idle = max(self.window, 1.0)
        self._sources: OrderedDict[str, _Source] = OrderedDict()  # least recently seen first
        self._accounts: OrderedDict[str, deque[float]] = OrderedDict()
        self._bans: dict[str, Ban] = {}
        self._ban_heap: list[tuple[float, str]] = []
        self._trusted_cache: OrderedDict[str, bool] = OrderedDict()
        # metrics-friendly counters (monotonic totals)
        self.bans_total = 0
        self.bans_by_reason: dict[BanReason, int] = dict.fromkeys(BanReason, 0)
        self.dropped_total = 0
        self.auth_failures_total = 0
        self.evicted_total = 0

    # --- inputs -------------------------------------------------------------------------------

    def is_trusted(self, ip: str) -> bool:
        if not self.trusted:
            return False
        hit = self._trusted_cache.get(ip)
        if hit is None:
            hit = self._check_trusted(ip)
            self._trusted_cache[ip] = hit
            if len(self._trusted_cache) > 4096:
                self._trusted_cache.popitem(last=False)
        return hit

    def _check_trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in n for n in self.trusted)

    def allow(self, source_ip: str, now: float) -> bool:
        """May a message from this source be processed? False while banned or flooding."""
        ban = self._bans.get(source_ip)
        if ban is not None:
            if ban.until > now:
                self.dropped_total += 1
                return False
            self._unban(source_ip)
        if self.rate <= 0 or self.is_trusted(source_ip):
            return True
        s = self._touch(source_ip, now)
        s.tokens = min(self.rate, s.tokens + (now - s.stamp) * self.rate)
        s.stamp = now
        if s.tokens < 1.0:
            self._ban(source_ip, BanReason.FLOOD, now)
            self.dropped_total += 1
            return False
        s.tokens -= 1.0
        return True

    def auth_failed(self, source_ip: str, account: str | None, now: float) -> bool:
        """Count one failed authentication; True if it caused a new ban of the source."""
        self.auth_failures_total += 1
        if account is not None:
            times = self._accounts.pop(account, None)
            if times is None:
                times = deque(maxlen=10_000)
            times.append(now)
            self._accounts[account] = times
            self._cap(self._accounts)
        if self.threshold <= 0 or self.is_trusted(source_ip) or source_ip in self._bans:
            return False
        s = self._touch(source_ip, now)
        s.failures.append(now)
        if len(s.failures) >= self.threshold and now - s.failures[0] <= self.window:
            self._ban(source_ip, BanReason.AUTH_FAILURES, now)
            return True
        return False

    def ban(self, ip: str, now: float, seconds: float | None = None) -> Ban | None:
        """Ban by hand (API). Trusted addresses cannot be banned: returns None."""
        if self.is_trusted(ip):
            return None
        return self._ban(ip, BanReason.MANUAL, now, seconds)

    def lift(self, ip: str) -> bool:
        """Lift a ban (API); the source starts again with a clean slate."""
        if ip not in self._bans:
            return False
        self._unban(ip)
        return True

    # --- queries ------------------------------------------------------------------------------

    def bans(self, now: float) -> list[Ban]:
        return sorted((b for b in self._bans.values() if b.until > now), key=lambda b: b.since)

    def is_banned(self, ip: str, now: float) -> bool:
        b = self._bans.get(ip)
        return b is not None and b.until > now

    def account_failures(self, account: str, now: float) -> int:
        """Failed authentications for this account within the failure window."""
        times = self._accounts.get(account)
        return 0 if times is None else sum(1 for t in times if now - t <= self.window)

    def accounts_under_attack(self, now: float, minimum: int | None = None) -> dict[str, int]:
        """Accounts with at least `minimum` (default: the ban threshold) recent failures."""
        m = self.threshold if minimum is None else minimum
        out = {a: self.account_failures(a, now) for a in self._accounts}
        return {a: n for a, n in out.items() if n >= m}

    @property
    def tracked(self) -> int:
        return len(self._sources) + len(self._accounts) + len(self._bans)

    # --- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        self._drop_stale_heap()
        ds: list[float] = []
        if self._ban_heap:
            ds.append(self._ban_heap[0][0])
        if self._sources:
            ds.append(next(iter(self._sources.values())).stamp + self._idle)
        if self._accounts:
            ds.append(next(iter(self._accounts.values()))[-1] + self.window)
        return min(ds) if ds else None

    def on_timer(self, now: float) -> list[Ban]:
        """Expire due bans (returned, for logs and events) and forget idle counters."""
        expired: list[Ban] = []
        while self._ban_heap and self._ban_heap[0][0] <= now:
            until, ip = heapq.heappop(self._ban_heap)
            b = self._bans.get(ip)
            if b is not None and b.until == until:
                del self._bans[ip]
                expired.append(b)
        while self._sources:
            ip, s = next(iter(self._sources.items()))
            if s.stamp + self._idle > now:  # failures are recorded at touches, so none is recent
                break
            del self._sources[ip]
        while self._accounts:
            acc, times = next(iter(self._accounts.items()))
            if times[-1] + self.window > now:
                break
            del self._accounts[acc]
        return expired

    # --- internals ----------------------------------------------------------------------------

    def _touch(self, ip: str, now: float) -> _Source:
        s = self._sources.pop(ip, None)
        if s is None:
            s = _Source(float(self.rate), now, deque(maxlen=max(self.threshold, 1)))
        self._sources[ip] = s  # most recently seen last
        self._cap(self._sources)
        return s

    def _cap(self, d: OrderedDict[str, _V]) -> None:
        while len(d) > self.max_tracked:
            d.popitem(last=False)
            self.evicted_total += 1

    def _ban(self, ip: str, reason: BanReason, now: float, seconds: float | None = None) -> Ban:
        until = now + (self.ban_seconds if seconds is None else seconds)
        b = Ban(ip, reason, now, until)
        self._bans[ip] = b
        heapq.heappush(self._ban_heap, (until, ip))
        if len(self._ban_heap) > 2 * len(self._bans) + 1024:
            self._ban_heap = [(x.until, x.ip) for x in self._bans.values()]
            heapq.heapify(self._ban_heap)
        self._sources.pop(ip, None)
        self.bans_total += 1
        self.bans_by_reason[reason] += 1
        while len(self._bans) > self.max_tracked:  # keep the newest bans
            oldest = next(iter(self._bans))
            del self._bans[oldest]
            self.evicted_total += 1
        return b

    def _unban(self, ip: str) -> None:
        self._bans.pop(ip, None)
        self._sources.pop(ip, None)

    def _drop_stale_heap(self) -> None:
        h = self._ban_heap
        while h:
            until, ip = h[0]
            b = self._bans.get(ip)
            if b is not None and b.until == until:
                return
            heapq.heappop(h)
