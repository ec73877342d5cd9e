"""The matrix's scheduler starts runs ahead, never more than `parallel` at once, hands each
test its own run, and kills the runs nobody came for. Real processes stand in for runs."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from tests.fault_tolerance.scheduler import MatrixScheduler, StartedRun

PAIRS = [("dep", f"failure{k}") for k in range(5)]


class Starter:
    """Starts a process per pair that prints its pair and lives `seconds` (those in `quick`
    end at once); keeps the order they began in and how many ran at once."""

    def __init__(self, tmp_path: Path, seconds: float, quick: tuple[tuple[str, str], ...] = ()) -> None:
        self.tmp_path = tmp_path
        self.seconds = seconds
        self.quick = quick
        self.runs: dict[tuple[str, str], StartedRun] = {}
        self.most_at_once = 0

    def __call__(self, pair: tuple[str, str]) -> StartedRun:
        output = self.tmp_path / f"{pair[1]}-{uuid.uuid4().hex}"
        output.mkdir()
        seconds = 0 if pair in self.quick else self.seconds
        code = f"import time; print({pair[1]!r}, flush=True); time.sleep({seconds})"
        with (output / "stdout.txt").open("w") as out, (output / "stderr.txt").open("w") as err:
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err, text=True)
        run = StartedRun(proc, uuid.uuid4().hex, output / "run", output, deadline=time.monotonic() + 30)
        self.runs[pair] = run
        self.most_at_once = max(self.most_at_once, sum(r.running() for r in self.runs.values()))
        return run


def test_each_test_gets_its_own_run_and_the_next_ones_are_already_going(tmp_path):
    starter = Starter(tmp_path, 0.3)
    scheduler = MatrixScheduler(PAIRS, starter, parallel=2)
    for pair in PAIRS:
        result = scheduler.result(pair)
        assert result.returncode == 0 and result.stdout.strip() == pair[1]
    assert list(starter.runs) == PAIRS, "started in the order the tests ask"
    assert starter.most_at_once == 2
    scheduler.close()


def test_one_at_a_time_starts_nothing_ahead(tmp_path):
    starter = Starter(tmp_path, 0.1)
    scheduler = MatrixScheduler(PAIRS, starter, parallel=1)
    for pair in PAIRS:
        scheduler.result(pair)
    assert starter.most_at_once == 1
    scheduler.close()


def test_a_pair_asked_out_of_order_or_again_gets_a_fresh_run(tmp_path):
    starter = Starter(tmp_path, 0.1)
    scheduler = MatrixScheduler(PAIRS, starter, parallel=2)
    first = scheduler.result(PAIRS[3])
    again = scheduler.result(PAIRS[3])
    assert first.run_dir != again.run_dir and again.stdout.strip() == PAIRS[3][1]
    assert scheduler.result(("dep", "unlisted")).stdout.strip() == "unlisted"
    scheduler.close()


def test_close_kills_the_runs_no_test_came_for(tmp_path):
    starter = Starter(tmp_path, 60, quick=(PAIRS[0],))
    scheduler = MatrixScheduler(PAIRS, starter, parallel=3)
    scheduler.result(PAIRS[0])  # as a session stopped by -x after its first test
    waiting = [run.proc.pid for pair, run in starter.runs.items() if pair != PAIRS[0]]
    assert len(waiting) == 3
    scheduler.close()
    assert not [pid for pid in waiting if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
