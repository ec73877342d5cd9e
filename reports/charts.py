"""The data of the reports' charts: JSON-ready bundles that `reports/static/charts.js` draws.

A bundle is:

    {"span": [x0, x1],                   # the run's time span (s): every time chart's full view
     "faults": [offset_s, ...],          # every delivered fault, drawn as a vertical line
     "fault_labels": [str, ...],         # each fault's instance, signal (or kind) and pid, on its line
     "recovery": [start, end] | null,    # process recovery: first fault → first fault + Recovery Time
                                         # (end null: to the end)
     "client_outage": [start, end] | null,  # client outage: first failure after the fault → first
                                         # fault + Client Outage (end null: to the end); null when
                                         # nothing failed after the fault
     "outage": [start, end] | null,      # the Outage window of the summary (end null: to the end);
                                         # before it is Pre-Fault, after it Recovered
     "launch": [start, 0] | null,        # the launch and warm-up, before the load's start
     "clock_origin": epoch s | null,     # the wall-clock time of time 0, for the hover's clock
     "charts": {name: {"kind": "points" | "steps" | "bars", "x": [...], "x_label": str, "y_label": str,
                       "y2_label": str (optional),
                       "series": [{"label": str, "color": str (optional), "axis": "y2" (optional),
                                   "data": [value | null, ...]}]}}}

`x` ascends and every series has one value per `x` (null: no value there, a gap). Times are
seconds from the load's start (the run's `manifest.load_started_offset_s`: when the clients
started, so a fault `--fault-at 5` is at 5), rounded to the millisecond. `steps` is a sampled
gauge: each value holds until the next sample, so it is drawn as steps, never as a line
joining samples. A chart with no value at all is left out of `charts`, and the page shows a
sentence in its place. Chart names: `timeline` (x: request start offset, series
success / failure latency in s, one point per request),
`throughput` (requests succeeded / failed per second of their end offset), `failure_rate`
(failed as a percentage of the requests that ended in each second), `tokens` (TTFT and
mean ITL in ms per request), `watcher` (pending requests, active workers), `gpu_util` and
`gpu_memory` (per GPU, device rows), `process_cpu` and `process_rss` (per instance, orphans of an
instance apart as "<instance> (orphans)").

The per-request charts (`timeline`, `tokens`) hold at most `max_points` requests (100,000 in a
run's report, 5,000 in a group's): every failure while failures fit in half of that (or in
what the successes leave), the rest at an even stride through the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd

from faultsuite.events import Event, EventKind
from faultsuite.record_table import RecordTable
from reports.rundata import RunData
from reports.summary import delivered_faults

__all__ = ["GROUP_TIMELINE_POINTS", "chart_bundle", "fault_label", "numeric"]

#: At most this many request points per run in the group report's small timelines.
GROUP_TIMELINE_POINTS = 5000

#: At most this many request points in each per-request chart of a run's report: a million
#: requests drawn one by one would make a report of tens of MiB that no browser pans.
RUN_CHART_POINTS = 100_000

#: The time axes count from the load's start: time 0 is when the clients started.
TIME_LABEL = "time (s from load start)"
START_LABEL = "request start (s from load start)"
END_LABEL = "request end (s from load start)"

SUCCESS_COLOR = "#1f77b4"
FAILURE_COLOR = "#d62728"


# --- numbers -------------------------------------------------------------------------------


def _num(value: Any, digits: int) -> float | None:
    """A JSON-safe rounded number; None for missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _column(values: Iterable[Any], digits: int) -> list[float | None]:
    """Rounded JSON-safe numbers (None for missing, NaN or infinite), vectorised: a timeline
    column holds one value per request, 100,000 and more."""
    array = np.asarray(values if isinstance(values, (list, pd.Series, pd.Index, np.ndarray)) else list(values), dtype=float)
    rounded = np.round(array, digits)
    return [v if math.isfinite(v) else None for v in rounded.tolist()]


def numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    frame = frame.copy()
    for name in columns:
        frame[name] = pd.to_numeric(frame[name], errors="coerce")
    return frame


def _name(value: Any) -> str:
    return "unknown" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


# --- chart data ----------------------------------------------------------------------------


def _chart(kind: str, x: list, series: list[dict], x_label: str, y_label: str, **extra) -> dict | None:
    """A chart spec, keeping the series that hold a value; None when none does."""
    kept = [s for s in series if any(v is not None for v in s["data"])]
    if not x or not kept:
        return None
    if all(s.get("axis") == "y2" for s in kept):
        # Only the right-hand series has values: it takes the left axis, so no axis is left
        # without a series (uPlot cannot range a scale no series feeds).
        kept = [{k: v for k, v in s.items() if k != "axis"} for s in kept]
        y_label = extra.pop("y2_label", y_label)
    elif not any(s.get("axis") == "y2" for s in kept):
        extra.pop("y2_label", None)
    return {"kind": kind, "x": x, "x_label": x_label, "y_label": y_label, "series": kept, **extra}


def _downsample(indices: np.ndarray, ok: np.ndarray, max_points: int | None) -> np.ndarray:
    """At most `max_points` of `indices` (records in start order), failures kept first (they
    are what a reader looks for), the rest of each group taken at an even stride; in the
    order given."""
    if max_points is None or len(indices) <= max_points:
        return indices

    def stride(group: np.ndarray, budget: int) -> np.ndarray:
        if len(group) <= budget:
            return group
        return group[(np.arange(budget) * (len(group) / budget)).astype(np.int64)]

    failed, good = indices[~ok[indices]], indices[ok[indices]]
    failed = stride(failed, max_points // 2 if len(good) > max_points // 2 else max_points - len(good))
    good = stride(good, max_points - len(failed))
    kept = np.zeros(len(ok), dtype=bool)
    kept[failed] = kept[good] = True
    return indices[kept[indices]]


def _timeline(records: RecordTable, max_points: int | None, origin: float) -> dict | None:
    # The table is in start order already.
    shown = _downsample(np.arange(len(records)), records.ok, max_points)
    x = _column(records.start_offset_s[shown] - origin, 3)
    latency = records.latency_s[shown]
    ok = records.ok[shown]
    return _chart(
        "points",
        x,
        [
            {"label": "success", "color": SUCCESS_COLOR, "data": _column(np.where(ok, latency, np.nan), 3)},
            {"label": "failure", "color": FAILURE_COLOR, "data": _column(np.where(ok, np.nan, latency), 3)},
        ],
        START_LABEL,
        "latency (s)",
    )


def _by_end_second(records: RecordTable, origin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The whole seconds (from `origin`) from the first request's end to the last's, and how
    many requests succeeded and failed that ended in each; None when none ended."""
    ends = records.end_offset_s - origin
    finite = np.isfinite(ends)
    if not finite.any():
        return None
    seconds = np.floor(ends[finite]).astype(np.int64)
    first = int(seconds.min())
    ok = records.ok[finite]
    length = int(seconds.max()) - first + 1
    succeeded = np.bincount(seconds[ok] - first, minlength=length)
    failed = np.bincount(seconds[~ok] - first, minlength=length)
    return np.arange(first, first + length), succeeded, failed


def _throughput(records: RecordTable, origin: float) -> dict | None:
    if (ended := _by_end_second(records, origin)) is None:
        return None
    seconds, succeeded, failed = ended
    return _chart(
        "bars",
        seconds.tolist(),
        [
            {"label": "succeeded", "color": SUCCESS_COLOR, "data": succeeded.tolist()},
            {"label": "failed", "color": FAILURE_COLOR, "data": failed.tolist()},
        ],
        END_LABEL,
        "requests per second",
    )


def _failure_rate(records: RecordTable, origin: float) -> dict | None:
    """Failed requests as a percentage of those that ended in each second (by end offset);
    no value for a second in which none ended."""
    if (ended_by_second := _by_end_second(records, origin)) is None:
        return None
    seconds, succeeded, failed = ended_by_second
    ended = succeeded + failed
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(ended > 0, 100.0 * failed / ended, np.nan)
    return _chart(
        "steps",
        seconds.tolist(),
        [{"label": "failed (%)", "color": FAILURE_COLOR, "data": _column(rate, 1)}],
        END_LABEL,
        "failed (% of requests ended)",
    )


def _tokens(records: RecordTable, max_points: int | None, origin: float) -> dict | None:
    streamed = np.flatnonzero(~np.isnan(records.ttft_s) | (records.itl_count > 0))
    shown = _downsample(streamed, records.ok, max_points)
    return _chart(
        "points",
        _column(records.start_offset_s[shown] - origin, 3),
        [
            {"label": "TTFT (ms)", "data": _column(records.ttft_s[shown] * 1000, 1)},
            {"label": "mean ITL (ms)", "axis": "y2", "data": _column(records.mean_itl_s[shown] * 1000, 2)},
        ],
        START_LABEL,
        "TTFT (ms)",
        y2_label="mean ITL (ms)",
    )


def _watcher(data: RunData, origin: float) -> dict | None:
    samples = sorted(data.samples, key=attrgetter("offset_s"))
    # A failed scrape (up false) is a gap, never a zero.
    return _chart(
        "steps",
        _column([s.offset_s - origin for s in samples], 3),
        [
            {"label": "pending requests", "data": _column([s.pending_requests if s.up else None for s in samples], 3)},
            {"label": "active workers", "axis": "y2", "data": _column([s.active_workers if s.up else None for s in samples], 3)},
        ],
        TIME_LABEL,
        "pending requests",
        y2_label="active workers",
    )


def _wide_chart(wide: pd.DataFrame, labels: dict, digits: int, y_label: str) -> dict | None:
    """A gauge chart (steps) from a frame indexed by offset with one column per series."""
    wide = wide.sort_index()
    x = _column(wide.index, 3)
    series = [{"label": labels.get(c, str(c)), "data": _column(wide[c], digits)} for c in wide.columns]
    return _chart("steps", x, series, TIME_LABEL, y_label)


def _device_rows(gpu: pd.DataFrame) -> pd.DataFrame:
    if gpu.empty or "scope" not in gpu:
        return gpu.iloc[0:0]
    rows = gpu[gpu["scope"] == "device"]
    return numeric(rows, ["offset_s", "gpu", "utilization_pct", "memory_used_mib", "memory_total_mib"]).dropna(
        subset=["offset_s", "gpu"]
    )


def _gpu_charts(gpu: pd.DataFrame) -> dict[str, dict | None]:
    rows = _device_rows(gpu)
    if rows.empty:
        return {"gpu_util": None, "gpu_memory": None}
    names = rows.groupby("gpu")["gpu_name"].first()
    totals = rows.groupby("gpu")["memory_total_mib"].max()
    util_labels = {g: f"GPU {int(g)} ({_name(names.get(g))})" for g in names.index}
    memory_labels = {
        g: f"GPU {int(g)} (of {totals.get(g):.0f} MiB)" if pd.notna(totals.get(g)) else f"GPU {int(g)}" for g in names.index
    }

    def wide(column: str) -> pd.DataFrame:
        return rows.pivot_table(index="offset_s", columns="gpu", values=column, aggfunc="mean", dropna=False)

    return {
        "gpu_util": _wide_chart(wide("utilization_pct"), util_labels, 1, "utilisation (%)"),
        "gpu_memory": _wide_chart(wide("memory_used_mib"), memory_labels, 1, "memory used (MiB)"),
    }


def _owner_labels(frame: pd.DataFrame) -> pd.Series:
    """The instance of each row ("decode_worker_1"), "<instance> (orphans)" for an orphan."""
    instance = frame["instance"].where(frame["instance"].notna() & (frame["instance"].astype(str) != ""), frame["component"])
    instance = instance.where(instance.notna() & (instance.astype(str) != ""), "unknown").astype(str)
    orphan = pd.to_numeric(frame["orphan"], errors="coerce").fillna(0) == 1
    return instance.where(~orphan, instance + " (orphans)")


def _process_charts(processes: pd.DataFrame) -> dict[str, dict | None]:
    if processes.empty:
        return {"process_cpu": None, "process_rss": None}
    frame = numeric(processes, ["offset_s", "cpu_pct", "rss_mib"]).dropna(subset=["offset_s"])
    frame = frame.assign(owner=_owner_labels(frame))
    # Each instance is the sum of its processes at one sample time; min_count keeps "no value"
    # (a first sample has no CPU yet) apart from zero.
    summed = frame.groupby(["offset_s", "owner"])[["cpu_pct", "rss_mib"]].sum(min_count=1)
    return {
        "process_cpu": _wide_chart(summed["cpu_pct"].unstack("owner"), {}, 1, "CPU (% of one core)"),
        "process_rss": _wide_chart(summed["rss_mib"].unstack("owner"), {}, 1, "RSS (MiB)"),
    }


def _span(data: RunData, charts: dict[str, dict | None], recovery: list | None, launch: list | None, origin: float) -> list[float]:
    points: list[float] = [f - origin for f in data.fault_offsets_s] + (launch or [])
    if len(data.records):
        points.extend((float(data.records.start_offset_s.min()) - origin, float(data.records.end_offset_s.max()) - origin))
    for spec in charts.values():
        if spec is not None:
            points.extend(v for v in (spec["x"][0], spec["x"][-1]) if v is not None)
    if recovery is not None and recovery[1] is not None:
        points.append(recovery[1])
    finite = [p for p in points if p is not None and math.isfinite(p)]
    if not finite:
        return [0.0, 1.0]
    return [_num(min(finite), 3), _num(max(finite), 3)]


def fault_label(fault: Event) -> str:
    """What a fault line says: `decode_worker_3 SIGKILL pid 1441` (the instance, its child role
    when only that was hit, the signal, the process), or, for a fault on a link, `link client
    -> frontend_0 (frontend_latency)` (the pid there would be the fault proxy's)."""
    if fault.link_from:
        return f"link {fault.link_from} -> {fault.instance} ({fault.failure})"
    parts = (fault.instance, fault.child, fault.signal, "" if fault.pid is None else f"pid {fault.pid}")
    return " ".join(part for part in parts if part)


def _shifted(frame: pd.DataFrame, origin: float) -> pd.DataFrame:
    """A samples frame with its `offset_s` counted from `origin`."""
    if frame.empty or "offset_s" not in frame:
        return frame
    return frame.assign(offset_s=pd.to_numeric(frame["offset_s"], errors="coerce") - origin)


def _launch_band(data: RunData, origin: float) -> list[float] | None:
    """From the first launch (or the run's start) to the load's start: the deployment coming up
    and its warm-up, before time 0; None when the load's start is unknown."""
    if data.manifest.load_started_offset_s is None:
        return None
    launches = [e.offset_s for e in data.events if e.kind == EventKind.LAUNCH]
    return [_num(min(launches, default=0.0) - origin, 3), 0.0]


def _client_outage_band(fault: float, first_failure_s: float | None, client_outage_s: float | None) -> list | None:
    """From the first failure after the fault until the clients were served again (to the end,
    None, when they never were); None when nothing failed after the fault (no first failure:
    the summary's Client Outage is then 0.0)."""
    if first_failure_s is None:
        return None
    end = None if client_outage_s is None else _num(fault + client_outage_s, 3)
    return [_num(fault + first_failure_s, 3), end]


def chart_bundle(data: RunData, *, max_points: int | None = RUN_CHART_POINTS, full: bool = True) -> dict:
    """The JSON bundle of one run (see the module docstring). `full=False` gives only the
    timeline (the group report's); `max_points` downsamples the per-request charts (None:
    every request). Times count from
    the load's start (`manifest.load_started_offset_s`; from the run clock's origin when a
    run predates it)."""
    origin = data.manifest.load_started_offset_s or 0.0
    faults = [f - origin for f in data.fault_offsets_s]
    recovery = outage = client_outage = None
    if faults:
        summary = data.summary
        rt, co = summary.recovery_time, summary.client_outage_s
        recovery = [_num(faults[0], 3), None if rt is None else _num(faults[0] + rt, 3)]
        outage = [_num(faults[0], 3), None if rt is None or co is None else _num(faults[0] + max(rt, co), 3)]
        client_outage = _client_outage_band(faults[0], summary.time_to_first_failure_s, co)
    charts: dict[str, dict | None] = {"timeline": _timeline(data.records, max_points, origin)}
    if full:
        charts["throughput"] = _throughput(data.records, origin)
        charts["failure_rate"] = _failure_rate(data.records, origin)
        charts["tokens"] = _tokens(data.records, max_points, origin)
        charts["watcher"] = _watcher(data, origin)
        charts.update(_gpu_charts(_shifted(data.gpu, origin)))
        charts.update(_process_charts(_shifted(data.processes, origin)))
    started_at = data.manifest.started_at
    launch = _launch_band(data, origin)
    return {
        "span": _span(data, charts, recovery, launch, origin),
        "faults": _column(faults, 3),
        "fault_labels": [fault_label(e) for e in delivered_faults(data.events)],
        "recovery": recovery,
        "client_outage": client_outage,
        "outage": outage,
        "launch": launch,
        "clock_origin": None if started_at is None else round(started_at + origin, 3),
        "charts": {name: spec for name, spec in charts.items() if spec is not None},
    }
