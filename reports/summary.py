"""The summary row of one run: every metric definition lives here, once.

Times are run offsets in seconds (`start_offset_s`, `Event.offset_s`, `WatcherSample.offset_s`).
A value that cannot be computed is `None`; the writers render it as "N/A".

Definitions:

- fault time: `offset_s` of the first `fault` event whose outcome is `delivered` (a fault
  that was `not_applicable`, or failed to be delivered, never happened to the deployment).
  With no such event every record and sample is "before" and every "After" value is `None`.
- before / after: a record is "before" when `start_offset_s < fault`, else "after"; a request
  in flight at the fault therefore counts as before. Samples split on their own `offset_s`.
- end offset of a record: `start_offset_s + latency_s`; for an open-loop record (one with a
  `scheduled_offset_s`, when it should have been sent), `scheduled_offset_s + latency_s`,
  since its latency and TTFT count from then, the wait for a free slot included.
- send lag of an open-loop record: `start_offset_s - scheduled_offset_s`.
- Failure: the failure's name (`none` for the baseline run).
- Success / Failed: records with status `success` / `failure`, over the whole run.
- Latency Before / After: mean `latency_s` of successful records.
- Pending Before / After: mean `pending_requests` over samples with `up` true and a value.
  This is the reference's mean over samples; the report shows beside its chart the same
  samples averaged over time (`pending_over_time`): each value holding until the window's next
  sample, from the window's first sample to the fault time (before) or to its last sample
  (after), so a burst of samples weighs only the time it covers.
- Violations Before / After: successful records with `latency_s > sla_latency_s` (strictly).
- Recovery Time: the instances (component, replica) faulted at the first fault time (the
  delivered fault events sharing its `scheduled_offset_s`, or its exact `offset_s` when it was
  not scheduled) must each be back after their fault: a `ready` event (a replacement passed its
  probe), a `resume` event (a hung process was continued) or a `heal` event (a faulted link
  was healed), on schedule, not because the run ended (their `teardown` field); the value is
  the offset of
  the last of those first ready events minus the fault time. `None` if any never came back.
- Startup Time: as measured by the caller.
- TTFT p50/p90 Before/After (ms): percentiles of `ttft_s` of successful records that have one.
- ITL p50/p90 Before/After (ms): percentiles over every individual `itl_s` value of
  successful records (not over per-request means, so long streams weigh more), each value
  taken as a float32 (`faultsuite.record_table`: seven significant digits).
- Latency p50/p90/p99 Before/After (s): percentiles of `latency_s` of the successful records
  whose means are Latency Before / After.
- Output Throughput (tok/s): `output_tokens` of successful records, divided by the run span
  (as for Goodput).
- Time To First Failure (s): over failed records whose end offset is at or after the fault,
  the smallest end offset minus the fault time.
- Client Outage (s): how long the clients went unserved, counted from the fault, as Recovery
  Time counts the processes' return. Let the last failure end be the largest end offset of
  failed records ending at or after the fault; the value is the start of the first successful
  record that starts at or after it, minus the fault time. `0.0` when nothing failed after
  the fault; `None` when no success follows the last failure. (Called Client Recovery before;
  `--expect client_recovery_s` still reads it.)
- Goodput (req/s): successful records with `latency_s <= sla_latency_s`, divided by the run
  span (earliest start offset to latest end offset over all records).
- Error Breakdown: `"kind=count; ..."` over failed records, by count descending then kind;
  a failure without a kind counts as `unknown`; `""` when nothing failed.
- Max Send Lag (s): the largest send lag over open-loop records; `None` for closed-loop load.

Windows (three, around the fault, named in the columns Pre-Fault, Outage and Recovered;
every value `None` for a window without records, and every Outage and Recovered value `None`
for a run without a delivered fault):

- arrival offset of a record: `scheduled_offset_s` for open-loop records, else
  `start_offset_s`: when its user asked.
- outage end: the fault time plus the later of Recovery Time and Client Outage (the
  deployment is back and so are its clients); none (the outage lasts to the end of the run)
  when either is `None`.
- Pre-Fault: arrival offset < fault time; Outage: fault time <= arrival offset < outage end;
  Recovered: arrival offset >= outage end.
- failure-inclusive percentiles: a failed record counts at its `latency_s`, its time to
  failure; it is never dropped, nor counted as 0.
- Success Rate <window> (%): successful records over all records of the window, times 100.
- Latency p50/p99 <window> (s): failure-inclusive percentiles of `latency_s`.
- TTFT p99 <window> (ms): failure-inclusive percentile of `ttft_s`: a failed record without a
  first token counts at its `latency_s`; a success without one (non-streamed) is left out.
- Offered Rate (req/s), open-loop load only: open-loop records over the span of their
  scheduled offsets (first to last).
- Failed During Outage, open-loop load only: failed records of the Outage window.

Migration and integrity (where the deployment says a stream moved to another worker, the
`migrations` of its record; where it declares `request.integrity`, the `corrupt_output` kind):

- Migrated Requests: records with `migrations` of at least 1.
- Migration Latency Penalty (s): mean `latency_s` of migrated successes minus that of the
  other successes; `None` without both.
- Corrupt Outputs: failed records of kind `corrupt_output`. A stream whose tokens restarted
  at the first one counts as migrated too (its record's `migrations` is at least 1), whether
  or not the deployment said so: only a stream replayed on another worker does that.
- Migrations Counted: the rise of the deployment's own migration counter (`metrics.migrations`,
  the watcher's `migrations_total`) over the run, as Prometheus's `increase` counts it: over up
  samples with a value, in order, each rise between neighbours, and after a fall (the
  counter's process restarted) the whole new value; `None` when no sample has a value.

Bad input (a `bad_requests` fault's records, `bad_requests.jsonl`; every value `None` when
the run sent none):

- Bad Requests: how many were sent.
- Bad Requests Rejected (%): those answered with a 4xx status, times 100 over all sent.
- Bad Request Max Reject (s): the longest `latency_s` of the rejected ones.
- Bad Request Statuses: `"kind: status×count, ...; ..."`, kinds in name order, statuses in
  number order, "none" for no answer.

Memory (`processes.csv`, by `reports.memory`):

- Max RSS Growth (MiB/min): the largest least-squares slope of a process generation's summed
  RSS (an instance's processes under one leader) from its `ready` event on, over generations
  sampled 10 s or more so; Max RSS Growth Of: its instance. `None` when none was.

The cascade (`replicas.csv`: each replica's own requests in flight, where its component
declares `metrics.in_flight`):

- unfaulted replicas: those sampled that the first fault did not hit (its instances, as for
  Recovery Time).
- In Flight Unfaulted Before / During: the mean in-flight count over the unfaulted replicas'
  samples with a value, before the fault time / from it until the outage end (see Windows;
  the run's end when the outage never ended). During is `None` without a fault.

Health truth (`replicas.csv`, where a component declares `metrics.progress` and has an HTTP
health probe; by `faultsuite.stalls`):

- Silent Stall (s): the longest time a replica's health probe said ok while it held requests
  and its progress counter did not move, over stalls of at least `STALL_AFTER_S` (3 s); `0.0`
  when there was none; `None` when no replica was sampled with both. Silent Stall Of: that
  replica (`<component>_<replica>`).

Trials (`--trials N`: the same scenario N times, each a run of its own), for each of
`TRIAL_METRICS` over the trials where it has a value (`n` of them):

- mean, min, max: of those values; p95: their 95th percentile (as above);
- 95% confidence interval of the mean: mean ± t × s / √n, with s the sample standard deviation
  and t Student's 0.975 quantile for n - 1 degrees of freedom; `None` for n < 2.

Percentiles interpolate linearly between closest ranks (numpy's default method).
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from faultsuite.events import Event, EventKind
from faultsuite.record_table import RecordTable
from faultsuite.records import BadRequestRecord, FailureKind, RequestRecord
from faultsuite.samples import ReplicaSample, WatcherSample
from faultsuite.stalls import silent_stalls
from reports.memory import max_rss_growth

__all__ = [
    "ALL_COLUMNS",
    "back_at",
    "delivered_faults",
    "error_counts",
    "as_table",
    "fault_moment",
    "fault_offset",
    "faulted_together",
    "EXTRA_COLUMNS",
    "SUMMARY_COLUMNS",
    "Summary",
    "TRIAL_METRICS",
    "TrialStats",
    "Value",
    "compute_summary",
    "pending_over_time",
    "percentile",
    "trial_stats",
]

#: The three windows around the fault, as the columns name them: before it, during the outage,
#: after recovery.
WINDOWS = ("Pre-Fault", "Outage", "Recovered")

SUMMARY_COLUMNS = (
    "Failure",
    "Startup Time",
    "Success",
    "Failed",
    "Latency Before",
    "Latency After",
    "Pending Before",
    "Pending After",
    "Violations Before",
    "Violations After",
    "Recovery Time",
)

EXTRA_COLUMNS = (
    "TTFT p50 Before (ms)",
    "TTFT p90 Before (ms)",
    "TTFT p50 After (ms)",
    "TTFT p90 After (ms)",
    "ITL p50 Before (ms)",
    "ITL p90 Before (ms)",
    "ITL p50 After (ms)",
    "ITL p90 After (ms)",
    "Time To First Failure (s)",
    "Client Outage (s)",
    "Goodput (req/s)",
    "Error Breakdown",
    "Max Send Lag (s)",
    *(f"{metric} {window}{unit}" for window in WINDOWS
      for metric, unit in (("Success Rate", " (%)"), ("Latency p50", " (s)"), ("Latency p99", " (s)"), ("TTFT p99", " (ms)"))),
    "Offered Rate (req/s)",
    "Failed During Outage",
    "Migrated Requests",
    "Migration Latency Penalty (s)",
    "Corrupt Outputs",
    "Migrations Counted",
    "Bad Requests",
    "Bad Requests Rejected (%)",
    "Bad Request Max Reject (s)",
    "Bad Request Statuses",
    "Max RSS Growth (MiB/min)",
    "Max RSS Growth Of",
    "In Flight Unfaulted Before",
    "In Flight Unfaulted During",
    "Silent Stall (s)",
    "Silent Stall Of",
    *(f"Latency p{q} {side} (s)" for side in ("Before", "After") for q in (50, 90, 99)),
    "Output Throughput (tok/s)",
)  # fmt: skip

ALL_COLUMNS = SUMMARY_COLUMNS + EXTRA_COLUMNS

#: What one summary cell holds; `None` means "not computable" and renders as "N/A".
Value = str | int | float | None


@dataclass(frozen=True)
class Summary:
    """One run's summary; fields are declared in `ALL_COLUMNS` order, one per column."""

    failure: str
    startup_time: float | None
    success: int
    failed: int
    latency_before: float | None
    latency_after: float | None
    pending_before: float | None
    pending_after: float | None
    violations_before: int
    violations_after: int | None
    recovery_time: float | None
    ttft_p50_before_ms: float | None
    ttft_p90_before_ms: float | None
    ttft_p50_after_ms: float | None
    ttft_p90_after_ms: float | None
    itl_p50_before_ms: float | None
    itl_p90_before_ms: float | None
    itl_p50_after_ms: float | None
    itl_p90_after_ms: float | None
    time_to_first_failure_s: float | None
    client_outage_s: float | None
    goodput_rps: float | None
    error_breakdown: str
    max_send_lag_s: float | None = None
    success_rate_pre_fault_pct: float | None = None
    latency_p50_pre_fault_s: float | None = None
    latency_p99_pre_fault_s: float | None = None
    ttft_p99_pre_fault_ms: float | None = None
    success_rate_outage_pct: float | None = None
    latency_p50_outage_s: float | None = None
    latency_p99_outage_s: float | None = None
    ttft_p99_outage_ms: float | None = None
    success_rate_recovered_pct: float | None = None
    latency_p50_recovered_s: float | None = None
    latency_p99_recovered_s: float | None = None
    ttft_p99_recovered_ms: float | None = None
    offered_rate_rps: float | None = None
    failed_during_outage: int | None = None
    migrated_requests: int = 0
    migration_latency_penalty_s: float | None = None
    corrupt_outputs: int = 0
    migrations_counted: float | None = None
    bad_requests: int | None = None
    bad_requests_rejected_pct: float | None = None
    bad_request_max_reject_s: float | None = None
    bad_request_statuses: str | None = None
    max_rss_growth_mib_per_min: float | None = None
    max_rss_growth_of: str | None = None
    in_flight_unfaulted_before: float | None = None
    in_flight_unfaulted_during: float | None = None
    silent_stall_s: float | None = None
    silent_stall_of: str | None = None
    latency_p50_before_s: float | None = None
    latency_p90_before_s: float | None = None
    latency_p99_before_s: float | None = None
    latency_p50_after_s: float | None = None
    latency_p90_after_s: float | None = None
    latency_p99_after_s: float | None = None
    output_throughput_tok_s: float | None = None

    def row(self) -> dict[str, Value]:
        """Column name to value, in `ALL_COLUMNS` order; `None` where there is no value."""
        pairs = zip(ALL_COLUMNS, fields(self), strict=True)
        return {column: getattr(self, f.name) for column, f in pairs}


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    """The `q`-th percentile (0..100) with linear interpolation; `None` for no values."""
    array = np.asarray(values, dtype=float)
    return float(np.percentile(array, q)) if array.size else None


def _mean(values: Sequence[float] | np.ndarray) -> float | None:
    array = np.asarray(values, dtype=float)
    return float(array.mean()) if array.size else None


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _percentiles(values: np.ndarray, qs: tuple[float, ...], *, in_place: bool = False) -> tuple[float | None, ...]:
    """Several percentiles of one array in one pass; `None` each for no values. `in_place`
    lets numpy reorder `values` rather than copy them (for the ITL pools: tens of millions
    of values whose order means nothing)."""
    if not values.size:
        return (None,) * len(qs)
    return tuple(float(v) for v in np.percentile(values, qs, overwrite_input=in_place))


def delivered_faults(events: list[Event]) -> list[Event]:
    """The fault events that reached a process, in time order."""
    return sorted((e for e in events if e.delivered_fault), key=lambda e: e.offset_s)


def fault_offset(events: list[Event]) -> float:
    """The fault time (see the module docstring); infinite when no fault was delivered, which
    puts every record and sample before it."""
    first = next(iter(delivered_faults(events)), None)
    return math.inf if first is None else first.offset_s


def fault_moment(event: Event) -> float:
    """When a fault was due: its schedule when it has one, else when it happened. One scheduled
    fault that hits several processes emits one event each, microseconds apart; the schedule is
    what ties them together."""
    return event.offset_s if event.scheduled_offset_s is None else event.scheduled_offset_s


def faulted_together(first: Event, events: list[Event]) -> list[Event]:
    """The delivered fault events of the same moment as `first` (itself included)."""
    return [e for e in delivered_faults(events) if fault_moment(e) == fault_moment(first)]


def back_at(hit: Event, events: list[Event]) -> float | None:
    """Offset of the first `ready`, `resume` or `heal` of the instance `hit` faulted, after
    it; a `resume` or `heal` at teardown is the run ending, not a recovery. `None` if it never
    came back."""
    back = [
        e.offset_s
        for e in events
        if e.kind in (EventKind.READY, EventKind.RESUME, EventKind.HEAL)
        and not e.teardown
        and (e.component, e.replica) == (hit.component, hit.replica)
        and e.offset_s > hit.offset_s
    ]
    return min(back, default=None)


def _recovery_time(fault: Event, events: list[Event]) -> float | None:
    back = [back_at(hit, events) for hit in faulted_together(fault, events)]
    if any(b is None for b in back):
        return None
    return max(back) - fault.offset_s  # type: ignore[type-var]


def error_counts(records: RecordTable) -> list[tuple[str, int]]:
    """(kind, count) over failed records, by count descending then kind; no kind is `unknown`."""
    counts = Counter(kind or "unknown" for kind in records.error_kind[~records.ok].tolist())
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _run_span(records: RecordTable) -> float | None:
    """Earliest start to latest end over all records; None when there is no such span."""
    if not len(records):
        return None
    span = float(records.end_offset_s.max() - records.start_offset_s.min())
    return span if span > 0 else None


def _client_outage(fault_s: float, records: RecordTable, failed_after: np.ndarray) -> float | None:
    if not failed_after.any():
        return 0.0
    last_fail_end = records.end_offset_s[failed_after].max()
    starts = records.start_offset_s[records.ok & (records.start_offset_s >= last_fail_end)]
    return float(starts.min()) - fault_s if starts.size else None


def _migration_penalty(records: RecordTable) -> float | None:
    moved = records.migrations > 0  # NaN (not said) compares false: it stayed
    moved_mean = _mean(records.latency_s[records.ok & moved])
    stayed_mean = _mean(records.latency_s[records.ok & ~moved])
    return None if moved_mean is None or stayed_mean is None else moved_mean - stayed_mean


def _outage_s(recovery_time: float | None, client_outage: float | None) -> float | None:
    """How long after the fault the outage ends; None when it does not within the run."""
    if recovery_time is None or client_outage is None:
        return None
    return max(recovery_time, client_outage)


def _window_values(records: RecordTable, window: np.ndarray) -> tuple[float | None, float | None, float | None, float | None]:
    """(success rate %, latency p50 s, latency p99 s, TTFT p99 ms) of the records in
    `window` (a mask), failure-inclusive."""
    if not window.any():
        return None, None, None, None
    ok, latency, ttft = records.ok[window], records.latency_s[window], records.ttft_s[window]
    has_ttft = ~np.isnan(ttft)
    counted = np.where(has_ttft, ttft, latency)[has_ttft | ~ok]
    p50, p99 = _percentiles(latency, (50, 99))
    return 100.0 * float(ok.mean()), p50, p99, _ms(_percentiles(counted, (99,))[0])


def _windows(records: RecordTable, fault_s: float | None, outage_s: float | None) -> dict[str, object]:
    """The window fields of the Summary (see the module docstring)."""
    arrival = records.arrival_s
    if fault_s is None:
        before = np.ones(len(records), dtype=bool)
        during = after = ~before
    else:
        end = math.inf if outage_s is None else fault_s + outage_s
        before = arrival < fault_s
        during = (fault_s <= arrival) & (arrival < end)
        after = arrival >= end
    values: dict[str, object] = {}
    for name, window in (("pre_fault", before), ("outage", during), ("recovered", after)):
        rate, p50, p99, ttft = _window_values(records, window)
        values.update({f"success_rate_{name}_pct": rate, f"latency_p50_{name}_s": p50, f"latency_p99_{name}_s": p99, f"ttft_p99_{name}_ms": ttft})
    scheduled = records.scheduled_offset_s[records.open_loop]
    if scheduled.size:
        span = float(scheduled.max() - scheduled.min())
        values["offered_rate_rps"] = scheduled.size / span if span > 0 else None
        values["failed_during_outage"] = None if fault_s is None else int((~records.ok & during).sum())
    return values


def as_table(records: RecordTable | Iterable[RequestRecord], itl_split_s: float) -> RecordTable:
    """`records` as a table whose ITL pools split at `itl_split_s`: a list is tabled, a table
    must already split there (ValueError otherwise: its pools cannot be split again)."""
    if not isinstance(records, RecordTable):
        return RecordTable.from_records(records, itl_split_s)
    if records.itl_split_s != itl_split_s:
        raise ValueError(f"the records' ITL pools split at {records.itl_split_s}, not at the fault time {itl_split_s}")
    return records


def compute_summary(
    *,
    failure: str,
    records: RecordTable | Iterable[RequestRecord],
    events: list[Event],
    samples: list[WatcherSample],
    startup_time_s: float | None,
    sla_latency_s: float,
    bad_requests: Sequence[BadRequestRecord] = (),
    processes: pd.DataFrame | None = None,
    replica_samples: Sequence[ReplicaSample] = (),
) -> Summary:
    """The summary of one run, by the definitions in this module's docstring. `records` is a
    `RecordTable` whose pools split at the fault time (`fault_offset(events)`), or records."""
    fault = next(iter(delivered_faults(events)), None)
    # With no fault an infinite fault time puts everything "before"; the after groups are then
    # empty, which already yields None for every mean and percentile.
    fault_s = math.inf if fault is None else fault.offset_s
    table = as_table(records, fault_s)

    ok, latency = table.ok, table.latency_s
    before = table.start_offset_s < fault_s
    ok_before, ok_after = ok & before, ok & ~before
    failed_after = ~ok & (table.end_offset_s >= fault_s)
    pending = _usable_pending(samples)
    has_ttft = ~np.isnan(table.ttft_s)
    ttft_before = _percentiles(table.ttft_s[ok_before & has_ttft], (50, 90))
    ttft_after = _percentiles(table.ttft_s[ok_after & has_ttft], (50, 90))
    itl_before = _percentiles(table.itl_before, (50, 90), in_place=True)
    itl_after = _percentiles(table.itl_after, (50, 90), in_place=True)

    recovery_time = None if fault is None else _recovery_time(fault, events)
    client_outage = None if fault is None else _client_outage(fault_s, table, failed_after)
    span = _run_span(table)
    send_lags = table.send_lag_s[table.open_loop]

    def violations(group: np.ndarray) -> int:
        return int((latency[group] > sla_latency_s).sum())

    return Summary(
        failure=failure,
        startup_time=startup_time_s,
        success=int(ok.sum()),
        failed=int((~ok).sum()),
        latency_before=_mean(latency[ok_before]),
        latency_after=_mean(latency[ok_after]),
        pending_before=_mean([p for t, p in pending if t < fault_s]),
        pending_after=_mean([p for t, p in pending if t >= fault_s]),
        violations_before=violations(ok_before),
        violations_after=None if fault is None else violations(ok_after),
        recovery_time=recovery_time,
        ttft_p50_before_ms=_ms(ttft_before[0]),
        ttft_p90_before_ms=_ms(ttft_before[1]),
        ttft_p50_after_ms=_ms(ttft_after[0]),
        ttft_p90_after_ms=_ms(ttft_after[1]),
        itl_p50_before_ms=_ms(itl_before[0]),
        itl_p90_before_ms=_ms(itl_before[1]),
        itl_p50_after_ms=_ms(itl_after[0]),
        itl_p90_after_ms=_ms(itl_after[1]),
        time_to_first_failure_s=(
            float(table.end_offset_s[failed_after].min()) - fault_s if failed_after.any() else None
        ),
        client_outage_s=client_outage,
        goodput_rps=None if span is None else int((ok & (latency <= sla_latency_s)).sum()) / span,
        error_breakdown="; ".join(f"{kind}={count}" for kind, count in error_counts(table)),
        max_send_lag_s=float(send_lags.max()) if send_lags.size else None,
        **_windows(table, None if fault is None else fault_s, _outage_s(recovery_time, client_outage)),
        migrated_requests=int((table.migrations > 0).sum()),
        migration_latency_penalty_s=_migration_penalty(table),
        corrupt_outputs=int((~ok & (table.error_kind == FailureKind.CORRUPT_OUTPUT.value)).sum()),
        migrations_counted=_counter_increase([s.migrations_total for s in samples if s.up and s.migrations_total is not None]),
        **_bad_request_values(bad_requests),
        **dict(zip(("max_rss_growth_mib_per_min", "max_rss_growth_of"), max_rss_growth(processes if processes is not None else pd.DataFrame(), events))),
        **_cascade(replica_samples, fault, events, _outage_s(recovery_time, client_outage)),
        **_silent_stall(replica_samples),
        **_latency_percentiles("before", latency[ok_before]),
        **_latency_percentiles("after", latency[ok_after]),
        output_throughput_tok_s=None if span is None else int(table.output_tokens[ok].sum()) / span,
    )


def _latency_percentiles(side: str, latencies: np.ndarray) -> dict[str, float | None]:
    return {f"latency_p{q}_{side}_s": value for q, value in zip((50, 90, 99), _percentiles(latencies, (50, 90, 99)))}


def _usable_pending(samples: Iterable[WatcherSample]) -> list[tuple[float, float]]:
    """(offset, pending) of the samples Pending Before / After count: up, with a value."""
    return [(s.offset_s, s.pending_requests) for s in samples if s.up and s.pending_requests is not None]


def pending_over_time(samples: Iterable[WatcherSample], events: list[Event]) -> tuple[float | None, float | None]:
    """Pending requests before and after the fault time, averaged over time (see Pending
    Before / After in the module docstring); None for a window without a usable sample."""
    fault_s = fault_offset(events)
    pending = _usable_pending(samples)
    return (
        _time_average([(t, p) for t, p in pending if t < fault_s], until=fault_s),
        _time_average([(t, p) for t, p in pending if t >= fault_s], until=math.inf),
    )


def _time_average(readings: list[tuple[float, float]], until: float) -> float | None:
    """The time average of a gauge's (offset, value) readings, each value holding until the
    next and the last until `until` (infinite: the last reading ends the span). Readings that
    span no time average as numbers."""
    if not readings:
        return None
    readings = sorted(readings)
    end = readings[-1][0] if math.isinf(until) else until
    span = end - readings[0][0]
    if span <= 0:
        return _mean([v for _, v in readings])
    ends = [t for t, _ in readings[1:]] + [end]
    return sum(v * (stop - t) for (t, v), stop in zip(readings, ends)) / span


def _silent_stall(samples: Sequence[ReplicaSample]) -> dict[str, Value]:
    if not any(s.healthy is not None and s.progress is not None for s in samples):
        return {}  # no replica says both: nothing to check
    longest = max(silent_stalls(samples), key=lambda stall: stall.duration_s or 0.0, default=None)
    if longest is None:
        return {"silent_stall_s": 0.0}
    name = f"{longest.component}_{longest.replica}"
    return {"silent_stall_s": longest.duration_s, "silent_stall_of": name}


def _cascade(samples: Sequence[ReplicaSample], fault: Event | None, events: list[Event], outage_s: float | None) -> dict[str, Value]:
    hit = set() if fault is None else {(e.component, e.replica) for e in faulted_together(fault, events)}
    unfaulted = [s for s in samples if (s.component, s.replica) not in hit and s.in_flight is not None]
    if fault is None:
        return {"in_flight_unfaulted_before": _mean([s.in_flight for s in unfaulted])}  # type: ignore[misc]
    end = math.inf if outage_s is None else fault.offset_s + outage_s
    return {
        "in_flight_unfaulted_before": _mean([s.in_flight for s in unfaulted if s.offset_s < fault.offset_s]),  # type: ignore[misc]
        "in_flight_unfaulted_during": _mean([s.in_flight for s in unfaulted if fault.offset_s <= s.offset_s < end]),  # type: ignore[misc]
    }


def _bad_request_values(bad: Sequence[BadRequestRecord]) -> dict[str, Value]:
    if not bad:
        return {}
    rejected = [r for r in bad if r.rejected]
    statuses: dict[str, Counter] = {}
    for r in bad:
        statuses.setdefault(r.kind, Counter())[r.status] += 1
    described = "; ".join(
        f"{kind}: " + ", ".join(f"{'none' if status is None else status}×{count}" for status, count in sorted(counts.items(), key=lambda sc: (sc[0] is None, sc[0] or 0)))
        for kind, counts in sorted(statuses.items())
    )
    return {
        "bad_requests": len(bad),
        "bad_requests_rejected_pct": 100.0 * len(rejected) / len(bad),
        "bad_request_max_reject_s": max((r.latency_s for r in rejected), default=None),
        "bad_request_statuses": described,
    }


def _counter_increase(readings: list[float]) -> float | None:
    """Migrations Counted (see the module docstring) from a counter's readings, in order."""
    if not readings:
        return None
    return sum(b - a if b >= a else b for a, b in zip(readings, readings[1:]))


#: Summary columns whose spread over trials is reported, by column name and Summary field.
TRIAL_METRICS = {"Failed": "failed", "Recovery Time": "recovery_time", "Client Outage (s)": "client_outage_s"}

#: Student's t, 0.975 quantile, by degrees of freedom (1 to 30); 1.96 beyond.
_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
          2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


@dataclass(frozen=True)
class TrialStats:
    """One metric over trials (see the module docstring); `None` where it has no value."""

    n: int
    mean: float | None
    min: float | None
    max: float | None
    p95: float | None
    ci_low: float | None
    ci_high: float | None


def trial_stats(values: Iterable[float | None]) -> TrialStats:
    """The statistics of one metric over trials; trials without a value are left out."""
    present = [float(v) for v in values if v is not None]
    n = len(present)
    if n == 0:
        return TrialStats(0, None, None, None, None, None, None)
    mean = sum(present) / n
    low = high = None
    if n >= 2:
        sd = math.sqrt(sum((v - mean) ** 2 for v in present) / (n - 1))
        half = (_T_975[n - 2] if n - 1 <= len(_T_975) else 1.96) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return TrialStats(n, mean, min(present), max(present), percentile(present, 95), low, high)
