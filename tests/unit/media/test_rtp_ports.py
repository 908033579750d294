"""RTP port pool: even ports, round robin, exhaustion."""

from __future__ import annotations

import pytest

from pbx.media.ports import PortPool, PortsExhausted


def test_even_ports_round_robin_and_exhaustion() -> None:
    pool = PortPool(10001, 10008)  # even ports 10002, 10004, 10006 (10007 is the last RTCP)
    got = [pool.allocate() for _ in range(3)]
    assert got == [10002, 10004, 10006] and pool.in_use() == 3
    with pytest.raises(PortsExhausted):
        pool.allocate()
    pool.release(10002)
    pool.release(10004)
    assert pool.allocate() == 10002
    pool.release(10006)
    assert pool.allocate() == 10004  # round robin: not the one released last


def test_ports_another_process_holds_are_skipped_and_released_ports_are_unreserved() -> None:
    pool = PortPool(10000, 10008)
    taken = {10000}  # held by someone else
    reserved: list[int] = []
    released: list[int] = []
    pool.reserve = lambda port: port not in taken and not reserved.append(port)  # type: ignore[func-returns-value]
    pool.unreserve = released.append
    assert pool.allocate() == 10002 and pool.busy_skipped == 1
    assert reserved == [10002]
    pool.release(10002)
    assert released == [10002]
