"""SQLite persistence (WAL): the one place the daemon writes to disk.

Cores emit persistence effects; the shell writes each right after the step that produced it
(close to Kamailio's write-through db_mode) and reloads everything at start. Rows are a generic
(kind, key) -> JSON document table so bindings, hotdesk sessions and call-backs share one
mechanism; every row carries the id of the node that owns it (SPEC section 10) so a shared
database can later hold several nodes' state side by side.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

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
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        self._pending = 0

    def put(self, kind: str, key: str, data: dict[str, Any], wall: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO state (kind, key, node_id, data, updated) VALUES (?, ?, ?, ?, ?)",
            (kind, key, self.node_id, json.dumps(data, separators=(",", ":")), wall),
        )

    def delete(self, kind: str, key: str) -> None:
        self.db.execute(
            "DELETE FROM state WHERE node_id = ? AND kind = ? AND key = ?", (self.node_id, kind, key)
        )

    def load(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT data FROM state WHERE node_id = ? AND kind = ? ORDER BY updated", (self.node_id, kind)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def close(self) -> None:
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.db.close()
