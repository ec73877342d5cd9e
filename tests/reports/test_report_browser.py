"""The reports in real headless Chromium, offline: no console error, every chart drawn.

The run here is synthetic (the benchmark's generator), so it has what this machine cannot
produce: GPU rows, with a process holding memory. The e2e tests open a real run's report.
"""

from pathlib import Path

import pytest

from benchmarks.synthetic_run import write_synthetic_run
from faultsuite.events import read_events
from reports.glossary import glossary
from reports.render import render_group, render_run
from reports.rundata import load_run

pytestmark = pytest.mark.browser

#: Timeline, outcomes per second, failure rate, TTFT/ITL, watcher, GPU utilisation, GPU memory,
#: process CPU, RSS.
CHARTS_OF_A_FULL_RUN = 9


@pytest.fixture
def small_run(tmp_path) -> Path:
    """A synthetic run of 10 clients × 10 requests, its report rendered: its directory."""
    run_dir = tmp_path / "agg-dp4" / "decode_worker"
    write_synthetic_run(run_dir, clients=10, requests_per_client=10)
    render_run(run_dir)
    return run_dir


def test_a_run_with_gpu_samples_draws_every_chart(offline_page, tmp_path):
    run_dir = tmp_path / "agg-dp4" / "decode_worker"
    write_synthetic_run(run_dir, clients=20, requests_per_client=20)
    render_run(run_dir)
    check = offline_page.open(run_dir / "report.html")
    assert check.problems() == []
    assert len(check.canvases) == CHARTS_OF_A_FULL_RUN, [c.describe() for c in check.canvases]
    assert check.blank_canvases == []


def test_the_group_report_draws_one_timeline_per_run(offline_page, tmp_path):
    group = tmp_path / "agg-dp4"
    for seed, failure in enumerate(("decode_worker", "frontend", "none")):
        write_synthetic_run(group / failure, clients=10, requests_per_client=10, seed=seed)
    render_group(group)
    check = offline_page.open(group / "group_report.html")
    assert check.problems() == []
    assert len(check.canvases) == 3
    assert check.blank_canvases == []


def test_an_interrupted_run_with_no_records_opens_cleanly(offline_page, tmp_path):
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    (run_dir / "events.csv").write_text("time,offset_s,kind,component,replica,pid,signal,outcome,scheduled_offset_s,detail\n")
    render_run(run_dir)
    check = offline_page.open(run_dir / "report.html")
    assert check.problems() == []
    assert check.canvases == []


def test_each_fault_line_is_labelled_with_its_instance_signal_and_pid(offline_page, small_run, tmp_path):
    faults = [e for e in read_events(small_run / "events.csv") if e.delivered_fault]
    check = offline_page.open(small_run / "report.html")
    check.screenshot(tmp_path / "labelled-faults.png")
    assert check.problems() == []
    labels = offline_page.page.locator('[data-chart="timeline"] .fault-label').all_inner_texts()
    assert labels == [f"{f.instance} {f.signal} pid {f.pid}" for f in faults] and labels


def test_the_process_recovery_and_the_client_outage_are_two_labelled_bands_in_two_colours(offline_page, small_run, tmp_path):
    data = load_run(small_run)
    fault = data.fault_offsets_s[0] - (data.manifest.load_started_offset_s or 0.0)
    summary = data.summary
    check = offline_page.open(small_run / "report.html")
    check.screenshot(tmp_path / "recovery-bands.png")
    assert check.problems() == []
    bars = offline_page.page.evaluate(
        """() => {
          const chart = document.querySelector('[data-chart="timeline"]');
          const u = chart.uplot;
          return [...chart.querySelectorAll('.band-label')].map(bar => {
            const box = bar.getBoundingClientRect(), plot = u.over.getBoundingClientRect();
            return {kind: bar.className, text: bar.textContent, color: getComputedStyle(bar).backgroundColor,
                    start: u.posToVal(box.left - plot.left, 'x'), end: u.posToVal(box.right - plot.left, 'x'),
                    pixel: u.posToVal(1, 'x') - u.posToVal(0, 'x')};
          });
        }"""
    )
    recovery, outage = bars
    assert recovery["kind"] == "band-label band-recovery" and outage["kind"] == "band-label band-client-outage"
    assert recovery["color"] != outage["color"]
    one_pixel = 1.5 * recovery["pixel"]  # a bar's ends are rounded to whole pixels
    assert recovery["text"] == f"process recovery {summary.recovery_time:.1f} s"
    assert recovery["start"] == pytest.approx(fault, abs=one_pixel)
    assert recovery["end"] == pytest.approx(fault + summary.recovery_time, abs=one_pixel)
    assert outage["text"] == f"client outage {summary.client_outage_s:.1f} s from the fault"
    assert outage["start"] == pytest.approx(fault + summary.time_to_first_failure_s, abs=one_pixel)
    assert outage["end"] == pytest.approx(fault + summary.client_outage_s, abs=one_pixel)
    assert summary.client_outage_s != pytest.approx(summary.recovery_time, abs=0.5), "the two bands differ in this run"


def test_gauges_are_drawn_as_steps_and_requests_as_points(offline_page, small_run):
    check = offline_page.open(small_run / "report.html")
    assert check.problems() == []
    drawn = offline_page.page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(e => [e.dataset.chart, e.dataset.drawn]))"
    )
    assert drawn["timeline"] == "points" and drawn["throughput"] == "bars"
    for gauge in ("failure_rate", "watcher", "gpu_util", "gpu_memory", "process_cpu", "process_rss"):
        assert drawn[gauge] == "steps", (gauge, drawn)


def test_the_glossary_is_shown_with_every_definition(offline_page, small_run):
    check = offline_page.open(small_run / "report.html")
    assert check.problems() == []
    terms = offline_page.page.locator("#glossary dt")
    assert terms.count() == sum(len(section.entries) for section in glossary())
    assert "Recovery Time" in terms.all_inner_texts() and offline_page.page.locator("#glossary").is_visible()


def test_legends_read_without_placeholder_dashes_in_a_static_view(offline_page, small_run, tmp_path):
    check = offline_page.open(small_run / "report.html")
    check.screenshot(tmp_path / "legends.png")
    legends = offline_page.page.locator(".u-legend").all_inner_texts()
    assert len(legends) == CHARTS_OF_A_FULL_RUN
    assert [text for text in legends if "–" in text or "—" in text] == []
    assert all("success" in text for text in legends[:1])
