"""Open-loop load end to end, against agg-dp4: arrivals follow the schedule the seed draws (or a trace),
Poisson in distribution; a concurrency cap below the demand shows up as send lag."""

import math

import pytest

from locustfiles.arrivals import RateStage, arrival_offsets
from locustfiles.trace import SAMPLE_TRACE, load_trace
from tests.e2e.harness import run_locust
from tests.locustfiles.test_arrivals import KS_1PCT, gaps_of, ks_exponential

pytestmark = pytest.mark.e2e

RATE, DURATION_S = 20.0, 10.0


def test_arrivals_are_sent_on_the_seeded_schedule_and_their_gaps_are_poisson(tmp_path):
    result = run_locust(tmp_path, "--deployment", "agg-dp4", "--failure", "none", "--rate", str(RATE), "--duration", str(DURATION_S), "--seed", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = arrival_offsets([RateStage(RATE, DURATION_S)], "poisson", seed=5)
    sent = sorted(r["start_offset_s"] for r in result.records)
    origin = min(r["scheduled_offset_s"] for r in result.records) - planned[0]

    assert len(sent) == len(planned)
    # Each request left within 50 ms of its scheduled time...
    assert max(r["start_offset_s"] - r["scheduled_offset_s"] for r in result.records) < 0.05
    assert sorted(r["scheduled_offset_s"] - origin for r in result.records) == pytest.approx(planned, abs=1e-6)
    # ...so the gaps between sends are the Poisson process's: Kolmogorov-Smirnov at 1%.
    gaps = gaps_of([t - sent[0] for t in sent])[1:]
    assert ks_exponential(gaps, RATE) < KS_1PCT / math.sqrt(len(gaps))


def test_a_concurrency_cap_below_the_demand_shows_as_send_lag_counted_in_latency(tmp_path):
    result = run_locust(
        tmp_path, "--deployment", "agg-dp4", "--failure", "none", "--rate", "5", "--duration", "5", "--arrival", "constant", "--max-concurrency", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = sorted(result.records, key=lambda r: r["scheduled_offset_s"])

    # 25 arrivals 0.2 s apart, one at a time, each taking about 0.7 s: the queue grows.
    assert result.summary["Max Send Lag (s)"] > 5.0
    last = records[-1]
    assert last["latency_s"] == pytest.approx(last["start_offset_s"] - last["scheduled_offset_s"] + (last["end_time"] - last["start_time"]), abs=1e-3)


def test_a_trace_is_replayed_with_its_arrivals_and_lengths(tmp_path):
    result = run_locust(tmp_path, "--deployment", "agg-dp4", "--failure", "none", "--trace", str(SAMPLE_TRACE), "--trace-speedup", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    trace = load_trace(SAMPLE_TRACE, speedup=2)
    records = sorted(result.records, key=lambda r: r["seq"])
    origin = records[0]["scheduled_offset_s"] - trace[0].at_s

    assert [r["seq"] for r in records] == list(range(len(trace)))
    assert [r["scheduled_offset_s"] - origin for r in records] == pytest.approx([t.at_s for t in trace], abs=1e-6)
    assert max(r["start_offset_s"] - r["scheduled_offset_s"] for r in records) < 0.05
    assert [r["output_tokens"] for r in records] == [t.output_tokens for t in trace]
