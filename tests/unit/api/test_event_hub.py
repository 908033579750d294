"""The live event hub: wire form of effects, per-subscriber bounded queues, type filters."""

from __future__ import annotations

import asyncio

import pytest

from pbx.acd.effects import AgentChanged
from pbx.api import events as ev
from pbx.api.events import EventHub, to_event
from pbx.calls import CallStarted
from pbx.hotdesk.model import EndReason, SessionEnded
from pbx.media.effects import MediaOpen


def test_wire_form_of_effects() -> None:
    e = to_event(SessionEnded("203", "201", EndReason.LOGOUT, 1.0))
    assert e == {"type": "hotdesk.logout", "user": "203", "device": "201", "reason": "logout", "wall": 1.0}
    started = to_event(CallStarted("c1", "201", "202", 2.0))
    assert started is not None and started["type"] == "call.started" and started["callee"] == "202"
    assert to_event(AgentChanged("202", "available", "idle", None)) == {
        "type": "agent.status", "agent": "202", "chosen": "available", "activity": "idle", "reason": None,
    }  # fmt: skip
    assert to_event(MediaOpen("s", "h", 1, "h", 2, 0, None, "nl")) is None  # not for consoles


def test_slow_subscriber_loses_the_oldest_and_others_are_unaffected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "QUEUE_SIZE", 3)
    hub = EventHub()
    slow, other = hub.subscribe(), hub.subscribe()
    for i in range(5):
        hub.publish({"type": "call.started", "n": i})
    assert [slow.get_nowait()["n"] for _ in range(3)] == [2, 3, 4]
    assert other.qsize() == 3 and hub.dropped == 4 and hub.published == 5


def test_stream_filters_by_type_prefix() -> None:
    hub = EventHub()

    async def run() -> list[str]:
        gen = hub.stream({"hotdesk"}, keepalive=5.0)
        first = await gen.__anext__()
        hub.publish({"type": "call.started", "call_id": "x"})
        hub.publish({"type": "hotdesk.login", "user": "203"})
        second = await asyncio.wait_for(gen.__anext__(), 2.0)
        await gen.aclose()
        return [first, second]

    lines = asyncio.run(run())
    assert lines[0] == ": connected\n\n"
    assert lines[1] == 'event: hotdesk.login\ndata: {"type":"hotdesk.login","user":"203"}\n\n'
    assert hub.subscribers == 0  # closed streams unsubscribe
