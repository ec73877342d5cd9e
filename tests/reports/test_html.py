"""report.html and group_report.html, rendered in-process from hand-made run data (no browser:
the pages' behaviour in Chromium is checked elsewhere)."""

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest

from faultsuite.events import Event
from faultsuite.manifest import RunManifest
from faultsuite.records import RequestRecord
from faultsuite.samples import WatcherSample
from reports.charts import GROUP_TIMELINE_POINTS, RUN_CHART_POINTS, chart_bundle
from reports.html import TTFT_NOTE, render_group_report, render_report
from reports.rundata import RunData
from reports.summary import SUMMARY_COLUMNS, compute_summary
from reports.verdict import verdict

T0 = 1_700_000_000.0
GPU_COLUMNS = [
    "time", "offset_s", "gpu", "gpu_name", "scope", "utilization_pct", "memory_used_mib", "memory_total_mib", "power_w",
    "temperature_c", "pid", "process_memory_mib", "component", "replica", "instance", "role", "leader_pid", "orphan",
]  # fmt: skip
PROCESS_COLUMNS = [
    "time", "offset_s", "component", "replica", "instance", "role", "pid", "ppid", "leader_pid", "orphan", "status",
    "cpu_pct", "rss_mib", "threads",
]  # fmt: skip
COMMAND = "locust -f locustfiles/fault_tolerance.py --deployment agg-dp2 --failure decode_worker"


@dataclass(frozen=True)
class Finding:
    """Stands in for reports.gpu_findings.GpuMemoryFinding: the report needs only these."""

    text: str
    orphan: bool = True
    released_after_s: float | None = None

    def sentence(self) -> str:
        return self.text


def record(start: float, latency: float = 0.8, ok: bool = True, stream: bool = True, kind: str = "stream_error") -> RequestRecord:
    return RequestRecord(
        client=int(start) % 4,
        seq=int(start * 10),
        start_time=T0 + start,
        end_time=T0 + start + latency,
        start_offset_s=start,
        latency_s=latency,
        status="success" if ok else "failure",
        ttft_s=0.12 if ok and stream else None,
        itl_s=(0.02, 0.03) if ok and stream else (),
        output_tokens=3 if ok else 0,
        error_kind=None if ok else kind,
    )


def faulty_records(stream: bool = True) -> list[RequestRecord]:
    """40 requests over 20 s; the 4 starting in [10, 12) fail."""
    return [record(i * 0.5, ok=not (10 <= i * 0.5 < 12), stream=stream) for i in range(40)]


def worker_events() -> list[Event]:
    return [
        Event(T0 - 5, -5.0, "launch", "decode_worker", 2, 3101, "", "started", None, "port 8002"),
        Event(T0 + 10, 10.0, "fault", "decode_worker", 2, 3101, "SIGKILL", "delivered", 10.0, "failure decode_worker: group"),
        Event(T0 + 10.2, 10.2, "exit", "decode_worker", 2, 3101, "", "killed by SIGKILL"),
        Event(T0 + 16.1, 16.1, "ready", "decode_worker", 2, 3999, "", "ready"),
    ]


def gpu_frame() -> pd.DataFrame:
    rows = []
    for t in range(0, 20, 2):
        rows.append({"time": T0 + t, "offset_s": float(t), "gpu": 0, "gpu_name": "NVIDIA H100", "scope": "device",
                     "utilization_pct": 50.0 + t, "memory_used_mib": 40000.0 + t, "memory_total_mib": 81559.0})  # fmt: skip
        rows.append({"time": T0 + t, "offset_s": float(t), "gpu": 0, "gpu_name": "NVIDIA H100", "scope": "process", "pid": 3150,
                     "process_memory_mib": 10000.0 + t, "component": "decode_worker", "replica": 2, "instance": "decode_worker_2",
                     "role": "engine", "leader_pid": 3101, "orphan": int(t > 10)})  # fmt: skip
    return pd.DataFrame(rows, columns=GPU_COLUMNS)


def process_frame(instance: str = "decode_worker_2") -> pd.DataFrame:
    rows = []
    for t in range(0, 20, 2):
        for pid, orphan in ((3101, 0), (3150, int(t > 10))):
            if pid == 3101 and t > 10:
                continue  # the killed leader is gone; its engine child lives on as an orphan
            rows.append({"time": T0 + t, "offset_s": float(t), "component": "decode_worker", "replica": 2, "instance": instance,
                         "role": "main" if pid == 3101 else "engine", "pid": pid, "ppid": 1, "leader_pid": 3101, "orphan": orphan,
                         "status": "running", "cpu_pct": None if t == 0 else 25.0, "rss_mib": 600.0, "threads": 9})  # fmt: skip
    return pd.DataFrame(rows, columns=PROCESS_COLUMNS)


def make_run(
    run_dir: Path,
    *,
    failure: str = "decode_worker",
    records: list[RequestRecord] | None = None,
    events: list[Event] | None = None,
    samples: list[WatcherSample] | None = None,
    gpu: pd.DataFrame | None = None,
    processes: pd.DataFrame | None = None,
    findings: list | None = None,
    gpu_note: str | None = None,
    error: str | None = None,
) -> RunData:
    records = faulty_records() if records is None else records
    events = worker_events() if events is None else events
    samples = [WatcherSample(T0 + t, float(t), t != 12, 3.0, 2.0) for t in range(20)] if samples is None else samples
    manifest = RunManifest(
        deployment="agg-dp2",
        failure=failure,
        sla_latency_s=2.0,
        command=COMMAND,
        started_at=T0,
        ended_at=T0 + 21.0,
        startup_time_s=4.25,
        error=error,
        gpu_note=gpu_note,
        load={"clients": 4},
        versions={"python": "3.11.7", "locust": "2.31.0"},
    )
    summary = compute_summary(
        failure=failure, records=records, events=events, samples=samples, startup_time_s=4.25, sla_latency_s=2.0
    )
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        records=records,
        events=events,
        samples=samples,
        gpu=gpu_frame() if gpu is None else gpu,
        processes=process_frame() if processes is None else processes,
        summary=summary,
        gpu_findings=[] if findings is None else findings,
    )


def render(data: RunData) -> str:
    path = data.run_dir / "report.html"
    render_report(data, path)
    return path.read_text(encoding="utf-8")


def embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.DOTALL)
    assert match, "no embedded report data"
    return json.loads(match.group(1))


def assert_self_contained(html: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"<script[^>]*\ssrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\shref\s*=", html, re.IGNORECASE)
    assert not re.search(r"@import", html)


# --- report.html ---


def test_the_report_is_one_self_contained_file_with_uplot_inlined(tmp_path):
    html = render(make_run(tmp_path))
    assert_self_contained(html)
    assert "var uPlot=" in html  # the vendored library, inline
    assert ".uplot" in html  # its stylesheet, inline
    assert "window.FaultCharts" in html  # our chart code, inline


def test_the_report_names_the_run_and_holds_its_verdict_and_summary(tmp_path):
    data = make_run(tmp_path)
    html = render(data)
    for text in ("agg-dp2", "decode_worker", COMMAND, "3.11.7", "2.31.0", str(tmp_path.resolve())):
        assert text in html
    assert verdict(data) in html
    assert "4 of 40 requests failed (stream_error=4); decode_worker_2 back after 6.1 s." in html
    row = data.summary.row()
    assert (row["Success"], row["Failed"], row["Recovery Time"]) == (36, 4, pytest.approx(6.1))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html.split('class="summary"')[1].split("</table>")[0])
    assert cells == ["decode_worker", "4.25", "36", "4", "0.80", "0.80", "3.00", "3.00", "0", "0", "6.10"]
    assert "Goodput (req/s)" in html and "Time To First Failure (s)" in html


def test_percentiles_sit_beside_the_means_before_and_after_the_fault_and_no_number_twice(tmp_path):
    data = make_run(tmp_path)
    html = render(data)
    table = html.split('class="summary before-after small"')[1].split("</table>")[0]
    headings = re.findall(r"<th>(.*?)</th>", table)
    assert headings[:5] == ["Successes", "Latency mean (s)", "Latency p50 (s)", "Latency p90 (s)", "Latency p99 (s)"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in table.split("<tr>")[2:]]
    s = data.summary
    assert [row[:5] for row in rows] == [
        ["Before the fault", *(f"{v:.2f}" for v in (s.latency_before, s.latency_p50_before_s, s.latency_p90_before_s, s.latency_p99_before_s))],
        ["After the fault", *(f"{v:.2f}" for v in (s.latency_after, s.latency_p50_after_s, s.latency_p90_after_s, s.latency_p99_after_s))],
    ]
    extra = html.split('class="summary extra small"')[1].split("</table>")[0]
    assert "TTFT p50 Before" not in extra and "Latency p99 After" not in extra
    assert "Output Throughput (tok/s)" in extra


SUMMARY_INDEX = {name: i for i, name in enumerate(SUMMARY_COLUMNS)}


def test_a_missing_summary_value_reads_na(tmp_path):
    html = render(make_run(tmp_path, events=[], samples=[]))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html.split('class="summary"')[1].split("</table>")[0])
    assert cells[SUMMARY_INDEX["Latency After"]] == "N/A" and cells[SUMMARY_INDEX["Recovery Time"]] == "N/A"


def test_every_event_is_in_the_log_with_its_pid(tmp_path):
    html = render(make_run(tmp_path))
    log = html.split('id="events"')[1].split("</section>")[0]
    for pid in ("3101", "3999"):
        assert f">{pid}</td>" in log
    assert log.count("<tr") == 1 + len(worker_events())


def test_the_timeline_holds_one_point_per_request_sorted_with_failures_apart(tmp_path):
    records = faulty_records()
    shuffled = records[::2] + records[1::2]
    data = embedded(render(make_run(tmp_path, records=shuffled)))
    timeline = data["charts"]["timeline"]
    success, failure = (s["data"] for s in timeline["series"])
    assert len(timeline["x"]) == len(success) == len(failure) == len(records)
    assert timeline["x"] == sorted(timeline["x"])
    assert sum(v is not None for v in failure) == 4 and sum(v is not None for v in success) == 36
    assert all((s is None) != (f is None) for s, f in zip(success, failure))
    assert [x for x, f in zip(timeline["x"], failure) if f is not None] == [10.0, 10.5, 11.0, 11.5]
    assert data["faults"] == [10.0]
    assert data["recovery"] == [10.0, 16.1]


def test_the_recovery_window_runs_to_the_end_when_nothing_came_back(tmp_path):
    data = embedded(render(make_run(tmp_path, events=worker_events()[:3])))
    assert data["recovery"] == [10.0, None]


def test_requests_per_second_bucket_by_end_offset(tmp_path):
    records = [record(0.1, 0.5), record(0.2, 1.0), record(0.3, 0.2, ok=False), record(2.5, 0.1)]
    chart = embedded(render(make_run(tmp_path, records=records)))["charts"]["throughput"]
    assert chart["x"] == [0, 1, 2]
    assert [s["data"] for s in chart["series"]] == [[1, 1, 1], [1, 0, 0]]


def test_the_failure_rate_is_the_percentage_of_requests_ended_each_second_that_failed(tmp_path):
    records = [record(0.1, 0.5), record(0.2, 1.0), record(0.3, 0.2, ok=False), record(2.5, 0.1), record(4.1, 0.1, ok=False)]
    chart = embedded(render(make_run(tmp_path, records=records)))["charts"]["failure_rate"]
    assert (chart["kind"], chart["x"]) == ("steps", [0, 1, 2, 3, 4])
    assert chart["series"][0]["data"] == [50.0, 0.0, 0.0, None, 100.0]


def test_ttft_and_itl_are_plotted_per_request_in_ms(tmp_path):
    html = render(make_run(tmp_path))
    tokens = embedded(html)["charts"]["tokens"]
    ttft, itl = (s["data"] for s in tokens["series"])
    assert len(tokens["x"]) == 36 and set(ttft) == {120.0} and set(itl) == {25.0}
    assert TTFT_NOTE not in html


def test_a_non_streaming_run_says_ttft_was_not_measured(tmp_path):
    html = render(make_run(tmp_path, records=faulty_records(stream=False)))
    assert TTFT_NOTE in html
    assert "tokens" not in embedded(html)["charts"]


def test_watcher_samples_that_were_down_are_gaps(tmp_path):
    chart = embedded(render(make_run(tmp_path)))["charts"]["watcher"]
    pending, active = (s["data"] for s in chart["series"])
    assert chart["x"][12] == 12.0 and pending[12] is None and active[12] is None
    assert pending[11] == 3.0 and active[11] == 2.0


def test_gpu_charts_and_the_memory_per_process_table(tmp_path):
    html = render(make_run(tmp_path))
    charts = embedded(html)["charts"]
    assert charts["gpu_util"]["series"][0]["data"][:2] == [50.0, 52.0]
    assert charts["gpu_memory"]["series"][0]["data"][-1] == 40018.0
    table = html.split('id="gpu"')[1].split("</section>")[0]
    assert ">3150</td>" in table and "decode_worker_2" in table and ">10018</td>" in table and ">yes</td>" in table


def test_no_gpu_sampled_says_why(tmp_path):
    note = "no GPU sampled: NVML Shared Library Not Found"
    html = render(make_run(tmp_path, gpu=pd.DataFrame(columns=GPU_COLUMNS), gpu_note=note))
    # Once, not "No GPU sampled. no GPU sampled: ..." (issue 16).
    assert 'No GPU sampled: <span class="why">NVML Shared Library Not Found</span>' in html
    assert html.lower().count("no gpu sampled") == 1
    assert "gpu_util" not in embedded(html)["charts"]


def test_gpu_findings_are_shown(tmp_path):
    sentence = "GPU memory still held after the fault, by pid 3150 (orphan of decode_worker_2): 9.8 GiB for 8.0 s"
    html = render(make_run(tmp_path, findings=[Finding(sentence)]))
    assert f'<p class="finding orphan">{sentence}</p>' in html


def test_process_charts_sum_each_instance_and_keep_orphans_apart(tmp_path):
    charts = embedded(render(make_run(tmp_path)))["charts"]
    rss = {s["label"]: s["data"] for s in charts["process_rss"]["series"]}
    assert set(rss) == {"decode_worker_2", "decode_worker_2 (orphans)"}
    assert rss["decode_worker_2"][0] == 1200.0  # leader and engine child, summed
    assert rss["decode_worker_2"][-1] is None and rss["decode_worker_2 (orphans)"][-1] == 600.0
    cpu = {s["label"]: s["data"] for s in charts["process_cpu"]["series"]}
    assert cpu["decode_worker_2"][0] is None  # no CPU on a first sample: no value, not zero


def test_the_error_breakdown_table(tmp_path):
    records = [record(1, ok=False, kind="timeout"), record(2, ok=False, kind="timeout"), record(3, ok=False, kind="http_status")]
    errors = render(make_run(tmp_path, records=records)).split('id="errors"')[1]
    assert re.search(r"<td>timeout</td><td[^>]*>2</td>.*<td>http_status</td><td[^>]*>1</td>", errors, re.DOTALL)
    assert "No request failed" in render(make_run(tmp_path, records=[record(1)])).split('id="errors"')[1]


def test_text_from_the_run_is_escaped_and_cannot_end_the_data_script(tmp_path):
    hostile = "</script><script>alert(1)</script>"
    events = worker_events() + [Event(T0 + 18, 18.0, "exit", "decode_worker", 2, 3999, "", "exit 1", None, hostile)]
    html = render(make_run(tmp_path, events=events, processes=process_frame(instance=hostile)))
    assert hostile not in html
    labels = [s["label"] for s in embedded(html)["charts"]["process_rss"]["series"]]
    assert hostile in labels


def test_an_interrupted_run_with_nothing_recorded_still_renders(tmp_path):
    empty = make_run(
        tmp_path,
        records=[],
        events=[],
        samples=[],
        gpu=pd.DataFrame(columns=GPU_COLUMNS),
        processes=pd.DataFrame(columns=PROCESS_COLUMNS),
    )
    html = render(empty)
    assert_self_contained(html)
    data = embedded(html)
    assert data["charts"] == {} and data["faults"] == [] and data["recovery"] is None
    assert "No request was recorded." in html and "No event was recorded." in html
    assert "No fault was injected; no request was made." in html


def test_a_failed_launch_says_so(tmp_path):
    html = render(make_run(tmp_path, records=[], events=[], error="component decode_worker_0: cannot start 'vllm'"))
    assert "The run did not start: component decode_worker_0: cannot start &#39;vllm&#39;." in html


def test_100k_requests_keep_every_point_in_a_compact_page(tmp_path):
    """How fast is benchmarks/render_at_scale.py's to measure; here, that nothing is dropped."""
    records = [record(i * 0.001, 0.5 + (i % 7) * 0.123456, ok=i % 50 != 0) for i in range(100_000)]
    data = make_run(tmp_path, records=records)
    html = render(data)
    assert len(html) < 12_000_000
    timeline = embedded(html)["charts"]["timeline"]
    assert len(timeline["x"]) == 100_000
    assert timeline["series"][0]["data"][1] == 0.623  # latency rounded to the millisecond


def test_the_metrics_chart_says_pending_averaged_over_time_before_and_after_the_fault(tmp_path):
    # Pending climbs 0..9 in the ten seconds before the fault at 10 s, with an extra sample of
    # 9 at 9.9 s (a mean over samples would weigh it as a whole second); then 5 after.
    samples = [WatcherSample(T0 + t, float(t), True, float(t) if t < 10 else 5.0, 2.0) for t in range(20)]
    samples.append(WatcherSample(T0 + 9.9, 9.9, True, 9.0, 2.0))
    html = render(make_run(tmp_path, samples=samples))
    assert "Pending requests averaged over time (each sample holding until the next): 4.50 before the fault, 5.00 after it." in html
    quiet = render(make_run(tmp_path / "none", failure="none", events=[], samples=[WatcherSample(T0 + 1, 1.0, True, 2.0, 1.0)]))
    assert "Pending requests averaged over time (each sample holding until the next): 2.00." in quiet


def test_past_its_point_limit_a_run_report_keeps_every_failure_and_strides_the_rest(tmp_path):
    """At a million requests the per-request charts hold RUN_CHART_POINTS; here the same rule
    with a limit of 1,000 over 5,000 requests, 40 of them failed."""
    records = [record(i * 0.01, 0.5, ok=i % 125 != 7) for i in range(5_000)]
    bundle = chart_bundle(make_run(tmp_path, records=records), max_points=1_000)
    for name in ("timeline", "tokens"):
        chart = bundle["charts"][name]
        assert len(chart["x"]) == 1_000 and chart["x"] == sorted(chart["x"])
    failures = bundle["charts"]["timeline"]["series"][1]["data"]
    assert sum(v is not None for v in failures) == 40
    # The successes are spread over the whole run, not its first 960.
    assert bundle["charts"]["timeline"]["x"][-1] > 49.0
    assert RUN_CHART_POINTS == 100_000


# --- group_report.html ---


def group(tmp_path: Path) -> tuple[Path, list[RunData]]:
    root = tmp_path / "agg-dp2"
    runs = [
        make_run(root / "prefill_worker-20250101-000000", failure="prefill_worker"),
        make_run(root / "none-20250101-000000", failure="none", events=[]),
        make_run(root / "decode_worker-20250101-000000", failure="decode_worker"),
    ]
    return root / "group_report.html", runs


def test_the_group_report_links_each_run_relatively_none_first(tmp_path):
    path, runs = group(tmp_path)
    render_group_report(runs, path)
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "<h1>agg-dp2</h1>" in html
    summary = html.split('class="summary"')[1].split("</table>")[0]
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', summary)
    assert links == [
        ("none-20250101-000000/report.html", "none"),
        ("decode_worker-20250101-000000/report.html", "decode_worker"),
        ("prefill_worker-20250101-000000/report.html", "prefill_worker"),
    ]
    for run in runs:
        assert verdict(run) in html
    bundles = embedded(html)["runs"]
    assert [len(b["charts"]["timeline"]["x"]) for b in bundles] == [40, 40, 40]
    assert bundles[0]["faults"] == [] and bundles[1]["faults"] == [10.0]


def test_the_group_report_links_runs_outside_its_directory(tmp_path):
    run = make_run(tmp_path / "elsewhere" / "decode_worker-1")
    path = tmp_path / "reports" / "group_report.html"
    render_group_report([run], path)
    assert 'href="../elsewhere/decode_worker-1/report.html"' in path.read_text(encoding="utf-8")


def test_the_group_timeline_is_downsampled_but_keeps_failures(tmp_path):
    records = [record(i * 0.001, ok=i % 1000 != 0) for i in range(20_000)]
    run = make_run(tmp_path / "big", records=records)
    path = tmp_path / "group_report.html"
    render_group_report([run], path)
    timeline = embedded(path.read_text(encoding="utf-8"))["runs"][0]["charts"]["timeline"]
    assert len(timeline["x"]) <= GROUP_TIMELINE_POINTS
    assert timeline["x"] == sorted(timeline["x"])
    assert sum(v is not None for v in timeline["series"][1]["data"]) == 20


def test_an_empty_group_still_renders(tmp_path):
    path = tmp_path / "agg" / "group_report.html"
    render_group_report([], path)
    html = path.read_text(encoding="utf-8")
    assert "No run was found." in html and embedded(html) == {"runs": []}


def test_the_outage_window_lasts_until_the_deployment_and_its_clients_are_back(tmp_path):
    run = make_run(tmp_path)
    data = embedded(render(run))
    summary = run.summary

    assert data["outage"] == [10.0, pytest.approx(10.0 + max(summary.recovery_time, summary.client_outage_s), abs=1e-3)]


def test_the_outage_window_runs_to_the_end_when_nothing_came_back(tmp_path):
    data = embedded(render(make_run(tmp_path, events=worker_events()[:3])))
    assert data["outage"] == [10.0, None]


def test_the_report_ends_with_the_glossary_of_the_summarys_own_definitions(tmp_path):
    html = render(make_run(tmp_path))
    glossary_html = html.split('<section id="glossary">')[1].split("</section>")[0]
    assert "<dt>Recovery Time</dt><dd>the instances (component, replica) faulted at the first fault time" in glossary_html
    assert "<dt>Silent Stall (s)</dt>" in glossary_html and "<h3>Windows (three, around the fault" in glossary_html
    assert "<code>latency_s</code>" in glossary_html and "`" not in glossary_html


def test_times_count_from_the_loads_start_with_the_launch_before_zero(tmp_path):
    run = make_run(tmp_path)
    started_at_4 = replace(run, manifest=replace(run.manifest, load_started_offset_s=4.0))
    html = render(started_at_4)
    data = embedded(html)
    assert data["faults"] == [6.0] and data["recovery"] == [6.0, 12.1]
    assert data["launch"] == [-9.0, 0.0]  # the first launch was at -5.0 on the run clock
    assert data["span"][0] == -9.0  # the charts' full view shows it
    assert data["clock_origin"] == T0 + 4.0
    assert data["charts"]["watcher"]["x"][:2] == [-4.0, -3.0]
    assert data["charts"]["timeline"]["x_label"] == "request start (s from load start)"
    assert "time 0 of the charts, 4.0 s after the start" in html


def test_a_run_from_before_the_load_start_was_recorded_keeps_the_run_clock(tmp_path):
    data = embedded(render(make_run(tmp_path)))
    assert data["faults"] == [10.0] and data["launch"] is None


def test_the_group_report_gives_each_rows_difference_from_the_baseline(tmp_path):
    path, runs = group(tmp_path)
    render_group_report(runs, path)
    html = path.read_text(encoding="utf-8")
    rows = html.split('class="summary"')[1].split("</table>")[0].split("<tr>")[2:]
    none, decode_worker = rows[0], rows[1]
    assert 'class="delta"' not in none
    baseline = next(r for r in runs if r.manifest.failure == "none").summary
    faulted = next(r for r in runs if r.manifest.failure == "decode_worker").summary
    latency_after = f"{faulted.latency_after:.2f} <span class=\"delta\">({faulted.latency_after - baseline.latency_before:+.2f})</span>"
    assert latency_after in decode_worker
    assert "difference from the <code>none</code> run" in html


def test_the_group_report_gives_success_and_failed_as_shares_of_each_runs_requests(tmp_path):
    path, runs = group(tmp_path)
    render_group_report(runs, path)
    html = path.read_text(encoding="utf-8")
    summary = next(r for r in runs if r.manifest.failure == "decode_worker").summary
    total = summary.success + summary.failed
    assert f"<td class=\"num\">{summary.failed} ({100 * summary.failed / total:.1f} %)</td>" in html
