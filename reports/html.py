"""The HTML reports: `report.html` for one run, `group_report.html` for a deployment's runs.

Each page is one self-contained file: the uPlot library (vendored in `reports/static`, MIT), its
stylesheet and the chart code (`reports/static/charts.js`) are inlined, so the page opens with
no network. The templates are in `reports/templates` (jinja2, autoescaped).

The chart data travels as JSON in `<script type="application/json" id="report-data">` (`</` is
written `<\\/`), and `charts.js` builds the charts from it: for `report.html` one bundle of
`reports.charts.chart_bundle`, for `group_report.html` `{"runs": [bundle, ...]}` in the
page's run order.
"""

import json
import math
import os
from datetime import datetime
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from faultsuite.layout import RunLayout
from reports.charts import GROUP_TIMELINE_POINTS, chart_bundle, numeric
from reports.glossary import glossary, spans
from reports.results import MISSING, format_value, heading
from reports.rundata import RunData, in_group_order
from reports.summary import EXTRA_COLUMNS, SUMMARY_COLUMNS, TrialStats, error_counts, pending_over_time
from reports.trials import TRIALS_COLUMNS, trials_row
from reports.verdict import verdict

__all__ = ["render_group_report", "render_report", "script_json"]

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

TTFT_NOTE = "TTFT and inter-token latency were not measured (no per-token stream)"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals["spans"] = spans  # for macros.html.j2's code_spans
    environment.globals["heading"] = heading
    return environment


@cache
def _static(name: str) -> str:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    # Inlined into <script>/<style>: a closing tag inside would end the element early.
    return text.replace("</script", "<\\/script").replace("</style", "<\\/style")


def script_json(value: Any) -> str:
    """`value` as compact JSON that is safe inside a <script> element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


# --- cells --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A frame cell as text; blank for NaN/None, integral floats without ".0"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _seconds(value: float) -> str:
    text = f"{value:.1f} s"
    if value >= 60:
        minutes, seconds = divmod(round(value), 60)
        text += f" ({minutes} min {seconds} s)"
    return text


# --- tables --------------------------------------------------------------------------------


def _setting(value: Any, longest: int = 60) -> str:
    """A load setting as text; a long prompt is cut, with its length in words (run.json has it whole)."""
    text = str(value)
    if len(text) <= longest:
        return text
    return f"{text[:longest]}… ({len(text.split())} words)"


def _identity(data: RunData) -> list[tuple[str, str]]:
    m = data.manifest
    started = datetime.fromtimestamp(m.started_at).astimezone().isoformat(timespec="seconds") if m.started_at else "unknown"
    if m.started_at is not None and m.ended_at is not None:
        duration = _seconds(m.ended_at - m.started_at)
    else:
        seen = [e.offset_s for e in data.events] + ([float(data.records.end_offset_s.max())] if len(data.records) else [])
        duration = f"at least {_seconds(max(seen))} (no end recorded)" if seen else "unknown (no end recorded)"
    load_started = MISSING
    if m.started_at is not None and m.load_started_offset_s is not None:
        at = datetime.fromtimestamp(m.started_at + m.load_started_offset_s).astimezone().isoformat(timespec="seconds")
        load_started = f"{at}: time 0 of the charts, {_seconds(m.load_started_offset_s)} after the start"
    rows = [
        ("Deployment", m.deployment),
        ("Failure", m.failure),
        ("Started", started),
        ("Load started", load_started),
        ("Duration", duration),
        ("Startup time", MISSING if m.startup_time_s is None else _seconds(m.startup_time_s)),
        ("SLA latency", f"{m.sla_latency_s:g} s"),
    ]
    if m.load:
        rows.append(("Load", ", ".join(f"{k}={_setting(v)}" for k, v in m.load.items())))
    rows.append(("Results directory", str(data.run_dir.resolve())))
    return rows


def _last(column: pd.Series) -> Any:
    """The last value of a column that is not missing; None when every one is."""
    present = column.dropna()
    return present.iloc[-1] if len(present) else None


def _gpu_process_table(gpu: pd.DataFrame) -> list[dict[str, str]]:
    """GPU memory per process: last and largest reading per (GPU, pid), with its owner."""
    if gpu.empty or "scope" not in gpu:
        return []
    rows = numeric(gpu[gpu["scope"] == "process"], ["offset_s", "gpu", "pid", "process_memory_mib", "orphan"])
    rows = rows.dropna(subset=["pid"]).sort_values("offset_s")
    table = []
    for (gpu_index, pid), group in rows.groupby(["gpu", "pid"], dropna=False):
        memory = group["process_memory_mib"].dropna()
        owner = {name: _last(group[name]) for name in ("instance", "role", "component")}
        instance = _text(owner["instance"]) or _text(owner["component"])
        table.append(
            {
                "gpu": _text(gpu_index),
                "pid": _text(pid),
                "instance": instance or "not the deployment's",
                "role": _text(owner["role"]),
                "orphan": "yes" if (group["orphan"] == 1).any() else "",
                "last_mib": f"{memory.iloc[-1]:.0f}" if len(memory) else MISSING,
                "max_mib": f"{memory.max():.0f}" if len(memory) else MISSING,
                "seen": f"{group['offset_s'].min():.1f} – {group['offset_s'].max():.1f}",
            }
        )
    return sorted(table, key=lambda row: (row["instance"], row["gpu"], int(row["pid"])))


def _event_rows(data: RunData) -> list[dict[str, str]]:
    return [
        {
            "offset": f"{e.offset_s:.3f}",
            "kind": e.kind,
            "instance": e.instance,
            "pid": "" if e.pid is None else str(e.pid),
            "signal": e.signal,
            "outcome": e.outcome,
            "detail": e.detail,
        }
        for e in sorted(data.events, key=attrgetter("offset_s"))
    ]


def _page_assets() -> dict[str, str]:
    return {"uplot_js": _static("uPlot.iife.min.js"), "uplot_css": _static("uPlot.min.css"), "charts_js": _static("charts.js")}


def _write(path: Path, html: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)  # a reader never sees half a page


#: The before/after table beside the summary: (its heading, the column of each side).
BEFORE_AFTER = (
    ("Latency mean (s)", "Latency {side}"),
    *((f"Latency p{q} (s)", f"Latency p{q} {{side}} (s)") for q in (50, 90, 99)),
    *((f"{metric} p{q} (ms)", f"{metric} p{q} {{side}} (ms)") for metric in ("TTFT", "ITL") for q in (50, 90)),
)  # fmt: skip
_IN_BEFORE_AFTER = {template.format(side=side) for _, template in BEFORE_AFTER for side in ("Before", "After")}
#: The extra table: every other column, so that no number is shown twice.
EXTRA_TABLE = tuple(column for column in EXTRA_COLUMNS if column not in _IN_BEFORE_AFTER)


def _before_after(row: dict) -> list[tuple[str, list[str]]]:
    """The Before and After rows of the before/after table."""
    return [(side, [format_value(row[template.format(side=side)]) for _, template in BEFORE_AFTER]) for side in ("Before", "After")]


def _pending_over_time(data: RunData) -> str | None:
    """The sentence under the metrics chart: pending averaged over time, before and after the
    fault; None when no sample has a value."""
    before, after = pending_over_time(data.samples, data.events)
    if before is None and after is None:
        return None
    if not data.fault_offsets_s:
        return f"Pending requests averaged over time (each sample holding until the next): {format_value(before)}."
    return f"Pending requests averaged over time (each sample holding until the next): {format_value(before)} before the fault, {format_value(after)} after it."


# --- pages ---------------------------------------------------------------------------------


def render_report(data: RunData, path: Path) -> None:
    """Write one run's self-contained `report.html` to `path`."""
    bundle = chart_bundle(data)
    row = data.summary.row()
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=data.manifest.title,
            manifest=data.manifest,
            identity=_identity(data),
            verdict=verdict(data),
            summary_columns=SUMMARY_COLUMNS,
            summary_cells=[format_value(row[c]) for c in SUMMARY_COLUMNS],
            went_wrong=bool(data.manifest.error) or data.summary.failed > 0,
            before_after_columns=[heading for heading, _ in BEFORE_AFTER],
            before_after=_before_after(row),
            extra_columns=EXTRA_TABLE,
            extra_cells=[format_value(row[c]) for c in EXTRA_TABLE],
            findings=data.gpu_findings,
            charts=bundle["charts"],
            has_records=bool(len(data.records)),
            has_ttft=bool((~np.isnan(data.records.ttft_s)).any()),
            ttft_note=TTFT_NOTE,
            gpu_empty=data.gpu.empty,
            gpu_processes=_gpu_process_table(data.gpu),
            events=_event_rows(data),
            errors=error_counts(data.records),
            pending_over_time=_pending_over_time(data),
            glossary=glossary(),
            data_json=script_json(bundle),
            **_page_assets(),
        )
    )
    _write(path, html)


def _link(run: RunData, base: Path) -> str:
    return Path(os.path.relpath(RunLayout(run.run_dir).report.resolve(), base.resolve())).as_posix()


#: The group report's comparison with the `none` run: each column with the baseline's column it
#: is compared to. An After column is compared to the baseline's Before: a run without a fault
#: has no after. Counts are left out: they follow each run's length, not the fault.
BASELINE_OF = {
    "Startup Time": "Startup Time",
    "Latency Before": "Latency Before",
    "Latency After": "Latency Before",
    "Pending Before": "Pending Before",
    "Pending After": "Pending Before",
}


def _cells(row: dict, baseline: dict | None) -> list[dict[str, str]]:
    """Each summary cell of a group row, with its difference from the baseline's where both
    are numbers (`BASELINE_OF`). Success and Failed carry their share of the run's requests:
    the matrix's runs last a time, not a number of requests, so counts alone do not compare."""
    total = (row["Success"] or 0) + (row["Failed"] or 0)
    cells = []
    for column in SUMMARY_COLUMNS[1:]:
        value, base = row[column], None if baseline is None or column not in BASELINE_OF else baseline[BASELINE_OF[column]]
        delta = f"{value - base:+.2f}" if isinstance(value, (int, float)) and isinstance(base, (int, float)) else ""
        text = format_value(value)
        if column in ("Success", "Failed") and total:
            text += f" ({100 * value / total:.1f} %)"
        cells.append({"text": text, "delta": delta})
    return cells


def render_group_report(runs: list[RunData], path: Path, trials: list[tuple[str, TrialStats]] | None = None) -> None:
    """Write the group's self-contained `group_report.html` to `path`: the summary table (each
    Failure cell links to its run's report, relative to `path.parent`), the verdict of each run
    and one small timeline per run; runs ordered `none` first, then by failure, each with its
    difference from the `none` run where it has one (`BASELINE_OF`). With `trials`
    (the runs are trials of one scenario), their spread comes first."""
    ordered = in_group_order(runs)
    baseline = next((run.summary.row() for run in ordered if run.manifest.failure == "none"), None)
    entries = []
    for index, run in enumerate(ordered):
        row = run.summary.row()
        entries.append(
            {
                "index": index,
                "failure": run.manifest.failure,
                "link": _link(run, path.parent),
                "cells": _cells(row, None if run.manifest.failure == "none" else baseline),
                "verdict": verdict(run),
                "requests": len(run.records),
            }
        )
    bundles = [chart_bundle(run, max_points=GROUP_TIMELINE_POINTS, full=False) for run in ordered]
    html = (
        _environment()
        .get_template("group_report.html.j2")
        .render(
            title=ordered[0].manifest.deployment if ordered else path.parent.name,
            summary_columns=SUMMARY_COLUMNS,
            runs=entries,
            trials_columns=TRIALS_COLUMNS,
            trials=[trials_row(column, stats) for column, stats in trials or []],
            has_baseline=baseline is not None and len(ordered) > 1,
            data_json=script_json({"runs": bundles}),
            **_page_assets(),
        )
    )
    _write(path, html)
