"""The JSON log line format (pbx/log.py): one object per line, the event's keys in the order given,
then `event`, `level` and an ISO 8601 UTC `timestamp` with microseconds; exceptions as text."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest

from pbx import log


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    log.setup("debug", file=buf)
    yield buf
    log.setup("info")


def _read(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_keys_order_level_and_timestamp(lines: io.StringIO) -> None:
    lg = log.get("t")
    lg.info("call_started", call_id="abc", caller="201", legs=1, trunk=None)
    lg.warning("ack_timeout", call_id="abc")
    lg.debug("sip_request_in", method="INVITE")
    first, second, third = _read(lines)
    assert list(first) == ["call_id", "caller", "legs", "trunk", "event", "level", "timestamp"]
    assert first["event"] == "call_started" and first["trunk"] is None and first["legs"] == 1
    assert (first["level"], second["level"], third["level"]) == ("info", "warning", "debug")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(first["timestamp"]))


def test_exception_becomes_text_and_odd_values_their_repr(lines: io.StringIO) -> None:
    lg = log.get("t")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        lg.exception("handler_error", call_id="c1", source=object)
    [line] = _read(lines)
    assert line["level"] == "error" and line["call_id"] == "c1"
    assert "ZeroDivisionError: boom" in str(line["exception"]) and "exc_info" not in line
    assert line["source"] == repr(object)


def test_filtered_level_writes_nothing() -> None:
    buf = io.StringIO()
    log.setup("warning", file=buf)
    try:
        lg = log.get("t")
        lg.info("call_started", call_id="x")
        assert buf.getvalue() == "" and not lg.debug_enabled
    finally:
        log.setup("info")
