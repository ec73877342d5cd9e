"""Real runs of the CLI against the embedded graph: launch, load, kill, restart, summary, teardown."""

import csv
import json
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from deployments.models import DEPLOYMENTS_DIR
from deployments.sim.engine import EngineTiming, expected_latency_s
from tests.browser import offline_page, open_report
from tests.e2e.harness import (
    engine_timing,
    kill_tagged,
    locust_command,
    run_locust,
    start_locust,
    tagged_environment,
    tagged_processes,
    wait_for_no_tagged_processes,
)

pytestmark = pytest.mark.e2e

NO_ORPHANS_WITHIN_S = 10.0
FAULT_PUNCTUALITY_S = 0.050
LATENCY_TOLERANCE = 0.20
SUMMARY_HEADER = "Failure,Startup Time,Success,Failed,Latency Before,Latency After,Pending Before,Pending After,Violations Before,Violations After,Recovery Time"

AGG_DP4_RUN = ("--deployment", "agg-dp4", "--failure", "decode_worker", "--clients", "8", "--requests-per-client", "20", "--fault-at", "4")
#: Locust's own reports, asked for beside ours: they must keep working.
LOCUST_REPORTS = ("--csv", "locust", "--html", "locust.html")
AGG_DP1_WORKER_KILL = ("--deployment", "agg-dp1", "--failure", "decode_worker", "--clients", "4", "--requests-per-client", "16", "--fault-at", "2")
AGG_DP1_ENGINE_KILL = (
    "--deployment", "agg-dp1", "--failure", "vllm_worker", "--clients", "2", "--requests-per-client", "6",
    "--fault-at", "1.5", "--request-timeout", "2", "--retry-delay", "0",
)


@pytest.fixture(scope="module")
def agg_dp4_run(tmp_path_factory):
    result = run_locust(tmp_path_factory.mktemp("agg-dp4"), *AGG_DP4_RUN, *LOCUST_REPORTS)
    yield result
    kill_tagged(result.tag)


@pytest.fixture(scope="module")
def agg_dp1_worker_kill(tmp_path_factory):
    result = run_locust(tmp_path_factory.mktemp("agg-dp1-worker"), *AGG_DP1_WORKER_KILL)
    yield result
    kill_tagged(result.tag)


@pytest.fixture(scope="module")
def agg_dp1_engine_kill(tmp_path_factory):
    result = run_locust(tmp_path_factory.mktemp("agg-dp1-engine"), *AGG_DP1_ENGINE_KILL)
    yield result
    kill_tagged(result.tag)


# -- agg-dp4 × decode_worker, 8 clients × 20 requests ---------------------------------------


def test_agg_dp4_run_exits_zero_and_prints_the_summary_table(agg_dp4_run):
    assert agg_dp4_run.returncode == 0, agg_dp4_run.stderr[-2000:]
    assert "| Failure | Startup Time | Success | Failed |" in agg_dp4_run.stdout
    assert "| decode_worker |" in agg_dp4_run.stdout


def test_every_request_of_every_client_is_recorded_exactly_once(agg_dp4_run):
    summary = agg_dp4_run.summary
    assert summary["Success"] + summary["Failed"] == 160
    seen = Counter((r["client"], r["seq"]) for r in agg_dp4_run.records)
    assert seen == Counter({(c, s): 1 for c in range(8) for s in range(20)})


def test_a_killed_decode_worker_is_restarted_and_recovery_time_is_measured(agg_dp4_run):
    recovery = agg_dp4_run.summary["Recovery Time"]
    assert isinstance(recovery, float)
    # The replacement waits the restart delay (1 s) and loads its model (2 s) before ready.
    assert 3.0 <= recovery < 15.0


def test_losing_one_of_four_workers_costs_at_most_the_requests_in_flight_on_it(agg_dp4_run):
    # 8 clients over 4 workers: about 2 requests in flight per worker, a few more with uneven routing.
    assert 0 < agg_dp4_run.summary["Failed"] <= 4


def test_latency_before_the_fault_matches_the_simulated_model(agg_dp4_run):
    timing = engine_timing(yaml.safe_load((DEPLOYMENTS_DIR / "agg-dp4.yaml").read_text()))
    engine = EngineTiming(timing["prefill_ms_per_token"], timing["decode_ms_per_token"], timing["batch_ms_per_seq"], int(timing["max_num_seqs"]))
    # Default load: a 64-word prompt, 32 output tokens; 8 clients on 4 workers run 2 sequences each.
    expected = expected_latency_s(engine, prompt_tokens=64, output_tokens=32, running=2)
    measured = agg_dp4_run.summary["Latency Before"]
    assert abs(measured - expected) <= LATENCY_TOLERANCE * expected, (measured, expected)


def test_the_fault_is_injected_within_50_ms_of_its_schedule(agg_dp4_run):
    faults = [e for e in agg_dp4_run.events if e["kind"] == "fault"]
    assert len(faults) == 1
    fault = faults[0]
    assert fault["outcome"] == "delivered"
    assert abs(float(fault["offset_s"]) - float(fault["scheduled_offset_s"])) <= FAULT_PUNCTUALITY_S


def test_the_fault_is_scheduled_from_the_moment_the_clients_start(agg_dp4_run):
    events = agg_dp4_run.events
    warmed_up = next(float(e["offset_s"]) for e in events if e["kind"] == "warmup")
    fault = next(e for e in events if e["kind"] == "fault")
    assert float(fault["scheduled_offset_s"]) - warmed_up == pytest.approx(4.0, abs=0.25)


def test_the_results_directory_holds_the_run_files(agg_dp4_run):
    run_dir = agg_dp4_run.run_dir
    for name in ("run.json", "summary.csv", "summary.json", "summary.md", "requests.csv", "events.csv", "watcher.csv", "processes.csv", "report.html", "test.log.txt"):
        assert (run_dir / name).is_file(), name
    for replica in ("frontend", "processor_0", "processor_1", "decode_worker_0", "decode_worker_3"):
        assert (run_dir / replica / "output.log").is_file(), replica
        assert (run_dir / replica / "error.log").is_file(), replica
    assert (run_dir / "summary.csv").read_text().splitlines()[0].startswith(SUMMARY_HEADER)
    assert len((run_dir / "requests.csv").read_text().splitlines()) == 161


def test_locust_own_csv_and_html_reports_are_written_beside_ours(agg_dp4_run):
    cwd = agg_dp4_run.run_dir.parent
    stats = (cwd / "locust_stats.csv").read_text().splitlines()
    assert stats[0].startswith("Type,Name,Request Count")
    aggregated = next(line.split(",") for line in stats if line.startswith(",Aggregated,"))
    assert int(aggregated[2]) > 0, stats
    assert "<html" in (cwd / "locust.html").read_text().lower()


def test_the_manifest_names_the_run_and_its_startup_time(agg_dp4_run):
    manifest = json.loads((agg_dp4_run.run_dir / "run.json").read_text())
    assert (manifest["deployment"], manifest["failure"]) == ("agg-dp4", "decode_worker")
    assert "--failure decode_worker" in manifest["command"]
    assert manifest["startup_time_s"] == pytest.approx(agg_dp4_run.summary["Startup Time"])
    assert manifest["started_at"] < manifest["ended_at"]
    assert manifest["load"]["clients"] == 8 and manifest["versions"]["locust"]


def test_without_a_gpu_the_run_says_so_once_and_writes_no_gpu_csv(agg_dp4_run):
    if (agg_dp4_run.run_dir / "gpu.csv").exists():
        pytest.skip("this machine has an NVIDIA GPU: tests/gpu covers it")
    note = json.loads((agg_dp4_run.run_dir / "run.json").read_text())["gpu_note"]
    assert note.startswith("no GPU sampled: ")
    log_lines = (agg_dp4_run.run_dir / "test.log.txt").read_text().splitlines()
    assert [line for line in log_lines if "no GPU sampled" in line] == [line for line in log_lines if note in line]
    assert len([line for line in log_lines if note in line]) == 1
    assert "Traceback" not in agg_dp4_run.stderr
    assert "No GPU sampled" in (agg_dp4_run.run_dir / "report.html").read_text()


def test_the_process_sampler_follows_every_replica_and_the_replacement(agg_dp4_run):
    with (agg_dp4_run.run_dir / "processes.csv").open(newline="") as src:
        rows = list(csv.DictReader(src))
    instances = {r["instance"] for r in rows}
    assert {"frontend_0", "processor_0", "processor_1", "decode_worker_0", "decode_worker_3"} <= instances
    assert {r["role"] for r in rows} == {"main", "engine"}
    fault = next(e for e in agg_dp4_run.events if e["kind"] == "fault")
    killed = f"{fault['component']}_{fault['replica']}"
    leaders = {r["leader_pid"] for r in rows if r["instance"] == killed and r["role"] == "main"}
    assert len(leaders) == 2, "the killed worker and its replacement"
    assert all(float(r["rss_mib"]) > 1 for r in rows)
    assert any(r["cpu_pct"] not in ("", "0") for r in rows)


@pytest.mark.browser
def test_the_report_opens_offline_in_chromium_with_every_chart_drawn(agg_dp4_run, tmp_path):
    check = open_report(agg_dp4_run.run_dir / "report.html", screenshot=tmp_path / "report.png")
    assert check.problems() == []
    # Timeline, per-second outcomes, failure rate, TTFT/ITL, watcher, process CPU and RSS; no GPU here.
    assert len(check.canvases) == 7, [c.describe() for c in check.canvases]
    assert check.blank_canvases == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.browser
def test_the_reports_time_0_is_the_loads_start_and_the_fault_line_is_at_fault_at(agg_dp4_run, tmp_path):
    fault_at = float(AGG_DP4_RUN[AGG_DP4_RUN.index("--fault-at") + 1])
    with offline_page() as page:
        check = page.open(agg_dp4_run.run_dir / "report.html")
        check.screenshot(tmp_path / "time-axes.png")
        assert check.problems() == []
        seen = page.page.evaluate(
            """() => {
                 const el = document.querySelector('[data-chart="timeline"]');
                 const label = el.querySelector('.fault-label');
                 return {x_min: el.uplot.scales.x.min, label: label.textContent,
                         fault_at: el.uplot.posToVal(parseFloat(label.style.left) - 3, "x"),
                         launch: el.querySelector('.phase-label') && el.querySelector('.phase-label').textContent};
               }"""
        )
    # The fault fired on schedule, within a few ms: its line is drawn at --fault-at.
    assert seen["fault_at"] == pytest.approx(fault_at, abs=0.1)
    assert seen["x_min"] < 0 and seen["launch"] == "launch and warm-up"  # the launch, before time 0
    (fault,) = [e for e in agg_dp4_run.events if e["kind"] == "fault"]
    assert seen["label"] == f"decode_worker_{fault['replica']} SIGKILL pid {fault['pid']}"


def test_the_watcher_samples_pending_requests_and_active_workers(agg_dp4_run):
    rows = (agg_dp4_run.run_dir / "watcher.csv").read_text().splitlines()[1:]
    active = [float(r.split(",")[4]) for r in rows if r.split(",")[2] == "1"]
    assert len(rows) >= 10
    assert max(active) == 4.0
    assert min(active) == 3.0  # while the killed worker was down


def test_no_process_of_the_run_is_alive_after_it_ends(agg_dp4_run):
    assert wait_for_no_tagged_processes(agg_dp4_run.tag, NO_ORPHANS_WITHIN_S) == []


# -- agg-dp1 × decode_worker: no redundancy --------------------------------------------------


def test_without_redundancy_requests_fail_until_the_worker_is_back(agg_dp1_worker_kill):
    summary = agg_dp1_worker_kill.summary
    assert agg_dp1_worker_kill.returncode == 0, agg_dp1_worker_kill.stderr[-2000:]
    assert summary["Success"] + summary["Failed"] == 64
    assert summary["Failed"] >= 4
    assert isinstance(summary["Recovery Time"], float) and summary["Recovery Time"] >= 3.0
    assert isinstance(summary["Latency After"], float)  # requests succeeded again after recovery


def test_the_supervisor_logs_exit_restart_and_ready_with_pids(agg_dp1_worker_kill):
    # The supervisor's events, without chaos's proof that the kill took effect.
    events = [e for e in agg_dp1_worker_kill.events if e["component"] == "decode_worker" and e["detail"] != "teardown" and e["kind"] != "proof"]
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["launch", "ready"]
    assert kinds[2:6] == ["fault", "exit", "restart", "ready"]
    fault, exit_, restart, ready = events[2:6]
    assert fault["pid"] == exit_["pid"] != restart["pid"] == ready["pid"]
    assert exit_["outcome"] == "killed by SIGKILL"


# -- agg-dp1 × engine: the worker never notices --------------------------------------------------


def test_an_unnoticed_engine_death_makes_requests_time_out(agg_dp1_engine_kill):
    assert agg_dp1_engine_kill.returncode == 0, agg_dp1_engine_kill.stderr[-2000:]
    failed = [r for r in agg_dp1_engine_kill.records if r["status"] == "failure"]
    assert failed
    assert {r["error_kind"] for r in failed} == {"timeout"}


def test_an_unnoticed_engine_death_has_no_recovery_time(agg_dp1_engine_kill):
    summary = agg_dp1_engine_kill.summary
    assert summary["Recovery Time"] is None
    assert "Recovery Time" in (agg_dp1_engine_kill.run_dir / "summary.csv").read_text()
    assert (agg_dp1_engine_kill.run_dir / "summary.csv").read_text().splitlines()[1].split(",")[10] == "N/A"


def test_the_engine_fault_kills_only_the_child_and_the_worker_stays_up(agg_dp1_engine_kill):
    events = agg_dp1_engine_kill.events
    fault = next(e for e in events if e["kind"] == "fault")
    worker_launch = next(e for e in events if e["kind"] == "launch" and e["component"] == "decode_worker")
    assert fault["pid"] != worker_launch["pid"]
    assert "engine child" in fault["detail"]
    assert not [e for e in events if e["kind"] == "exit" and e["detail"] != "teardown"]


# -- the runner itself dies ------------------------------------------------------------------------


def _start_and_wait_until_serving(tmp_path, *options: str) -> tuple[subprocess.Popen, str]:
    proc, tag, run_dir = start_locust(tmp_path, *options, output="discard")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = run_dir / "events.csv"
        if events.exists() and ",warmup," in events.read_text():
            return proc, tag
        time.sleep(0.2)
    proc.kill()
    kill_tagged(tag)
    raise AssertionError("the deployment never became ready")


def test_a_sigkilled_runner_leaves_no_process_behind(tmp_path):
    proc, tag = _start_and_wait_until_serving(tmp_path, "--deployment", "agg-dp1", "--requests-per-client", "200")
    try:
        # frontend, processor, decode worker and its engine at least
        assert len(tagged_processes(tag)) >= 5
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(tag)


def test_ctrl_c_tears_down_and_still_writes_the_summary(tmp_path):
    proc, tag = _start_and_wait_until_serving(tmp_path, "--deployment", "agg-dp1", "--requests-per-client", "200")
    try:
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert (tmp_path / "run" / "summary.json").is_file()
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(tag)


def test_a_dry_run_prints_the_pids_it_would_signal_and_signals_nothing(tmp_path):
    result = run_locust(tmp_path, "--deployment", "agg-dp1", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    worker_pid = next(e["pid"] for e in result.events if e["kind"] == "launch" and e["component"] == "decode_worker")
    assert f"SIGKILL  process group of decode_worker  pid {worker_pid}  (" in result.stdout
    assert "SIGKILL  engine child of decode_worker  pid " in result.stdout
    assert "SIGSTOP  process group of decode_worker" in result.stdout
    assert not [e for e in result.events if e["kind"] in ("fault", "exit") and e["detail"] != "teardown"]
    assert result.records == []


def test_a_dry_run_without_a_results_dir_prints_only_its_plan_and_writes_nothing(tmp_path):
    before = {p.name for p in Path(tempfile.gettempdir()).glob("faultsuite-dry-run-*")}
    tag = uuid.uuid4().hex
    # Not run_locust: it always names a results directory.
    command = locust_command("--deployment", "agg-dp1", "--dry-run", "--failure", "engine")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=tagged_environment(tag))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[0] == "Dry run on agg-dp1: nothing is signalled."
    assert "SIGKILL  engine child of decode_worker  pid " in done.stdout
    assert "Results:" not in done.stdout and "summary and report written" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert {p.name for p in Path(tempfile.gettempdir()).glob("faultsuite-dry-run-*")} == before, "its scratch folder was left behind"
    assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []


def test_ctrl_c_while_launching_leaves_no_process_behind(tmp_path):
    proc, tag, run_dir = start_locust(tmp_path, "--deployment", "agg-dp4", output="discard")
    try:
        events = run_dir / "events.csv"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (events.exists() and ",launch," in events.read_text()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert ",warmup," not in events.read_text()  # interrupted before the graph was up
        assert wait_for_no_tagged_processes(tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(tag)
