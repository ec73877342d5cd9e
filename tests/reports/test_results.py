"""The summary files of a run: their exact shape and how missing values are rendered."""

import csv
import json
from dataclasses import fields, replace
from pathlib import Path

from reports.results import heading, summary_markdown, write_summary
from reports.summary import ALL_COLUMNS, EXTRA_COLUMNS, SUMMARY_COLUMNS, Summary

CSV_HEADER_START = (
    "Failure,Startup Time,Success,Failed,Latency Before,Latency After,Pending Before,"
    "Pending After,Violations Before,Violations After,Recovery Time"
)

#: A run with a fault and a recovery, values chosen to show rounding (and one missing value).
SUMMARY = Summary(
    failure="kill_decode_worker",
    startup_time=31.23456,
    success=120,
    failed=5,
    latency_before=1.0,
    latency_after=2.34567,
    pending_before=0.5,
    pending_after=None,
    violations_before=0,
    violations_after=3,
    recovery_time=12.0,
    ttft_p50_before_ms=80.0,
    ttft_p90_before_ms=120.0,
    ttft_p50_after_ms=95.5,
    ttft_p90_after_ms=400.0,
    itl_p50_before_ms=10.0,
    itl_p90_before_ms=15.0,
    itl_p50_after_ms=11.0,
    itl_p90_after_ms=30.0,
    time_to_first_failure_s=0.25,
    client_outage_s=14.5,
    goodput_rps=3.3333333,
    error_breakdown="connection_reset=3; timeout=2",
)

#: The baseline: nothing after, nothing failed.
BASELINE = replace(
    SUMMARY,
    failure="none",
    failed=0,
    latency_after=None,
    violations_after=None,
    recovery_time=None,
    time_to_first_failure_s=None,
    client_outage_s=None,
    error_breakdown="",
)


def written(summary: Summary, run_dir: Path) -> Path:
    write_summary(summary, run_dir)
    return run_dir


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "summary.csv").open(newline="", encoding="utf-8") as src:
        return list(csv.DictReader(src))


def test_summary_csv_header_line_is_exact(tmp_path: Path):
    text = (written(SUMMARY, tmp_path) / "summary.csv").read_text(encoding="utf-8")
    header = text.splitlines()[0]
    assert header == CSV_HEADER_START + "," + ",".join(EXTRA_COLUMNS)


def test_summary_csv_has_exactly_one_data_row(tmp_path: Path):
    assert len(csv_rows(written(SUMMARY, tmp_path))) == 1


def test_summary_csv_writes_floats_with_three_decimals_and_ints_as_is(tmp_path: Path):
    (row,) = csv_rows(written(SUMMARY, tmp_path))
    assert row["Startup Time"] == "31.235"
    assert row["Latency After"] == "2.346"
    assert row["Goodput (req/s)"] == "3.333"
    assert row["Success"] == "120"


def test_summary_csv_writes_missing_values_as_na(tmp_path: Path):
    (row,) = csv_rows(written(BASELINE, tmp_path))
    assert row["Pending After"] == "N/A"
    assert row["Recovery Time"] == "N/A"
    assert row["Client Outage (s)"] == "N/A"


def test_summary_csv_keeps_an_empty_error_breakdown_empty(tmp_path: Path):
    (row,) = csv_rows(written(BASELINE, tmp_path))
    assert row["Error Breakdown"] == ""


def test_summary_json_round_trips_the_row_with_null_for_missing(tmp_path: Path):
    data = json.loads((written(BASELINE, tmp_path) / "summary.json").read_text(encoding="utf-8"))
    assert data == BASELINE.row()
    assert data["Recovery Time"] is None


def test_summary_md_holds_the_table_and_the_error_breakdown(tmp_path: Path):
    text = (written(SUMMARY, tmp_path) / "summary.md").read_text(encoding="utf-8")
    assert text.startswith(summary_markdown([SUMMARY.row()]))
    assert "Error breakdown: connection_reset=3; timeout=2" in text


def test_summary_md_has_no_error_breakdown_when_nothing_failed(tmp_path: Path):
    text = (written(BASELINE, tmp_path) / "summary.md").read_text(encoding="utf-8")
    assert text == summary_markdown([BASELINE.row()])


def test_markdown_table_has_a_header_and_one_line_per_row():
    lines = summary_markdown([SUMMARY.row(), BASELINE.row()]).splitlines()
    assert lines[0] == "| " + " | ".join(SUMMARY_COLUMNS) + " |"
    assert lines[1].count("---") == len(SUMMARY_COLUMNS)
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| kill_decode_worker", "| none"]


def test_markdown_renders_floats_with_two_decimals_and_none_as_na():
    cells = summary_markdown([SUMMARY.row()]).splitlines()[2].strip("| ").split(" | ")
    row = dict(zip(SUMMARY_COLUMNS, cells, strict=True))
    assert row["Startup Time"] == "31.23"
    assert row["Latency After"] == "2.35"
    assert row["Pending After"] == "N/A"
    assert row["Violations After"] == "3"


def test_markdown_leaves_out_the_extra_columns():
    assert "Goodput" not in summary_markdown([SUMMARY.row()])


def test_markdown_title_is_a_heading_above_the_table():
    lines = summary_markdown([SUMMARY.row()], title="agg-vllm").splitlines()
    assert lines[:3] == ["### agg-vllm", "", "| " + " | ".join(SUMMARY_COLUMNS) + " |"]


def test_every_numeric_column_has_a_unit_in_the_reports_heading():
    numeric = [column for column, f in zip(ALL_COLUMNS, fields(Summary)) if "float" in str(f.type) or "int" in str(f.type)]
    assert len(numeric) > 40
    assert [column for column in numeric if not heading(column).endswith(")")] == []
    assert heading("Recovery Time") == "Recovery Time (s)" and heading("TTFT p50 Before (ms)") == "TTFT p50 Before (ms)"
