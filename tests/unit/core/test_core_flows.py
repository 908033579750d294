"""The whole PBX core without sockets: bytes in, effects out, time passed in (FakeClock)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sipclient import PHONE, answer, do_register, register, responses

from pbx.clock import FakeClock
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.registrar.registrar import DeleteBinding, PersistBinding
from pbx.sip.addr import Addr

ROOT = Path(__file__).parents[3]
FIX = ROOT / "tests" / "fixtures"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def core(clock: FakeClock) -> PbxCore:
    return PbxCore(load_config(ROOT / "config"), clock.now(), clock.wall())


def test_register_persists_and_expires(core: PbxCore, clock: FakeClock) -> None:
    effects = do_register(core, clock, "201", "secret201", expires=120)
    [ok] = responses(effects)
    assert ok.status == 200
    assert "expires=120" in (ok.headers.get("contact") or "")
    assert any(isinstance(e, PersistBinding) for e in effects)
    assert core.presence(clock.now())[0][2] == 1
    # nothing happens before the deadline; at expiry the binding goes and is deleted from the store
    deadline = core.next_deadline()
    assert deadline is not None
    while (d := core.next_deadline()) is not None and d <= clock.now() + 120:
        clock.set(d)
        out = core.on_timer(clock.now(), clock.wall())
        if any(isinstance(e, DeleteBinding) for e in out):
            break
    assert clock.now() == pytest.approx(1000 + 120)
    assert core.presence(clock.now())[0][2] == 0


def test_wrong_password_counts_and_bans(core: PbxCore, clock: FakeClock) -> None:
    attacker = Addr("udp", "127.0.0.9", 5070)
    for i in range(25):
        first = core.receive(register("201", 1, f"x{i}"), attacker, clock.now(), clock.wall())
        if not responses(first):
            break
        auth = answer(responses(first)[0].headers.get("www-authenticate") or "", "201", f"guess{i}")
        out = core.receive(register("201", 2, f"y{i}", auth=auth), attacker, clock.now(), clock.wall())
        assert all(r.status == 401 for r in responses(out))
    assert [b.ip for b in core.guard.bans(clock.now())] == ["127.0.0.9"]
    assert core.receive(register("201", 1, "z"), attacker, clock.now(), clock.wall()) == []
    assert core.lift_ban("127.0.0.9")
    assert responses(core.receive(register("201", 1, "z"), attacker, clock.now(), clock.wall()))


def test_unknown_and_known_user_get_the_same_challenge(core: PbxCore, clock: FakeClock) -> None:
    def shape(user: str) -> list[tuple[str, str]]:
        [r] = responses(core.receive(register(user, 1, f"b{user}"), PHONE, clock.now(), clock.wall()))
        return [
            (k, re.sub(r'(nonce|tag)="?[^";,]+', r"\1=X", v)) for k, v in r.headers if k not in ("call-id",)
        ]

    known, unknown = shape("201"), shape("999")
    assert [(k, v.replace("201", "U")) for k, v in known] == [(k, v.replace("999", "U")) for k, v in unknown]


# Application-level answers to the well-formed RFC 4475 messages (parse-level ones are in
# tests/unit/sip/test_parser.py). None: no answer at all.
APP = {
    "unkscm": 416, "novelsc": 416, "bext01": 420, "invut": 415, "regaut01": 401, "sdp01": 406,
    "zeromf": 200, "cparam01": 401, "cparam02": 401, "regescrt": 401, "inv2543": 407,
    "badbranch": 200, "unksm2": 401, "wsinv": 407, "intmeth": 501, "esc02": 501, "escnull": 401,
    "lwsdisp": 200, "semiuri": 200, "transports": 200, "mpart01": 405, "longreq": 407, "dblreq": 401,
    "esc01": 407, "bcast": None, "unreason": None, "noreason": None,
    # badinv01's only Via is itself malformed: there is no address to answer, so it is dropped
    "badinv01": None, "clerr": 400, "ncl": 400, "scalar02": 400, "quotbal": 400, "ltgtruri": 400,
    "lwsruri": 400, "lwsstart": 400, "escruri": 400, "baddate": 400, "regbadct": 400,
    "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
    "multi01": 400, "mcl01": 400, "insuf": 400, "trws": 400, "scalarlg": None, "bigcode": None,
}  # fmt: skip


@pytest.mark.parametrize("name, status", sorted(APP.items()))
def test_rfc4475_answers(core: PbxCore, clock: FakeClock, name: str, status: int | None) -> None:
    data = (FIX / "rfc4475" / f"{name}.dat").read_bytes()
    out = core.receive(data, PHONE, clock.now(), clock.wall())
    got = responses(out)
    if status is None:
        assert got == []
    else:
        assert [r.status for r in got] == [status]
        r = got[0]
        if status == 420:
            assert "nothingSupportsThis" in (r.headers.get("unsupported") or "")
        if status in (415, 406):
            assert r.headers.get("accept") == "application/sdp"
    # no response names a version, and the core keeps serving
    assert all(not re.search(r"\d+\.\d+", r.headers.get("server") or "") for r in got)
    opts = (FIX / "rfc4475" / "zeromf.dat").read_bytes().replace(b"zeromf.", b"after.")
    assert [r.status for r in responses(core.receive(opts, PHONE, clock.now(), clock.wall()))] == [200]


def test_retransmitted_register_absorbed(core: PbxCore, clock: FakeClock) -> None:
    data = register("202", 1, "rt")
    a = responses(core.receive(data, PHONE, clock.now(), clock.wall()))
    b = responses(core.receive(data, PHONE, clock.now(), clock.wall()))
    assert a[0].status == 401 and b[0].status == 401
    assert a[0].headers.get("www-authenticate") == b[0].headers.get("www-authenticate")
    assert core.tx.stats.retransmissions_absorbed == 1
