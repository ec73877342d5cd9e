"""The summary definitions, each checked on hand-made records, events and samples."""

from dataclasses import replace
from typing import Iterable

import pytest

from faultsuite.events import Event
from faultsuite.records import BadRequestRecord, RequestRecord
from faultsuite.samples import ReplicaSample, WatcherSample
from reports.summary import (
    pending_over_time,
    trial_stats,
    EXTRA_COLUMNS,
    SUMMARY_COLUMNS,
    Summary,
    compute_summary,
    percentile,
)

RUN_START = 1_700_000_000.0  # epoch of offset 0; only the offsets matter to the summary
SLA_S = 2.0
FAULT_AT = 10.0
WORKER = "decode_worker"


def record(
    start: float,
    latency: float = 1.0,
    *,
    ok: bool = True,
    ttft: float | None = None,
    itl: tuple[float, ...] = (),
    error_kind: str | None = None,
) -> RequestRecord:
    """A record started at offset `start`; failures default to a `timeout`."""
    return RequestRecord(
        client=0,
        seq=0,
        start_time=RUN_START + start,
        end_time=RUN_START + start + latency,
        start_offset_s=start,
        latency_s=latency,
        status="success" if ok else "failure",
        ttft_s=ttft,
        itl_s=itl,
        error_kind=None if ok else (error_kind or "timeout"),
    )


def event(
    offset: float,
    kind: str,
    *,
    outcome: str = "",
    replica: int | None = 0,
    component: str = WORKER,
    scheduled: float | None = None,
) -> Event:
    return Event(
        time=RUN_START + offset,
        offset_s=offset,
        kind=kind,  # type: ignore[arg-type]
        component=component,
        replica=replica,
        outcome=outcome,
        scheduled_offset_s=scheduled,
    )


def fault(offset: float = FAULT_AT, *, replica: int = 0, scheduled: float | None = None) -> Event:
    return event(offset, "fault", outcome="delivered", replica=replica, scheduled=scheduled)


def ready(offset: float, *, replica: int = 0) -> Event:
    return event(offset, "ready", replica=replica)


def sample(offset: float, pending: float | None, *, up: bool = True) -> WatcherSample:
    return WatcherSample(time=RUN_START + offset, offset_s=offset, up=up, pending_requests=pending)


def summarize(
    records: Iterable[RequestRecord] = (),
    events: Iterable[Event] = (fault(),),
    samples: Iterable[WatcherSample] = (),
    startup_time_s: float | None = None,
) -> Summary:
    """The summary of a run with one delivered fault at FAULT_AT unless `events` says otherwise."""
    return compute_summary(
        failure="kill_decode_worker",
        records=list(records),
        events=list(events),
        samples=list(samples),
        startup_time_s=startup_time_s,
        sla_latency_s=SLA_S,
    )


# --- counts and the before/after split ---


def test_success_and_failed_count_every_record_before_and_after():
    failures = [record(2, ok=False), record(11, ok=False), record(13, ok=False)]
    summary = summarize([record(1), record(12), *failures])
    assert (summary.success, summary.failed) == (2, 3)


def test_requests_in_flight_at_the_fault_count_as_before():
    summary = summarize([record(9.5, latency=1.5)])
    assert (summary.latency_before, summary.latency_after) == (1.5, None)


def test_a_request_starting_exactly_at_the_fault_counts_as_after():
    summary = summarize([record(FAULT_AT, latency=1.5)])
    assert (summary.latency_before, summary.latency_after) == (None, 1.5)


def test_the_split_is_at_the_first_delivered_fault_not_a_later_one():
    events = [fault(20.0), fault(FAULT_AT, replica=1)]
    summary = summarize([record(5, 1.0), record(15, 3.0)], events=events)
    assert (summary.latency_before, summary.latency_after) == (1.0, 3.0)


def test_a_not_applicable_fault_is_ignored():
    not_applicable = event(3.0, "fault", outcome="not_applicable")
    summary = summarize([record(5, 1.0), record(15, 3.0)], events=[not_applicable, fault()])
    assert (summary.latency_before, summary.latency_after) == (1.0, 3.0)


def test_a_run_with_only_a_not_applicable_fault_has_no_fault():
    events = [event(3.0, "not_applicable", outcome="not_applicable")]
    summary = summarize([record(15, 3.0)], events=events)
    assert (summary.latency_before, summary.latency_after) == (3.0, None)


def test_a_run_without_a_fault_puts_everything_before():
    summary = summarize([record(1, 1.0), record(50, 1.5, ok=False), record(60, 3.0)], events=[])
    assert summary.latency_before == 2.0
    assert summary.violations_before == 1


def test_a_run_without_a_fault_has_none_in_every_after_column():
    records = [record(1, 3.0, ttft=0.1, itl=(0.01,)), record(5, ok=False)]
    row = summarize(records, events=[ready(0.5)], samples=[sample(2, 4.0)]).row()
    after = [column for column in row if "After" in column] + [
        "Recovery Time",
        "Time To First Failure (s)",
        "Client Outage (s)",
    ]
    assert len(after) == 13  # the means, pending, violations, TTFT, ITL and latency percentiles after, and the three above
    assert {column: row[column] for column in after} == dict.fromkeys(after)


# --- latency and violations ---


def test_latency_means_ignore_failed_records():
    records = [record(1, 1.0), record(2, 2.0), record(3, 30.0, ok=False), record(11, 4.0)]
    summary = summarize(records)
    assert (summary.latency_before, summary.latency_after) == (1.5, 4.0)


def test_violations_count_latencies_strictly_above_the_sla():
    at_sla, above = record(1, SLA_S), record(2, SLA_S + 0.001)
    summary = summarize([at_sla, above, record(11, SLA_S), record(12, 5.0), record(13, 6.0)])
    assert (summary.violations_before, summary.violations_after) == (1, 2)


def test_violations_ignore_failed_records():
    summary = summarize([record(1, 30.0, ok=False), record(11, 30.0, ok=False)])
    assert (summary.violations_before, summary.violations_after) == (0, 0)


def test_latency_percentiles_before_and_after_are_over_the_successes_of_each_side():
    before = [record(1 + i * 0.1, latency=0.1 * (i + 1)) for i in range(10)]  # 0.1 .. 1.0 s
    after = [record(11, 2.0), record(12, 4.0), record(13, 30.0, ok=False)]
    summary = summarize(before + after)
    assert (summary.latency_p50_before_s, summary.latency_p90_before_s, summary.latency_p99_before_s) == (
        pytest.approx(0.55), pytest.approx(0.91), pytest.approx(0.991))
    assert (summary.latency_p50_after_s, summary.latency_p90_after_s, summary.latency_p99_after_s) == (
        pytest.approx(3.0), pytest.approx(3.8), pytest.approx(3.98))


def test_output_throughput_counts_the_tokens_of_successes_over_the_run_span():
    records = [replace(record(0, 2.0), output_tokens=100), replace(record(2, 2.0), output_tokens=60),
               replace(record(3, 1.0, ok=False), output_tokens=500)]  # fmt: skip
    assert summarize(records).output_throughput_tok_s == pytest.approx(160 / 4.0)
    assert summarize([]).output_throughput_tok_s is None


# --- pending ---


def test_pending_means_split_by_sample_time():
    samples = [sample(1, 2.0), sample(9.9, 4.0), sample(FAULT_AT, 10.0), sample(11, 20.0)]
    summary = summarize(samples=samples)
    assert (summary.pending_before, summary.pending_after) == (3.0, 15.0)


def test_pending_ignores_samples_taken_while_the_metrics_were_down_or_blank():
    samples = [
        sample(1, 2.0),
        sample(2, 100.0, up=False),
        sample(3, None),
        sample(11, 6.0),
        sample(12, None, up=False),
    ]
    summary = summarize(samples=samples)
    assert (summary.pending_before, summary.pending_after) == (2.0, 6.0)


def test_pending_over_time_holds_each_sample_until_the_next_so_a_burst_weighs_only_its_time():
    # Before the fault (at 10): 2 pending for 8 s, then a burst of four samples of 100 over its
    # last second. After it: 4 pending for 1 s, then 40 at the last sample, which ends the span;
    # a sample whose scrape failed counts for nothing.
    burst = [sample(9.0 + 0.25 * i, 100.0) for i in range(4)]
    samples = [sample(1, 2.0), *burst, sample(FAULT_AT, 4.0), sample(FAULT_AT + 0.5, 99.0, up=False), sample(FAULT_AT + 1, 40.0)]
    events = [fault()]
    assert summarize(samples=samples, events=events).pending_before == pytest.approx(402 / 5)  # over samples
    before, after = pending_over_time(samples, events)
    assert before == pytest.approx((2.0 * 8 + 100.0 * 1) / 9) and after == pytest.approx(4.0)
    assert pending_over_time([sample(3, 7.0)], []) == (7.0, None)
    assert pending_over_time([sample(3, None), sample(4, 1.0, up=False)], events) == (None, None)


def test_pending_is_none_without_usable_samples():
    summary = summarize(samples=[sample(1, None, up=False), sample(11, None, up=False)])
    assert (summary.pending_before, summary.pending_after) == (None, None)


# --- recovery time ---


def test_recovery_time_runs_to_the_first_ready_after_the_fault():
    events = [ready(2.0), fault(), ready(14.5), ready(30.0)]
    assert summarize(events=events).recovery_time == 4.5


def test_recovery_time_of_a_hang_runs_to_its_resume():
    events = [fault(), event(15.0, "resume", outcome="delivered"), ready(40.0)]
    assert summarize(events=events).recovery_time == 5.0


def test_a_hang_continued_only_because_the_run_ended_never_recovered():
    teardown_resume = Event(time=RUN_START + 12.0, offset_s=12.0, kind="resume", component=WORKER, replica=0, detail="teardown", teardown=True)
    assert summarize(events=[fault(), teardown_resume]).recovery_time is None


def test_recovery_time_ignores_ready_events_of_other_instances():
    other_replica = ready(12.0, replica=1)
    other_component = event(13.0, "ready", component="prefill_worker")
    events = [fault(), other_replica, other_component, ready(17.0)]
    assert summarize(events=events).recovery_time == 7.0


def test_recovery_time_is_none_when_the_instance_never_comes_back():
    assert summarize(events=[ready(2.0), fault(), ready(14.0, replica=1)]).recovery_time is None


def test_recovery_with_two_faulted_replicas_waits_for_the_last():
    events = [
        fault(FAULT_AT, replica=0, scheduled=FAULT_AT),
        fault(FAULT_AT + 0.002, replica=1, scheduled=FAULT_AT),
        ready(13.0, replica=0),
        ready(16.0, replica=1),
    ]
    assert summarize(events=events).recovery_time == pytest.approx(6.0)


def test_recovery_is_none_when_one_of_two_faulted_replicas_never_comes_back():
    events = [fault(FAULT_AT, replica=0), fault(FAULT_AT, replica=1), ready(13.0, replica=0)]
    assert summarize(events=events).recovery_time is None


def test_recovery_time_only_follows_the_first_fault():
    events = [fault(), ready(12.0), fault(20.0, replica=1)]
    assert summarize(events=events).recovery_time == 2.0


# --- startup ---


def test_startup_time_is_passed_through():
    assert summarize(startup_time_s=42.5).startup_time == 42.5


# --- TTFT and ITL percentiles ---


def test_percentile_interpolates_linearly_between_ranks():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)


def test_percentile_of_one_value_is_that_value_and_of_none_is_none():
    assert (percentile([7.0], 90), percentile([], 50)) == (7.0, None)


def test_ttft_percentiles_are_in_milliseconds_before_and_after():
    before = [record(s, ttft=t) for s, t in ((1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4))]
    summary = summarize(before + [record(11, ttft=1.0), record(12, ttft=2.0)])
    assert summary.ttft_p50_before_ms == pytest.approx(250.0)
    assert summary.ttft_p90_before_ms == pytest.approx(370.0)
    assert summary.ttft_p50_after_ms == pytest.approx(1500.0)
    assert summary.ttft_p90_after_ms == pytest.approx(1900.0)


def test_ttft_percentiles_skip_failed_records_and_records_without_ttft():
    summary = summarize([record(1, ttft=0.2), record(2, ttft=None), record(3, ok=False, ttft=9.0)])
    assert summary.ttft_p90_before_ms == pytest.approx(200.0)


def test_ttft_percentiles_are_none_without_any_ttft():
    summary = summarize([record(1), record(11)])
    assert (summary.ttft_p50_before_ms, summary.ttft_p50_after_ms) == (None, None)


def test_itl_percentiles_pool_every_token_gap_rather_than_per_request_means():
    # Pooled: [10, 10, 10, 100] ms; the mean of per-request means would put p50 at 55 ms.
    summary = summarize([record(1, itl=(0.01, 0.01, 0.01)), record(2, itl=(0.1,))])
    assert summary.itl_p50_before_ms == pytest.approx(10.0)
    assert summary.itl_p90_before_ms == pytest.approx(73.0)


def test_itl_percentiles_split_on_request_start_and_skip_failed_records():
    failed = record(12, ok=False, itl=(5.0,))
    records = [record(9, itl=(0.02,)), record(11, itl=(0.05, 0.07)), failed]
    summary = summarize(records)
    assert summary.itl_p50_before_ms == pytest.approx(20.0)
    assert summary.itl_p50_after_ms == pytest.approx(60.0)
    assert summary.itl_p90_after_ms == pytest.approx(68.0)


# --- time to first failure ---


def test_time_to_first_failure_runs_from_the_fault_to_the_first_failed_end():
    earlier = record(2, 1.0, ok=False)  # ended before the fault: not caused by it
    in_flight = record(9, 3.5, ok=False)  # ends at 12.5
    later = record(10.5, 1.0, ok=False)  # ends at 11.5, the first failure after the fault
    assert summarize([earlier, in_flight, later]).time_to_first_failure_s == 1.5


def test_time_to_first_failure_counts_a_request_in_flight_at_the_fault():
    assert summarize([record(8, 4.0, ok=False)]).time_to_first_failure_s == 2.0


def test_time_to_first_failure_is_none_when_nothing_fails_after_the_fault():
    assert summarize([record(2, 1.0, ok=False), record(11)]).time_to_first_failure_s is None


# --- client outage ---


def test_client_outage_waits_for_a_success_starting_after_the_last_failure():
    records = [
        record(9, 2.0, ok=False),  # ends at 11
        record(11.5, 1.0),  # succeeds, but a failure follows: not yet recovered
        record(12, 1.0, ok=False),  # ends at 13, the last failure
        record(12.5, 1.0),  # started before the last failure ended
        record(13.5, 1.0),  # the first success after it
        record(14, 1.0),
    ]
    assert summarize(records).client_outage_s == 3.5


def test_client_outage_is_zero_when_nothing_fails_after_the_fault():
    assert summarize([record(2, 1.0, ok=False), record(11)]).client_outage_s == 0.0


def test_client_outage_is_none_when_no_success_follows_the_last_failure():
    assert summarize([record(11, 1.0), record(12, 1.0, ok=False)]).client_outage_s is None


# --- goodput ---


def test_goodput_counts_successes_within_the_sla_over_the_run_span():
    records = [
        record(2, SLA_S),  # within the SLA (not strictly above it)
        record(4, 3.0),  # a violation
        record(5, 1.0),
        record(6, 6.0, ok=False),  # ends at 12, the end of the span
    ]
    assert summarize(records).goodput_rps == pytest.approx(2 / 10)


def test_goodput_is_none_for_a_run_without_records():
    assert summarize([]).goodput_rps is None


# --- error breakdown ---


def test_error_breakdown_orders_kinds_by_count_then_name():
    kinds = ["timeout", "connection_reset", "http_status", "timeout"]
    kinds += ["http_status", "connection_reset", "http_status"]
    records = [record(i, ok=False, error_kind=kind) for i, kind in enumerate(kinds)]
    assert summarize(records).error_breakdown == "http_status=3; connection_reset=2; timeout=2"


def test_error_breakdown_is_empty_without_failures():
    assert summarize([record(1), record(11)]).error_breakdown == ""


# --- the row ---


def test_row_lists_the_summary_columns_then_the_extras_in_order():
    assert tuple(summarize().row()) == SUMMARY_COLUMNS + EXTRA_COLUMNS


def test_row_puts_each_value_under_its_own_column():
    records = [record(1, 1.0, ttft=0.1), record(11, 3.0, ttft=0.3), record(12, 1.0, ok=False)]
    events = [fault(), ready(15.0)]
    row = summarize(records, events, [sample(1, 2.0)], startup_time_s=30.0).row()
    assert row["Failure"] == "kill_decode_worker"
    assert row["Startup Time"] == 30.0
    assert (row["Success"], row["Failed"]) == (2, 1)
    assert (row["Latency Before"], row["Latency After"]) == (1.0, 3.0)
    assert (row["Pending Before"], row["Pending After"]) == (2.0, None)
    assert (row["Violations Before"], row["Violations After"]) == (0, 1)
    assert row["Recovery Time"] == 5.0
    assert row["TTFT p50 After (ms)"] == pytest.approx(300.0)
    assert row["Time To First Failure (s)"] == 3.0
    assert row["Error Breakdown"] == "timeout=1"


# --- open-loop records ------------------------------------------------------------------------


def open_loop(scheduled: float, sent: float, latency: float, *, ok: bool = True) -> RequestRecord:
    return replace(record(sent, latency, ok=ok), scheduled_offset_s=scheduled)


def test_max_send_lag_is_the_latest_an_open_loop_request_was_sent_after_its_schedule():
    records = [open_loop(1.0, 1.001, 0.5), open_loop(2.0, 2.75, 0.5), open_loop(3.0, 3.2, 0.5)]

    assert summarize(records).max_send_lag_s == pytest.approx(0.75)


def test_max_send_lag_is_not_measured_for_closed_loop_load():
    assert summarize([record(1.0)]).max_send_lag_s is None


def test_an_open_loop_record_ends_its_latency_after_its_schedule_not_after_its_send():
    """Its latency counts from the schedule: sent 0.75 s late and failing 0.25 s later, it ends
    at schedule + latency (1.0 + 1.0), not at send + latency (1.75 + 1.0)."""
    failed = open_loop(FAULT_AT + 1.0, FAULT_AT + 1.75, 1.0, ok=False)

    assert failed.end_offset_s == pytest.approx(FAULT_AT + 2.0)
    assert summarize([failed]).time_to_first_failure_s == pytest.approx(2.0)


# --- windows around the fault ----------------------------------------------------------------


def windows_run() -> Summary:
    """Fault at 10, the worker ready again at 13, the last failure ending at 14 and the next
    success starting at 15: the outage lasts 5 s (the later of 3 and 5), to 15."""
    records = [
        record(2, 0.5, ttft=0.1), record(4, 1.5, ttft=0.2),                 # pre-fault
        record(11, 3.0, ok=False), record(12, 0.5, ttft=0.3),               # outage: ends 14, ok
        record(15, 0.4, ttft=0.05), record(16, 0.6, ttft=0.06),             # recovered
    ]  # fmt: skip
    return summarize(records, events=[fault(), ready(13.0)])


def test_the_outage_lasts_until_both_the_deployment_and_its_clients_are_back():
    summary = windows_run()

    assert (summary.recovery_time, summary.client_outage_s) == (pytest.approx(3.0), pytest.approx(5.0))
    assert (summary.success_rate_pre_fault_pct, summary.success_rate_outage_pct, summary.success_rate_recovered_pct) == (100.0, 50.0, 100.0)


def test_window_percentiles_count_a_failure_at_its_time_to_failure_not_zero_nor_dropped():
    summary = windows_run()

    # Outage latencies 3.0 (the failure) and 0.5: p99 is near 3.0; without it, it would be 0.5.
    assert summary.latency_p99_outage_s == pytest.approx(0.5 + 0.99 * 2.5)
    # The failure had no first token: it counts at its 3.0 s.
    assert summary.ttft_p99_outage_ms == pytest.approx((0.3 + 0.99 * 2.7) * 1000)
    assert summary.latency_p50_recovered_s == pytest.approx(0.5)


def test_an_outage_that_never_ends_leaves_no_recovered_window():
    records = [record(2, 0.5), record(11, 3.0, ok=False), record(16, 0.5)]
    summary = summarize(records, events=[fault()])  # the worker never comes back

    assert (summary.success_rate_outage_pct, summary.success_rate_recovered_pct) == (pytest.approx(50.0), None)


def test_without_a_fault_everything_is_pre_fault():
    summary = summarize([record(2, 0.5), record(20, 0.5, ok=False)], events=[])

    assert (summary.success_rate_pre_fault_pct, summary.success_rate_outage_pct, summary.latency_p99_recovered_s) == (50.0, None, None)


def test_offered_rate_and_failures_during_the_outage_are_for_open_loop_load():
    closed = windows_run()
    records = [open_loop(t, t, 0.5, ok=t not in (11.0, 11.5)) for t in (1.0, 3.0, 5.0, 11.0, 11.5, 20.0, 21.0)]
    opened = summarize(records, events=[fault(), ready(13.0)])

    assert (closed.offered_rate_rps, closed.failed_during_outage) == (None, None)
    assert (opened.offered_rate_rps, opened.failed_during_outage) == (pytest.approx(7 / 20.0), 2)


# --- migration and integrity -------------------------------------------------------------------


def test_migrated_requests_count_records_with_a_migration_and_their_penalty_is_against_the_rest():
    migrated = [replace(record(12, 1.5), migrations=1), replace(record(14, 2.5, ok=False, error_kind="corrupt_output"), migrations=2)]
    plain = [record(1, 1.0), record(2, 1.0), replace(record(3, 1.0), migrations=0)]
    summary = summarize([*migrated, *plain])

    assert summary.migrated_requests == 2
    # The failed migrated record is left out: 1.5 against 1.0.
    assert summary.migration_latency_penalty_s == pytest.approx(0.5)


def test_the_migration_penalty_needs_migrated_and_other_successes_alike():
    assert summarize([record(1), record(2)]).migration_latency_penalty_s is None
    assert summarize([replace(record(1), migrations=1)]).migration_latency_penalty_s is None


def test_corrupt_outputs_count_failures_of_that_kind_only():
    records = [record(12, ok=False, error_kind="corrupt_output"), record(13, ok=False, error_kind="stream_error"), record(14)]

    assert summarize(records).corrupt_outputs == 1


def counted(offset: float, total: float | None, *, up: bool = True) -> WatcherSample:
    return WatcherSample(time=RUN_START + offset, offset_s=offset, up=up, migrations_total=total)


def test_migrations_counted_is_the_counters_rise_over_the_run_and_survives_a_reset():
    # 3 already counted before the run, +2, a failed scrape, +1, then the frontend restarted
    # (0) and counted 1 more.
    samples = [counted(0, 3.0), counted(1, 5.0), counted(2, None, up=False), counted(3, 6.0), counted(4, 0.0), counted(5, 1.0)]

    assert summarize(samples=samples).migrations_counted == 4.0


def test_migrations_are_not_counted_without_a_counter():
    assert summarize(samples=[sample(1, 2.0), sample(2, 3.0)]).migrations_counted is None


# --- trials ------------------------------------------------------------------------------------


def test_trial_statistics_give_the_mean_its_95pct_interval_and_the_range():
    stats = trial_stats([2.0, 4.0, 6.0])

    # s = 2, t(2 df) = 4.303: 4 ± 4.303 × 2 / √3
    assert (stats.n, stats.mean, stats.min, stats.max) == (3, 4.0, 2.0, 6.0)
    assert (stats.ci_low, stats.ci_high) == (pytest.approx(4 - 4.303 * 2 / 3**0.5), pytest.approx(4 + 4.303 * 2 / 3**0.5))
    assert stats.p95 == pytest.approx(5.8)


def test_trials_without_a_value_are_left_out_and_one_value_has_no_interval():
    stats = trial_stats([None, 3.0, None])

    assert (stats.n, stats.mean, stats.ci_low, stats.ci_high) == (1, 3.0, None, None)
    assert trial_stats([None]).mean is None


def test_bad_requests_are_summed_up_by_kind_and_status():
    bad = [
        BadRequestRecord(RUN_START, 1.0, "overflow", 400, 0.02),
        BadRequestRecord(RUN_START, 1.1, "overflow", 400, 0.05),
        BadRequestRecord(RUN_START, 1.2, "unknown_model", 404, 0.01),
        BadRequestRecord(RUN_START, 1.3, "unknown_model", 200, 0.9),
        BadRequestRecord(RUN_START, 1.4, "malformed_json", None, 10.0, "TimeoutError"),
    ]
    summary = compute_summary(failure="f", records=[], events=[], samples=[], startup_time_s=None, sla_latency_s=1.0, bad_requests=bad)
    assert summary.bad_requests == 5
    assert summary.bad_requests_rejected_pct == 60.0
    assert summary.bad_request_max_reject_s == 0.05, "the slowest of those rejected, not of all"
    assert summary.bad_request_statuses == "malformed_json: none×1; overflow: 400×2; unknown_model: 200×1, 404×1"
    plain = compute_summary(failure="f", records=[], events=[], samples=[], startup_time_s=None, sla_latency_s=1.0)
    assert (plain.bad_requests, plain.bad_requests_rejected_pct, plain.bad_request_statuses) == (None, None, None)


def test_the_cascade_is_what_the_unfaulted_replicas_held_before_and_during_the_outage():
    kill = Event(time=RUN_START + 10, offset_s=10.0, kind="fault", component="w", replica=0, pid=1, signal="SIGKILL", outcome="delivered", scheduled_offset_s=10.0)  # type: ignore[arg-type]
    back = Event(time=RUN_START + 14, offset_s=14.0, kind="ready", component="w", replica=0, pid=2)  # type: ignore[arg-type]
    samples = [ReplicaSample(RUN_START + t, t, "w", r, value) for t, r, value in [
        (5, 0, 2.0), (5, 1, 2.0), (5, 2, 2.0),
        (11, 0, None), (11, 1, 3.0), (11, 2, 3.0),  # the faulted one is not counted, nor is a missing value
        (13, 1, 4.0), (13, 2, 2.0),
        (20, 1, 2.0), (20, 2, 2.0),  # after the outage
    ]]  # fmt: skip
    summary = compute_summary(failure="f", records=[], events=[kill, back], samples=[], startup_time_s=None, sla_latency_s=1.0, replica_samples=samples)
    assert summary.in_flight_unfaulted_before == 2.0
    assert summary.in_flight_unfaulted_during == 3.0


def stall_samples(progress: list[float], healthy: bool | None = True) -> list[ReplicaSample]:
    return [ReplicaSample(RUN_START + i * 0.5, i * 0.5, "w", 0, 2, value, healthy) for i, value in enumerate(progress)]


def test_silent_stall_is_the_longest_time_health_said_ok_while_nothing_was_served():
    progress = [1, 2] + [3] * 9 + [4, 5]  # 3 from 1.0 s, 4 at 5.5 s
    summary = compute_summary(failure="f", records=[], events=[], samples=[], startup_time_s=None, sla_latency_s=1.0, replica_samples=stall_samples(progress))
    assert (summary.silent_stall_s, summary.silent_stall_of) == (4.5, "w_0")


def test_silent_stall_is_zero_when_the_replicas_kept_serving():
    summary = compute_summary(failure="f", records=[], events=[], samples=[], startup_time_s=None, sla_latency_s=1.0, replica_samples=stall_samples(list(range(10))))
    assert (summary.silent_stall_s, summary.silent_stall_of) == (0.0, None)


def test_silent_stall_is_none_without_a_health_probe_to_check():
    summary = compute_summary(failure="f", records=[], events=[], samples=[], startup_time_s=None, sla_latency_s=1.0, replica_samples=stall_samples([1] * 20, healthy=None))
    assert summary.silent_stall_s is None
