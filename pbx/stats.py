"""Counters the pure cores bump; the metrics collector reads them at scrape time.

Plain ints and Counters: bumping one costs a dict update, far less than a prometheus_client
label lookup per message, and keeps the cores free of any I/O library.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    requests_in: Counter[str] = field(default_factory=Counter)  # by method
    responses_out: Counter[tuple[str, int]] = field(default_factory=Counter)  # (method, code)
    responses_in: Counter[tuple[str, int]] = field(default_factory=Counter)
    requests_out: Counter[str] = field(default_factory=Counter)
    parse_errors: Counter[str] = field(default_factory=Counter)  # by kind: request/response/drop
    auth_results: Counter[str] = field(default_factory=Counter)  # by AuthResult name
    dropped_banned: int = 0
    destinations_refused: int = 0
    handler_errors: int = 0
