"""The location store: expiry and qualify as deadlines, lazy heaps, restore after a restart."""

from __future__ import annotations

from dataclasses import replace

from pbx.registrar.bindings import Binding, Bindings, contact_key
from pbx.sip.addr import Addr
from pbx.sip.uri import parse_uri

SRC = Addr("udp", "192.0.2.10", 5062)


def binding(
    aor: str, uri: str, now: float, expires: float, wall: float = 1_700_000_000.0, **kw: object
) -> Binding:
    fields: dict[str, object] = {
        "aor": aor,
        "key": contact_key(parse_uri(uri)),
        "contact": f"<{uri}>",
        "uri": uri,
        "expires_at": now + expires,
        "expires_wall": wall + expires,
        "call_id": "c1",
        "cseq": 1,
        "source": SRC,
        "refreshed_at_wall": wall,
        "registered_at_wall": wall,
    }
    fields.update(kw)
    return Binding(**fields)  # type: ignore[arg-type]


def test_contact_key_normalises() -> None:
    a = contact_key(parse_uri("sip:201@EXAMPLE.com:5060;Transport=UDP;ob"))
    b = contact_key(parse_uri("SIP:201@example.com:5060;ob;transport=udp"))
    assert a == b
    assert contact_key(parse_uri("sip:%32%30%31@h")) == contact_key(parse_uri("sip:201@h"))
    assert contact_key(parse_uri("sip:201@h")) != contact_key(parse_uri("sip:201@h:5060"))
    assert contact_key(parse_uri("sip:201@h")) != contact_key(parse_uri("sip:202@h"))


def test_lookup_excludes_expired_and_timer_removes() -> None:
    s = Bindings()
    s.put(binding("201", "sip:201@192.0.2.10:5062", now=0, expires=60))
    s.put(binding("201", "sip:201@192.0.2.11", now=0, expires=120))
    assert len(s.lookup("201", 59)) == 2
    assert [b.uri for b in s.lookup("201", 60)] == ["sip:201@192.0.2.11"]
    assert s.next_deadline() == 60
    expired = s.on_timer(60)
    assert [b.uri for b in expired] == ["sip:201@192.0.2.10:5062"]
    assert s.next_deadline() == 120
    assert s.on_timer(119) == []
    assert len(s.on_timer(120)) == 1
    assert s.lookup("201", 120) == [] and len(s) == 0 and s.aors() == []
    assert s.next_deadline() is None


def test_refresh_moves_deadline_lazily() -> None:
    s = Bindings()
    b = binding("201", "sip:201@192.0.2.10", now=0, expires=60)
    s.put(b)
    s.put(replace(b, expires_at=110, cseq=2))
    assert s.next_deadline() == 110  # the stale entry at 60 is skipped
    assert s.on_timer(60) == []
    assert len(s.lookup("201", 100)) == 1


def test_lookup_order_q_then_most_recent() -> None:
    s = Bindings()
    s.put(binding("201", "sip:a@h", 0, 100))
    s.put(binding("201", "sip:b@h", 0, 100, q=0.5))
    s.put(binding("201", "sip:c@h", 0, 100))
    assert [b.uri for b in s.lookup("201", 1)] == ["sip:c@h", "sip:a@h", "sip:b@h"]
    assert [b.uri for b in s.current("201")] == ["sip:a@h", "sip:b@h", "sip:c@h"]


def test_many_bindings_and_heap_stays_bounded() -> None:
    s = Bindings()
    n = 10_000
    for i in range(n):
        s.put(
            binding(str(1000 + i), f"sip:{1000 + i}@10.0.{i // 250}.{i % 250}", now=0, expires=3600 + i % 60)
        )
    for r in range(1, 6):  # every phone refreshes five times
        for i in range(n):
            s.put(
                binding(str(1000 + i), f"sip:{1000 + i}@10.0.{i // 250}.{i % 250}", now=r * 60, expires=3600)
            )
    assert len(s) == n
    assert s.heap_sizes[0] <= 2 * n + 1024
    assert len(s.all(3899)) == n and s.all(3900) == []
    assert len(s.on_timer(3600 + 5 * 60)) == n
    assert len(s) == 0


def test_qualify_deadlines() -> None:
    s = Bindings()
    b = binding("201", "sip:201@192.0.2.10", now=0, expires=3600)
    s.put(b, qualify_at=0)
    assert s.next_deadline() == 0
    (due,) = s.due_qualifies(0, interval=60)
    assert due.key == b.key
    assert s.due_qualifies(0, interval=60) == []
    assert s.next_qualify() == 60  # rescheduled in case no result comes back
    changed = s.qualify_done("201", b.key, ok=True, now=2, interval=60)
    assert changed is not None and changed.reachable is True and changed.last_qualified == 2
    assert s.next_qualify() == 62
    assert s.qualify_done("201", b.key, ok=True, now=62, interval=60) is None  # no change
    changed = s.qualify_done("201", b.key, ok=False, now=122, interval=60)
    assert changed is not None and changed.reachable is False
    assert s.lookup("201", 123)[0].reachable is False
    s.remove("201", b.key)
    assert s.next_qualify() is None
    assert s.qualify_done("201", b.key, ok=True, now=130, interval=60) is None


def test_qualify_disabled_interval_zero() -> None:
    s = Bindings()
    s.put(binding("201", "sip:201@h", 0, 100), qualify_at=0)
    assert len(s.due_qualifies(0, interval=0)) == 1
    assert s.next_qualify() is None


def test_load_after_restart() -> None:
    wall0 = 1_700_000_000.0
    old = [
        binding(
            "201", "sip:201@192.0.2.10", now=500, expires=3600, wall=wall0, reachable=True, last_qualified=499
        ),
        binding("202", "sip:202@192.0.2.11", now=500, expires=60, wall=wall0),
    ]
    # the daemon restarts 120 s later; its monotonic clock starts near 0 again
    s = Bindings()
    gone = s.load(old, now=3.0, wall=wall0 + 120, qualify_interval=60)
    assert gone == [old[1]]
    (b,) = s.all(3.0)
    assert b.aor == "201"
    assert b.expires_at == 3.0 + 3600 - 120
    assert b.reachable is None and b.last_qualified is None
    assert s.lookup("202", 3.0) == []
    assert s.next_expiry() == 3.0 + 3480
    assert s.next_qualify() == 3.0 + 60


def test_target_nat_and_third_party() -> None:
    nat = binding("201", "sip:201@10.0.0.5:5060", 0, 60, source=Addr("udp", "198.51.100.7", 40000))
    assert nat.target == Addr("udp", "198.51.100.7", 40000)
    third = binding("201", "sip:201@8.8.8.8:5070;transport=tcp", 0, 60)
    assert third.target == Addr("tcp", "8.8.8.8", 5070)
    over_tcp = binding("201", "sip:201@8.8.8.8", 0, 60, source=Addr("tcp", "192.0.2.1", 33333))
    assert over_tcp.target == over_tcp.source
    named = binding("201", "sip:201@phone.example.com", 0, 60)
    assert named.target == SRC
