"""Distributed load on loopback: a master that launches, faults and reports, two workers that only
send load, and every record carried to the master as a Locust message.

The master and the workers carry different tags, so that what the workers start (nothing but
themselves) can be told apart from what the master starts (the deployment). Each process runs
in its own empty working directory and logs to a file outside it, so a worker that wrote
anything where it runs would show. Last, `--processes 2`: the same with forked workers.
"""

import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deployments.ports import free_port
from tests.e2e.harness import (
    LOCUSTFILE,
    events_in,
    kill_tagged,
    locust_command,
    records_in,
    run_locust,
    tagged_environment,
    tagged_processes,
    wait_for_no_tagged_processes,
)

pytestmark = pytest.mark.e2e

WORKERS = 2
CLIENTS, REQUESTS = 8, 10
FAULTED_RUN = ("--deployment", "agg-dp4", "--failure", "decode_worker", "--clients", str(CLIENTS), "--requests-per-client", str(REQUESTS), "--fault-at", "2")
#: More requests than fit in the time limit: the run stops while every client has one in flight.
STOPPED_EARLY_RUN = ("--deployment", "agg-dp1", "--failure", "none", "--clients", "6", "--requests-per-client", "100", "--max-run-time", "3")
SUMMARY_HEADER = "Failure,Startup Time,Success,Failed,Latency Before,Latency After,Pending Before,Pending After,Violations Before,Violations After,Recovery Time"
NO_ORPHANS_WITHIN_S = 10.0
SENT_LINE = re.compile(r"users stopped; (\d+) records sent to the master")


@dataclass
class Node:
    proc: subprocess.Popen
    cwd: Path
    log: Path

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class DistributedRun:
    master: Node
    workers: list[Node]
    run_dir: Path
    master_tag: str
    worker_tag: str
    wall_s: float = 0.0
    #: Every pid that carried the workers' tag while the run went on.
    worker_tagged_pids: set[int] = field(default_factory=set)

    @property
    def records(self) -> list[dict]:
        return records_in(self.run_dir)

    @property
    def events(self) -> list[dict]:
        return events_in(self.run_dir)

    def sent_by_workers(self) -> list[int]:
        """What each worker says it sent, from its own log."""
        counts = []
        for worker in self.workers:
            found = SENT_LINE.findall(worker.output)
            assert found, worker.output[-2000:]
            counts.append(sum(int(n) for n in found))
        return counts


def _start(command: list[str], cwd: Path, log: Path, tag: str) -> Node:
    cwd.mkdir()
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=tagged_environment(tag), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, text=True)
    return Node(proc, cwd, log)


def run_distributed(tmp_path: Path, *options: str, timeout_s: float = 240, worker_options: list[list[str]] | None = None) -> DistributedRun:
    """A master with `options` and its workers, run to their end: `WORKERS` plain ones, or one
    per entry of `worker_options`, each with those options of its own."""
    worker_options = worker_options or [[] for _ in range(WORKERS)]
    port = free_port()
    master_tag, worker_tag = uuid.uuid4().hex, uuid.uuid4().hex
    run_dir = tmp_path / "master" / "run"
    logs = tmp_path / "logs"
    logs.mkdir()
    started = time.monotonic()
    master = _start(
        locust_command(
            "--master", "--expect-workers", str(len(worker_options)), "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--results-dir", str(run_dir), *options,
        ),
        tmp_path / "master", logs / "master.log", master_tag,
    )
    worker_command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    workers = [_start(worker_command + own, tmp_path / f"worker{i}", logs / f"worker{i}.log", worker_tag) for i, own in enumerate(worker_options)]
    run = DistributedRun(master, workers, run_dir, master_tag, worker_tag)
    deadline = started + timeout_s
    try:
        while any(node.proc.poll() is None for node in (master, *workers)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the distributed run did not end within {timeout_s} s")
            run.worker_tagged_pids |= {p.pid for p in tagged_processes(worker_tag)}
            time.sleep(0.2)
    except BaseException:
        for node in (master, *workers):
            node.proc.kill()
        kill_tagged(master_tag)
        kill_tagged(worker_tag)
        raise
    run.wall_s = time.monotonic() - started
    return run


@pytest.fixture(scope="module")
def faulted_run(tmp_path_factory):
    run = run_distributed(tmp_path_factory.mktemp("distributed"), *FAULTED_RUN)
    yield run
    kill_tagged(run.master_tag)
    kill_tagged(run.worker_tag)


@pytest.fixture(scope="module")
def stopped_early_run(tmp_path_factory):
    run = run_distributed(tmp_path_factory.mktemp("distributed-stopped"), *STOPPED_EARLY_RUN)
    yield run
    kill_tagged(run.master_tag)
    kill_tagged(run.worker_tag)


def test_the_master_and_the_workers_exit_zero_and_the_master_prints_the_summary_table(faulted_run):
    assert faulted_run.master.returncode == 0, faulted_run.master.output[-3000:]
    for worker in faulted_run.workers:
        assert worker.returncode == 0, worker.output[-3000:]
    assert "| Failure | Startup Time | Success | Failed |" in faulted_run.master.output
    assert "| decode_worker |" in faulted_run.master.output


def test_every_request_of_every_client_reaches_the_master_exactly_once(faulted_run):
    seen = Counter((r["client"], r["seq"]) for r in faulted_run.records)
    assert seen == Counter({(c, s): 1 for c in range(CLIENTS) for s in range(REQUESTS)})
    summary = json.loads((faulted_run.run_dir / "summary.json").read_text())
    assert summary["Success"] + summary["Failed"] == CLIENTS * REQUESTS


def test_both_workers_send_load_to_the_endpoint_the_master_launched(faulted_run):
    sent = faulted_run.sent_by_workers()
    assert all(n > 0 for n in sent), sent
    assert sum(sent) == CLIENTS * REQUESTS
    # Only the requests in flight on the killed worker may fail: a wrong host would fail them all.
    failed = [r for r in faulted_run.records if r["status"] != "success"]
    assert len(failed) <= 4, Counter(r["error_kind"] for r in failed)


def test_only_the_master_launches_and_faults(faulted_run):
    faults = [e for e in faulted_run.events if e["kind"] == "fault"]
    assert [f["outcome"] for f in faults] == ["delivered"]
    assert (faulted_run.run_dir / "decode_worker_0" / "output.log").is_file()
    for worker in faulted_run.workers:
        assert list(worker.cwd.iterdir()) == [], worker.cwd
    # Nothing but the two worker processes ever carried the workers' tag: they started nothing.
    assert faulted_run.worker_tagged_pids == {w.proc.pid for w in faulted_run.workers}


def test_the_master_writes_the_same_results_as_a_local_run(faulted_run):
    run_dir = faulted_run.run_dir
    for name in ("run.json", "summary.csv", "summary.json", "summary.md", "requests.csv", "events.csv", "watcher.csv", "processes.csv", "report.html", "test.log.txt"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "summary.csv").read_text().startswith(SUMMARY_HEADER)
    assert len((run_dir / "requests.csv").read_text().splitlines()) == 1 + CLIENTS * REQUESTS


def test_no_process_of_a_distributed_run_is_left(faulted_run):
    assert wait_for_no_tagged_processes(faulted_run.master_tag, NO_ORPHANS_WITHIN_S) == []
    assert wait_for_no_tagged_processes(faulted_run.worker_tag, NO_ORPHANS_WITHIN_S) == []


def test_a_run_stopped_mid_load_writes_every_record_the_workers_sent(stopped_early_run):
    assert stopped_early_run.master.returncode == 0, stopped_early_run.master.output[-3000:]
    assert [w.returncode for w in stopped_early_run.workers] == [0] * WORKERS
    assert "max run time 3 s reached" in stopped_early_run.master.output
    records = stopped_early_run.records
    assert 0 < len(records) == sum(stopped_early_run.sent_by_workers())
    # No record lost on the way: each client's requests are numbered without a gap.
    by_client: dict[int, list[int]] = {}
    for r in records:
        by_client.setdefault(r["client"], []).append(r["seq"])
    assert set(by_client) == set(range(6))
    for client, seqs in by_client.items():
        assert sorted(seqs) == list(range(len(seqs))), client
    assert "arrived outside its run" not in stopped_early_run.master.output
    assert wait_for_no_tagged_processes(stopped_early_run.master_tag, NO_ORPHANS_WITHIN_S) == []



def test_processes_forks_workers_that_send_the_load_through_the_master(tmp_path):
    # Locust's master binds every interface on port 5557 unless told otherwise; the forked
    # workers find it through --master-host and --master-port.
    port = str(free_port())
    loopback_master = ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    result = run_locust(
        tmp_path, "--processes", "2", *loopback_master, "--deployment", "agg-dp1", "--failure", "none",
        "--clients", "4", "--requests-per-client", "5",
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert Counter((r["client"], r["seq"]) for r in result.records) == Counter({(c, s): 1 for c in range(4) for s in range(5)})
        sent = [int(n) for n in SENT_LINE.findall(result.stderr)]  # the forked workers write to the master's stderr
        assert len(sent) == 2 and all(n > 0 for n in sent), sent
        assert "records from workers: 20 sent, 20 written" in result.stderr
        assert wait_for_no_tagged_processes(result.tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(result.tag)


def test_open_loop_load_splits_its_schedule_among_the_forked_workers(tmp_path):
    port = str(free_port())
    loopback_master = ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-host", "127.0.0.1", "--master-port", port]
    rate, duration = 8, 4
    result = run_locust(
        tmp_path, "--processes", "2", *loopback_master, "--deployment", "agg-dp1", "--failure", "none",
        "--rate", str(rate), "--arrival", "constant", "--duration", str(duration),
    )  # fmt: skip
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        records = sorted(result.records, key=lambda r: r["seq"])
        # One schedule, arrival k sent by generator k mod 2, each exactly once.
        assert [r["seq"] for r in records] == list(range(rate * duration))
        assert all(r["client"] == r["seq"] % 2 for r in records), [(r["seq"], r["client"]) for r in records]
        origin = records[0]["scheduled_offset_s"]
        assert [r["scheduled_offset_s"] - origin for r in records] == pytest.approx([k / rate for k in range(rate * duration)], abs=1e-6)
        # Both generators count from the same origin: neither is behind its share of the schedule.
        assert max(r["start_offset_s"] - r["scheduled_offset_s"] for r in records) < 0.1
        assert f"records from workers: {rate * duration} sent, {rate * duration} written" in result.stderr
        assert wait_for_no_tagged_processes(result.tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(result.tag)
