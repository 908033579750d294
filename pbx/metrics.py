"""Prometheus metrics (prefix `pbx_`). A custom collector reads the cores' counters at scrape
time, so nothing on the SIP hot path touches prometheus_client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from pbx.stats import CallStats, Stats

Snapshot = Callable[[], dict[str, float]]

# Exported at 0 before the first call so rate() and alerts see every series from the start.
CALL_RESULTS = ("answered", "no_answer", "busy", "cancelled", "declined", "failed")


class PbxCollector:
    def __init__(
        self,
        stats: Stats,
        gauges: Snapshot,
        counters: Snapshot,
        calls: CallStats | None = None,
        extra: Callable[[], Iterable[Metric]] | None = None,
    ) -> None:
        self.stats = stats
        self.gauges = gauges
        self.counters = counters
        self.calls = calls
        self.extra = extra  # more families (the ACD's, per queue and status)

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        c = CounterMetricFamily("pbx_sip_requests_received", "SIP requests received", labels=["method"])
        for m, n in sorted(s.requests_in.items()):
            c.add_metric([m], n)
        yield c
        c = CounterMetricFamily("pbx_sip_requests_sent", "SIP requests sent", labels=["method"])
        for m, n in sorted(s.requests_out.items()):
            c.add_metric([m], n)
        yield c
        c = CounterMetricFamily("pbx_sip_responses_sent", "SIP responses sent", labels=["method", "code"])
        for (m, code), n in sorted(s.responses_out.items()):
            c.add_metric([m, str(code)], n)
        yield c
        c = CounterMetricFamily(
            "pbx_sip_responses_received", "SIP responses received", labels=["method", "code"]
        )
        for (m, code), n in sorted(s.responses_in.items()):
            c.add_metric([m, str(code)], n)
        yield c
        c = CounterMetricFamily("pbx_sip_parse_errors", "Messages that failed to parse", labels=["kind"])
        for k, n in sorted(s.parse_errors.items()):
            c.add_metric([k], n)
        yield c
        c = CounterMetricFamily("pbx_auth_results", "Digest authentication outcomes", labels=["outcome"])
        for k, n in sorted(s.auth_results.items()):
            c.add_metric([k], n)
        yield c
        yield CounterMetricFamily(
            "pbx_sip_dropped_banned", "Messages dropped from banned sources", value=s.dropped_banned
        )
        yield CounterMetricFamily(
            "pbx_sip_destinations_refused",
            "Messages not sent because the destination is outside sip.allowed_destinations",
            value=s.destinations_refused,
        )
        yield CounterMetricFamily(
            "pbx_handler_errors", "Unexpected errors caught per message or timer", value=s.handler_errors
        )
        if self.calls is not None:
            yield from call_metrics(self.calls)
        for name, value in sorted(self.counters().items()):
            yield CounterMetricFamily(f"pbx_{name}", name.replace("_", " "), value=value)
        for name, value in sorted(self.gauges().items()):
            yield GaugeMetricFamily(f"pbx_{name}", name.replace("_", " "), value=value)
        if self.extra is not None:
            yield from self.extra()


def call_metrics(calls: CallStats) -> Iterator[Metric]:
    c = CounterMetricFamily("pbx_calls", "Calls ended, by history result", labels=["result"])
    results = {r: 0 for r in CALL_RESULTS} | dict(calls.results)
    for result, n in sorted(results.items()):
        c.add_metric([result], n)
    yield c
    h = HistogramMetricFamily(
        "pbx_call_setup_seconds",
        "Seconds from the caller's INVITE to the first ringing (180/183) and to the answer (200)",
        labels=["stage"],
    )
    for stage, hist in sorted(calls.setup.items()):
        h.add_metric([stage], [(le, float(n)) for le, n in hist.cumulative()], sum_value=hist.total)
    yield h


def make_registry(collector: PbxCollector) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(collector)
    ProcessCollector(registry=reg)
    return reg


def render(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)
