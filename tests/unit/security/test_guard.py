"""Flood and brute-force protection, with time as numbers."""

from __future__ import annotations

import ipaddress

from pbx.security import Ban, BanReason, Guard

ATTACKER = "203.0.113.66"


def test_ban_after_n_auth_failures_within_window() -> None:
    g = Guard(auth_failures_before_ban=5, failure_window=60, ban_seconds=600)
    for i in range(4):
        assert g.auth_failed(ATTACKER, "201", now=i) is False
        assert g.allow(ATTACKER, now=i)
    assert g.auth_failed(ATTACKER, "202", now=4) is True
    assert not g.allow(ATTACKER, now=5)
    assert g.bans(5) == [Ban(ATTACKER, BanReason.AUTH_FAILURES, 4, 604)]
    assert g.bans_total == 1 and g.dropped_total == 1
    assert g.auth_failed(ATTACKER, "201", now=6) is False  # already banned: no new ban
    assert g.account_failures("201", now=6) == 5 and g.account_failures("202", now=6) == 1


def test_failures_spread_beyond_the_window_do_not_ban() -> None:
    g = Guard(auth_failures_before_ban=3, failure_window=60)
    assert not any(g.auth_failed(ATTACKER, None, now=t) for t in (0, 40, 80, 120, 160, 200))
    assert g.bans(200) == []


def test_ban_expires_and_timer_reports_it() -> None:
    g = Guard(auth_failures_before_ban=1, ban_seconds=600)
    assert g.auth_failed(ATTACKER, "201", now=100)
    assert g.next_deadline() == 160  # forgetting idle account counters comes first
    assert g.on_timer(160) == []
    assert g.next_deadline() == 700
    assert not g.allow(ATTACKER, now=699)
    (ban,) = g.on_timer(700)
    assert ban.ip == ATTACKER and ban.until == 700
    assert g.allow(ATTACKER, now=700)
    assert g.bans(700) == []


def test_expired_ban_lets_through_even_before_the_timer_runs() -> None:
    g = Guard(auth_failures_before_ban=1, ban_seconds=10)
    g.auth_failed(ATTACKER, None, now=0)
    assert not g.allow(ATTACKER, 9.9)
    assert g.allow(ATTACKER, 10)


def test_lift() -> None:
    g = Guard(auth_failures_before_ban=2)
    g.auth_failed(ATTACKER, None, 0)
    g.auth_failed(ATTACKER, None, 1)
    assert g.is_banned(ATTACKER, 1)
    assert g.lift(ATTACKER) is True
    assert g.lift(ATTACKER) is False
    assert g.allow(ATTACKER, 2)
    assert g.auth_failed(ATTACKER, None, 2) is False  # counters were reset with the lift
    assert g.on_timer(10_000) == []  # the lifted ban's heap entry is ignored


def test_trusted_never_banned() -> None:
    g = Guard(
        auth_failures_before_ban=1,
        requests_per_second=2,
        trusted=[ipaddress.ip_network("10.0.0.0/8"), "2001:db8::/32"],
    )
    for t in range(100):
        assert g.auth_failed("10.1.2.3", "201", now=t) is False
        assert g.allow("10.1.2.3", now=t)
    assert all(g.allow("2001:db8::1", now=0) for _ in range(100))
    assert all(g.allow("::ffff:10.9.9.9", now=0) for _ in range(100))  # IPv4-mapped
    assert g.ban("10.1.2.3", now=0) is None
    assert g.bans(100) == []
    assert g.account_failures("201", now=99) == 61  # still counted for the account (39..99)


def test_flood_bans_the_source() -> None:
    g = Guard(requests_per_second=10, ban_seconds=60)
    assert all(g.allow(ATTACKER, now=0.0) for _ in range(10))
    assert g.allow(ATTACKER, now=0.0) is False
    (ban,) = g.bans(0.0)
    assert ban.reason is BanReason.FLOOD and ban.until == 60
    assert not g.allow(ATTACKER, now=30)
    assert g.dropped_total == 2
    assert g.bans_by_reason[BanReason.FLOOD] == 1


def test_steady_rate_below_the_limit_is_fine() -> None:
    g = Guard(requests_per_second=10)
    assert all(g.allow("198.51.100.1", now=i * 0.1) for i in range(1000))
    assert g.bans(100) == []


def test_manual_ban() -> None:
    g = Guard()
    b = g.ban(ATTACKER, now=5, seconds=30)
    assert b == Ban(ATTACKER, BanReason.MANUAL, 5, 35)
    assert not g.allow(ATTACKER, 6)
    assert g.on_timer(35) == [b]


def test_memory_bounded_under_random_sources() -> None:
    g = Guard(auth_failures_before_ban=3, max_tracked=1000)
    for i in range(50_000):
        ip = str(ipaddress.IPv4Address(0x0A000000 + i + 0x01000000))
        g.allow(ip, now=i * 0.001)
        g.auth_failed(ip, f"user{i}", now=i * 0.001)
    assert len(g._sources) <= 1000 and len(g._accounts) <= 1000  # bounded, whatever the flood
    assert g.evicted_total > 0
    # idle state is forgotten by the timer
    t = 1000.0
    while (d := g.next_deadline()) is not None and d <= t:
        g.on_timer(d)
    assert g.tracked == 0


def test_next_deadline_none_when_idle() -> None:
    g = Guard()
    assert g.next_deadline() is None
    g.allow("198.51.100.1", 0)
    assert g.next_deadline() == 60
    assert g.on_timer(60) == [] and g.next_deadline() is None
