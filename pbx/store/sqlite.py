"""SQLite persistence (WAL): the one place the daemon writes to disk.

Cores emit persistence effects; the shell writes each right after the step that produced it
into an open transaction and commits within a few milliseconds (runtime.Driver: one commit per
burst of steps instead of one per step; close to Kamailio's write-through db_mode) and reloads
everything at start. `close()` commits what is pending, so a graceful stop loses nothing. Rows are a generic
(kind, key) -> JSON document table so bindings, hotdesk sessions and call-backs share one
mechanism; every row carries the id of the node that owns it (SPEC section 10) so a shared
database can later hold several nodes' state side by side.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pbx.history.model import Cursor, HistoryRow, SetDisposition

# One encoder for every row: json.dumps with non-default arguments builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)  # rows are plain trees
_PUT = (
    "INSERT INTO state (kind, key, node_id, data, updated) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (node_id, kind, key) DO UPDATE SET data = excluded.data, updated = excluded.updated"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    node_id TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (node_id, kind, key)
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
SCHEMA_VERSION = "1"

# Call history is paged per user, newest first, so it gets a real table and index rather than
# JSON documents in `state`. Rows are written once, when the call ends; only the disposition is
# set later (an agent keys it during wrap-up, after the row was written).
HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    user TEXT NOT NULL,
    direction TEXT NOT NULL,
    other_number TEXT NOT NULL,
    other_name TEXT,
    device TEXT,
    start REAL NOT NULL,
    answer REAL,
    end REAL NOT NULL,
    duration REAL NOT NULL,
    queue_wait REAL,
    result TEXT NOT NULL,
    did TEXT,
    recorded INTEGER NOT NULL,
    disposition TEXT,
    PRIMARY KEY (node_id, id)
);
CREATE INDEX IF NOT EXISTS history_user_start ON history (user, start, id);
"""
HISTORY_COLUMNS = (
    "id", "call_id", "user", "direction", "other_number", "other_name", "device", "start", "answer",
    "end", "duration", "queue_wait", "result", "did", "recorded", "disposition",
)  # fmt: skip


class Store:
    def __init__(self, path: Path, node_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.node_id = node_id
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (only an OS crash can lose the last commits).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.executescript(HISTORY_SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(history)")}
        if "disposition" not in columns:  # a database from before dispositions were kept
            self.db.execute("ALTER TABLE history ADD COLUMN disposition TEXT")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        self._pending = 0

    def put(self, kind: str, key: str, data: dict[str, Any], wall: float) -> None:
        # An upsert updates the row in place; INSERT OR REPLACE deletes it and appends a new one,
        # which dirties twice the pages (measured: 2.5x the CPU per refresh, and more checkpoints).
        self.db.execute(_PUT, (kind, key, self.node_id, _JSON.encode(data), wall))

    def delete(self, kind: str, key: str) -> None:
        self.db.execute(
            "DELETE FROM state WHERE node_id = ? AND kind = ? AND key = ?", (self.node_id, kind, key)
        )

    def load(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT data FROM state WHERE node_id = ? AND kind = ? ORDER BY updated", (self.node_id, kind)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # --- call history ------------------------------------------------------------------------
    def add_history(self, row: HistoryRow) -> None:
        values = [getattr(row, c) for c in HISTORY_COLUMNS]
        self.db.execute(
            f"INSERT OR REPLACE INTO history (node_id, {', '.join(HISTORY_COLUMNS)}) "
            f"VALUES (?, {', '.join('?' * len(HISTORY_COLUMNS))})",
            (self.node_id, *values),
        )

    def set_disposition(self, e: SetDisposition) -> None:
        """The disposition of a user's stored rows of a call (every node's: the call may have
        ended on another node of a shared database)."""
        self.db.execute("UPDATE history SET disposition = ? WHERE call_id = ? AND user = ?",
                        (e.code, e.call_id, e.user))  # fmt: skip

    def history(
        self, user: str, limit: int, before: Cursor | None = None, offset: int = 0
    ) -> list[HistoryRow]:
        """A user's rows, newest first; `before` continues after a page's last row (every node's
        rows: a user's calls may have gone through any node of a shared database)."""
        sql = f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE user = ?"
        args: list[Any] = [user]
        if before is not None:
            sql += " AND (start < ? OR (start = ? AND id < ?))"
            args += [before.start, before.start, before.id]
        sql += " ORDER BY start DESC, id DESC LIMIT ? OFFSET ?"
        args += [limit, offset]
        out = []
        for r in self.db.execute(sql, args).fetchall():
            fields = dict(zip(HISTORY_COLUMNS, r, strict=True))
            fields["recorded"] = bool(fields["recorded"])
            out.append(HistoryRow(**fields))
        return out

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        """Commit the open transaction, if there is one."""
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def close(self) -> None:
        try:
            self.commit()
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()
