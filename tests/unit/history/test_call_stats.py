"""CallStats and its Prometheus rendering (counters by result, setup histogram by stage)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from pbx.metrics import PbxCollector
from pbx.stats import CallStats, Histogram, Stats


def test_histogram_buckets_are_upper_bounds_and_cumulative() -> None:
    h = Histogram(buckets=(0.1, 1.0))
    for v in (0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 1), ("1.0", 3), ("+Inf", 4)]
    assert (h.count, h.total) == (4, 8.6)


def test_collector_renders_call_metrics() -> None:
    calls = CallStats()
    calls.ended("answered")
    calls.ended("rejected:404")
    calls.set_up("ringing", 0.02)
    calls.set_up("answer", -1.0)  # a clock oddity never makes a negative setup time
    reg = CollectorRegistry()
    reg.register(PbxCollector(Stats(), lambda: {"calls_active": 2.0}, dict, calls))
    text = generate_latest(reg).decode()
    assert 'pbx_calls_total{result="answered"} 1.0' in text
    assert 'pbx_calls_total{result="rejected:404"} 1.0' in text
    assert 'pbx_calls_total{result="no_answer"} 0.0' in text
    assert 'pbx_call_setup_seconds_bucket{le="0.05",stage="ringing"} 1.0' in text
    assert 'pbx_call_setup_seconds_sum{stage="answer"} 0.0' in text
    assert 'pbx_call_setup_seconds_count{stage="answer"} 1.0' in text
    assert "pbx_calls_active 2.0" in text


def test_collector_without_call_stats_has_no_call_families() -> None:
    reg = CollectorRegistry()
    reg.register(PbxCollector(Stats(), dict, dict))
    assert "pbx_calls_total" not in generate_latest(reg).decode()
