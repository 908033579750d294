"""Call history: call events -> one row per user and call (pure; the shell stores the rows)."""

from pbx.history.model import (
    DIRECTIONS,
    Cursor,
    HistoryRow,
    PersistHistory,
    SetDisposition,
    decode_cursor,
    encode_cursor,
    result_of,
)
from pbx.history.recorder import ConfigDirectory, Directory, HistoryRecorder

__all__ = [
    "DIRECTIONS",
    "ConfigDirectory",
    "Cursor",
    "Directory",
    "HistoryRecorder",
    "HistoryRow",
    "PersistHistory",
    "SetDisposition",
    "decode_cursor",
    "encode_cursor",
    "result_of",
]
