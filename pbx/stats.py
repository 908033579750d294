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


# Seconds from the caller's INVITE to the first 18x relayed / to the 200: phones ring within
# tens of milliseconds, people answer within seconds, and ring timeouts sit around 30 s.
SETUP_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


@dataclass
class Histogram:
    """A Prometheus-style histogram kept as plain numbers; the collector renders it at scrape."""

    buckets: tuple[float, ...] = SETUP_BUCKETS
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; +Inf last
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        i = next((k for k, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        self.counts[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs, ending with +Inf, as the exposition format wants."""
        out: list[tuple[str, int]] = []
        running = 0
        for b, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if b == float("inf") else repr(b), running))
        return out


@dataclass
class CallStats:
    """Calls by result and call setup times by stage (`ringing`, `answer`), fed by the history
    recorder from the call events, so the counted result is the one history shows."""

    results: Counter[str] = field(default_factory=Counter)
    setup: dict[str, Histogram] = field(
        default_factory=lambda: {"ringing": Histogram(), "answer": Histogram()}
    )

    def ended(self, result: str) -> None:
        self.results[result] += 1

    def set_up(self, stage: str, seconds: float) -> None:
        self.setup.setdefault(stage, Histogram()).observe(max(0.0, seconds))
