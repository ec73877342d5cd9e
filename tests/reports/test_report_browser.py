"""The reports in real headless Chromium, offline: no console error, every chart drawn.

The run here is synthetic (the benchmark's generator), so it has what this machine cannot
produce: GPU rows, with a process holding memory. The e2e tests open a real run's report.
"""

import pytest

from benchmarks.synthetic_run import write_synthetic_run
from reports.render import render_group, render_run

pytestmark = pytest.mark.browser

#: Timeline, outcomes per second, TTFT/ITL, watcher, GPU utilisation, GPU memory, process CPU, RSS.
CHARTS_OF_A_FULL_RUN = 8


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
