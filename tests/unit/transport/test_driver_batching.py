"""The Driver batches store commits and timer re-arms on a running loop, and loses nothing on stop.

No sleeping: the loop's callbacks run in FIFO order, so awaiting a future that a call_soon
callback completes proves every callback scheduled before it has run.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sipclient import do_register

from pbx.clock import FakeClock
from pbx.config import load_config
from pbx.core import PbxCore
from pbx.runtime import AllowList, Driver
from pbx.sip.addr import Addr
from pbx.store.sqlite import Store

ROOT = Path(__file__).parents[3]


def _setup(tmp_path: Path) -> tuple[PbxCore, FakeClock, Store, Driver]:
    cfg = load_config(ROOT / "config")
    clock = FakeClock()
    core = PbxCore(cfg, clock.now(), clock.wall())
    store = Store(tmp_path / "pbx.sqlite3", cfg.node.id)
    return core, clock, store, Driver(core, clock, store, AllowList(cfg.sip.allowed_destinations))


def _committed_bindings(tmp_path: Path) -> int:
    """Rows another connection sees: only committed ones."""
    with sqlite3.connect(tmp_path / "pbx.sqlite3") as db:
        (n,) = db.execute("SELECT COUNT(*) FROM state WHERE kind = 'binding'").fetchone()
    return int(n)


async def _callbacks_so_far() -> None:
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.set_result, None)
    await fut


def test_without_a_loop_every_step_commits(tmp_path: Path) -> None:
    core, clock, store, driver = _setup(tmp_path)
    driver.execute(do_register(core, clock, "201", "secret201"))
    assert _committed_bindings(tmp_path) == 1
    store.close()


def test_on_a_loop_the_commit_waits_and_stop_flushes(tmp_path: Path) -> None:
    core, clock, store, driver = _setup(tmp_path)

    async def go() -> None:
        driver.execute(do_register(core, clock, "201", "secret201"))
        # written into the open transaction, its commit scheduled for the end of the burst
        assert store.in_transaction and _committed_bindings(tmp_path) == 0
        assert len(store.load("binding")) == 1  # the daemon's own connection sees it
        driver.stop()  # SIGTERM path: nothing pending survives only in memory
        assert not store.in_transaction and _committed_bindings(tmp_path) == 1

    asyncio.run(go())
    store.close()


def test_store_close_commits_pending_writes(tmp_path: Path) -> None:
    core, clock, store, driver = _setup(tmp_path)

    async def go() -> None:
        driver.execute(do_register(core, clock, "201", "secret201"))
        assert _committed_bindings(tmp_path) == 0

    asyncio.run(go())
    store.close()
    assert _committed_bindings(tmp_path) == 1


def test_rearm_once_per_batch_of_datagrams(tmp_path: Path) -> None:
    core, _, store, driver = _setup(tmp_path)
    asked: list[float | None] = []
    next_deadline = core.next_deadline

    def counting() -> float | None:
        d = next_deadline()
        asked.append(d)
        return d

    core.next_deadline = counting  # type: ignore[method-assign]
    phone = Addr("udp", "127.0.0.1", 5070)

    def options(i: int) -> bytes:
        return (
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt{i};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:201@127.0.0.1>;tag=a\r\nTo: <sip:pbx@127.0.0.1>\r\n"
            f"Call-ID: opt-{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    async def go() -> None:
        for i in range(3):  # three datagrams delivered in one loop iteration
            driver.feed(options(i), phone)
        assert asked == []
        await _callbacks_so_far()
        assert len(asked) == 1 and asked[0] is not None  # armed at the transactions' Timer J
        # the next batch within TIMER_SLACK (the fake clock has not moved) waits for it to pass
        driver.feed(options(3), phone)
        await _callbacks_so_far()
        assert len(asked) == 1
        driver.stop()

    asyncio.run(go())
    store.close()
