"""HistoryRecorder with hand-made call events: which rows a call gives, and their fields."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pbx.calls.call import CallAnswered, CallEnded, CallRejected, CallRinging, CallStarted
from pbx.config import load_config
from pbx.history import (
    ConfigDirectory,
    HistoryRecorder,
    HistoryRow,
    PersistHistory,
    decode_cursor,
    encode_cursor,
    result_of,
)
from pbx.stats import CallStats

ROOT = Path(__file__).parents[3]
T0 = 1_800_000_000.0


@pytest.fixture
def rec() -> HistoryRecorder:
    cfg = load_config(ROOT / "config")
    return HistoryRecorder(ConfigDirectory(lambda: cfg), CallStats())


def rows(effects: list[PersistHistory]) -> dict[tuple[str, str], HistoryRow]:
    return {(p.row.user, p.row.direction): p.row for p in effects}


def started(call_id: str = "c1", caller: str = "201", callee: str = "202", **kw: object) -> CallStarted:
    fields: dict[str, object] = {"caller_device": caller, "users": (callee,), "devices": (callee,)}
    fields.update(kw)
    return CallStarted(call_id, caller, callee, T0, **fields)  # type: ignore[arg-type]


def test_internal_answered_call_gives_out_and_in_rows(rec: HistoryRecorder) -> None:
    assert rec.observe(started()) == []
    assert rec.observe(CallRinging("c1", "202", T0 + 0.2, 0.2)) == []
    assert rec.observe(CallAnswered("c1", "202", T0 + 5, 5.0)) == []
    out = rows(rec.observe(CallEnded("c1", "caller_hangup", T0 + 65)))
    assert set(out) == {("201", "out"), ("202", "in")}
    caller, callee = out["201", "out"], out["202", "in"]
    assert (caller.other_number, caller.other_name, caller.device) == ("202", "Bram Jansen", "201")
    assert (callee.other_number, callee.other_name, callee.device) == ("201", "Anna de Vries", "202")
    for r in (caller, callee):
        assert (r.start, r.answer, r.end, r.duration) == (T0, T0 + 5, T0 + 65, 60.0)
        assert (r.result, r.queue_wait, r.did, r.recorded) == ("answered", None, None, False)
        assert r.call_id == "c1"
    assert caller.id != callee.id
    assert rec.open_calls() == 0


def test_forked_call_names_the_device_that_answered(rec: HistoryRecorder) -> None:
    # 205 has a desk phone and a softphone (a device with a fixed user)
    cfg = load_config(ROOT / "config")
    devices = cfg.model_copy(update={"devices": (*cfg.devices, cfg.devices[4].model_copy(
        update={"username": "205-soft", "user": "205"}))})  # fmt: skip
    devices.model_post_init(None)  # model_copy does not rebuild the lookup tables
    rec = HistoryRecorder(ConfigDirectory(lambda: devices))
    rec.observe(started(callee="205", users=("205",), devices=("205", "205-soft")))
    rec.observe(CallAnswered("c1", "205-soft", T0 + 3, 3.0))
    out = rows(rec.observe(CallEnded("c1", "callee_hangup", T0 + 10)))
    assert out["205", "in"].device == "205-soft" and out["205", "in"].duration == 7.0


@pytest.mark.parametrize(
    "reason, rang, result",
    [
        ("no_answer", True, "no_answer"),
        ("busy", True, "busy"),
        ("declined", False, "declined"),
        ("cancelled", True, "cancelled"),
        ("api_hangup", False, "cancelled"),
        ("unavailable", True, "no_answer"),
        ("unavailable", False, "failed"),
        ("failed_488", False, "rejected:488"),
        ("not_found", False, "rejected:404"),
        ("something_new", False, "failed"),
    ],
)
def test_unanswered_results(rec: HistoryRecorder, reason: str, rang: bool, result: str) -> None:
    rec.observe(started())
    if rang:
        rec.observe(CallRinging("c1", "202", T0 + 0.1, 0.1))
    out = rows(rec.observe(CallEnded("c1", reason, T0 + 20)))
    assert {r.result for r in out.values()} == {result}
    missed = out["202", "in"]
    assert (missed.answer, missed.duration, missed.device) == (None, 0.0, None)
    assert rec.stats.results == {result: 1}


def test_answered_stays_answered_however_it_ends() -> None:
    for reason in ("caller_hangup", "callee_hangup", "ack_timeout", "dialog_lost", "api_hangup"):
        assert result_of(reason, answered=True, rang=False) == "answered"


def test_ring_group_missed_by_all_answered_by_one() -> None:
    cfg = load_config(ROOT / "config")
    rec = HistoryRecorder(ConfigDirectory(lambda: cfg))
    rec.observe(started(callee="300", users=("202", "203"), devices=("202", "203")))
    missed = rows(rec.observe(CallEnded("c1", "no_answer", T0 + 30)))
    assert set(missed) == {("201", "out"), ("202", "in"), ("203", "in")}
    rec.observe(started("c2", callee="300", users=("202", "203"), devices=("202", "203")))
    rec.observe(CallAnswered("c2", "203", T0 + 4, 4.0))
    answered = rows(rec.observe(CallEnded("c2", "callee_hangup", T0 + 9)))
    assert set(answered) == {("201", "out"), ("203", "in")}  # no missed call for 202


def test_calling_your_own_extension_is_one_internal_row(rec: HistoryRecorder) -> None:
    rec.observe(started(callee="201", users=("201",), devices=("201",)))
    out = rows(rec.observe(CallEnded("c1", "no_answer", T0 + 30)))
    assert list(out) == [("201", "internal")]


def test_inbound_trunk_call_has_did_and_no_caller_row(rec: HistoryRecorder) -> None:
    rec.observe(
        CallStarted(
            "c1",
            "0612345678",
            "0534800900",
            T0,
            caller_device="trunk:carrier",
            caller_name="Klant B.V.",
            users=("203",),
            devices=("203",),
            did="0534800900",
            direction="inbound",
        )
    )
    rec.observe(CallAnswered("c1", "203", T0 + 2, 2.0))
    out = rows(rec.observe(CallEnded("c1", "caller_hangup", T0 + 12)))
    assert list(out) == [("203", "in")]
    row = out["203", "in"]
    assert (row.other_number, row.other_name, row.did) == ("0612345678", "Klant B.V.", "0534800900")


def test_outbound_trunk_call_has_only_the_caller_row(rec: HistoryRecorder) -> None:
    rec.observe(
        CallStarted(
            "c1",
            "201",
            "0031534800900",
            T0,
            caller_device="201",
            users=(),
            devices=("trunk:carrier",),
            direction="outbound",
        )
    )
    out = rows(rec.observe(CallEnded("c1", "busy", T0 + 3)))
    assert list(out) == [("201", "out")]
    assert (out["201", "out"].other_name, out["201", "out"].did) == (None, None)


def test_rejected_before_ringing_gives_the_caller_row(rec: HistoryRecorder) -> None:
    out = rows(rec.observe(CallRejected("sip-1", "201", "999", 404, T0, "201")))
    assert list(out) == [("201", "out")]
    assert out["201", "out"].result == "rejected:404" and out["201", "out"].end == T0
    assert rec.observe(CallRejected("sip-2", "0612345678", "0534800999", 404, T0, "trunk:carrier",
                                    "inbound")) == []  # fmt: skip
    assert rec.stats.results == {"rejected:404": 2}


def test_events_of_unknown_calls_are_ignored(rec: HistoryRecorder) -> None:
    assert rec.observe(CallRinging("zz", "202", T0, 0.1)) == []
    assert rec.observe(CallAnswered("zz", "202", T0, 1.0)) == []
    assert rec.observe(CallEnded("zz", "caller_hangup", T0)) == []


def test_setup_times_observed_once_per_call(rec: HistoryRecorder) -> None:
    rec.observe(started())
    rec.observe(CallRinging("c1", "202", T0 + 0.03, 0.03))
    rec.observe(CallRinging("c1", "202", T0 + 0.5, 0.5))  # a second 18x is not a new setup
    rec.observe(CallAnswered("c1", "202", T0 + 7, 7.0))
    ringing, answer = rec.stats.setup["ringing"], rec.stats.setup["answer"]
    assert (ringing.count, ringing.total) == (1, 0.03)
    assert (answer.count, answer.total) == (1, 7.0)
    assert dict(answer.cumulative())["5.0"] == 0 and dict(answer.cumulative())["10.0"] == 1
    assert answer.cumulative()[-1] == ("+Inf", 1)


def test_process_puts_rows_right_after_the_event_that_closes_the_call(rec: HistoryRecorder) -> None:
    marker = object()
    out = rec.process([started(), marker, CallEnded("c1", "no_answer", T0 + 30)])
    assert out[:3] == [started(), marker, CallEnded("c1", "no_answer", T0 + 30)]
    assert all(isinstance(e, PersistHistory) for e in out[3:]) and len(out) == 5


def test_names_follow_a_config_reload() -> None:
    cfg = load_config(ROOT / "config")
    current = [cfg]
    rec = HistoryRecorder(ConfigDirectory(lambda: current[0]))
    users = tuple(u.model_copy(update={"name": "Bram J."}) if u.extension == "202" else u for u in cfg.users)
    current[0] = cfg.model_copy(update={"users": users})
    current[0].model_post_init(None)
    rec.observe(started())
    assert rows(rec.observe(CallEnded("c1", "no_answer", T0 + 1)))["201", "out"].other_name == "Bram J."


def test_cursor_round_trip_and_garbage() -> None:
    row = HistoryRow("c1-201-out", "c1", "201", "out", "202", None, "201", T0 + 0.125, None, T0 + 1,
                     0.0, None, "busy", None, False)  # fmt: skip
    cur = decode_cursor(encode_cursor(row))
    assert (cur.start, cur.id) == (row.start, row.id)
    nan = base64.urlsafe_b64encode(b"nan|c1-201-out").decode()
    for bad in ("", "x", "!!!", "bm90LWEtY3Vyc29y", nan, "\u00e9t\u00e9"):
        with pytest.raises(ValueError, match="cursor"):
            decode_cursor(bad)


def test_originated_call_rings_the_caller_first_but_is_an_out_call(rec: HistoryRecorder) -> None:
    # POST /api/calls: the PBX rings 201's own phone, then 202
    rec.observe(CallStarted("o1", "201", "202", T0, caller_device="201", devices=("201",)))
    rec.observe(CallAnswered("o1", "202", T0 + 9, 9.0))
    out = rows(rec.observe(CallEnded("o1", "callee_hangup", T0 + 20)))
    assert set(out) == {("201", "out"), ("202", "in")}
    assert out["202", "in"].device == "202" and out["201", "out"].other_name == "Bram Jansen"
