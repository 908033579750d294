"""Dispositions in history: the ACD's Disposition goes into the agent's rows of that call: into the
row itself while the call is open, as a SetDisposition for the stored rows once it has ended."""

from __future__ import annotations

from pathlib import Path

from test_history_recorder import T0, rec, started  # noqa: F401  (rec: the fixture)

from pbx.acd.effects import Disposition
from pbx.calls.call import CallAnswered, CallEnded
from pbx.history import HistoryRecorder, PersistHistory, SetDisposition
from pbx.history.model import HistoryRow
from pbx.store.sqlite import Store


def test_disposition_during_the_call_is_in_the_agents_row_only(rec: HistoryRecorder) -> None:  # noqa: F811
    rec.process([started(), CallAnswered("c1", "202", T0 + 5, 5.0)])
    out = rec.process([Disposition("202", "c1", "2", "call back")])
    assert out == [Disposition("202", "c1", "2", "call back")]  # nothing stored yet
    rows = {p.row.user: p.row for p in rec.process([CallEnded("c1", "callee_hangup", T0 + 60)])
            if isinstance(p, PersistHistory)}  # fmt: skip
    assert rows["202"].disposition == "2" and rows["201"].disposition is None


def test_disposition_after_the_end_updates_the_stored_rows(rec: HistoryRecorder) -> None:  # noqa: F811
    rec.process(
        [started(), CallAnswered("c1", "202", T0 + 5, 5.0), CallEnded("c1", "callee_hangup", T0 + 60)]
    )
    out = rec.process([Disposition("202", "c1", "3", "escalated")])
    assert out[1:] == [SetDisposition("c1", "202", "3")]
    again = rec.process([Disposition("202", "c1", "1", "resolved")])  # a change of mind: the last wins
    assert again[1:] == [SetDisposition("c1", "202", "1")]


def test_the_store_updates_only_that_users_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "pbx.db", "n1")
    base = dict(call_id="c1", other_number="x", other_name=None, device=None, start=T0, answer=None,
                end=T0 + 1, duration=0.0, queue_wait=None, result="answered", did=None,
                recorded=False)  # fmt: skip
    store.add_history(HistoryRow(id="c1-201-out", user="201", direction="out", **base))  # type: ignore[arg-type]
    store.add_history(HistoryRow(id="c1-202-in", user="202", direction="in", **base))  # type: ignore[arg-type]
    store.set_disposition(SetDisposition("c1", "202", "2"))
    assert [r.disposition for r in store.history("202", 10)] == ["2"]
    assert [r.disposition for r in store.history("201", 10)] == [None]
    store.close()


def test_an_old_database_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "old.db"))
    cols = (
        "id TEXT, node_id TEXT, call_id TEXT, user TEXT, direction TEXT, other_number TEXT,"
        " other_name TEXT,"
        " device TEXT, start REAL, answer REAL, end REAL, duration REAL, queue_wait REAL, result TEXT,"
        " did TEXT, recorded INTEGER, PRIMARY KEY (node_id, id)"
    )
    db.executescript(
        f"CREATE TABLE history ({cols});"
        "INSERT INTO history VALUES ('c0-202-in','n1','c0','202','in','201',NULL,NULL,1,NULL,2,0,NULL,"
        "'answered',NULL,0);"
    )
    db.close()
    store = Store(tmp_path / "old.db", "n1")
    assert [(r.id, r.disposition) for r in store.history("202", 10)] == [("c0-202-in", None)]
    store.close()
