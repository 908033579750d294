"""Prometheus families for the ACD (per queue, per agent status), read from the engine's views."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pbx.acd.engine import AcdEngine
from pbx.acd.views import QueueStats, agents_by_status, queue_stats

Get = Callable[[QueueStats], float | int | None]


def acd_metrics(acd: AcdEngine, now: float) -> Iterator[Metric]:
    stats = queue_stats(acd, now)
    gauges: dict[str, tuple[str, Get]] = {
        "pbx_queue_waiting": ("callers waiting", lambda q: q.waiting),
        "pbx_queue_longest_wait_seconds": ("longest current wait", lambda q: q.longest_wait),
        "pbx_queue_agents_logged_in": ("agents logged in", lambda q: q.logged_in),
        "pbx_queue_agents_available": ("agents who could take a call now", lambda q: q.available),
        "pbx_queue_service_level": ("answered within the threshold / (answered + abandoned)",
                                    lambda q: q.service_level if q.service_level is not None else 1.0),
    }  # fmt: skip
    for name, (text, get) in gauges.items():
        g = GaugeMetricFamily(name, text, labels=["queue"])
        for q in stats:
            g.add_metric([q.name], float(get(q) or 0))
        yield g
    counters: dict[str, tuple[str, Get]] = {
        "pbx_queue_entered": ("callers that came into the queue", lambda q: q.entered),
        "pbx_queue_answered": ("callers answered by an agent", lambda q: q.answered),
        "pbx_queue_abandoned": ("callers who hung up while waiting", lambda q: q.abandoned),
        "pbx_queue_overflowed": ("callers sent to the overflow destination", lambda q: q.overflowed),
        "pbx_queue_offers": ("times an agent's phone was rung", lambda q: q.offers),
        "pbx_queue_offers_no_answer": ("offers nobody answered", lambda q: q.no_answer),
        "pbx_queue_offers_declined": ("offers declined", lambda q: q.declined),
    }
    for name, (text, get) in counters.items():
        c = CounterMetricFamily(name, text, labels=["queue"])
        for q in stats:
            c.add_metric([q.name], float(get(q) or 0))
        yield c
    g = GaugeMetricFamily(
        "pbx_queue_agents", "agents logged in to the queue, by status", labels=["queue", "status"]
    )
    for (queue, status), n in sorted(agents_by_status(acd).items()):
        g.add_metric([queue, status], float(n))
    yield g
    c = CounterMetricFamily("pbx_acd_repairs", "reconciler repairs", labels=["kind"])
    for kind, n in sorted(acd.repairs.items()):
        c.add_metric([kind], float(n))
    yield c
