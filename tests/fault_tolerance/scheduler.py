"""The matrix's runs, started ahead of their tests: up to `parallel` at once, in the order
pytest checks them.

A matrix run mostly waits (one run keeps a 2-core machine about 30 % busy: the graph idles
between tokens and the load is 4 clients), so two at once nearly halve the matrix's time and
still leave each a core's headroom; `--ft-parallel 1` runs them one by one, for timings
taken alone. Each run is its own tagged process tree on its own kernel-chosen ports, so runs
side by side share nothing but the CPU.
"""

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.harness import RunResult, kill_tagged, output_of

__all__ = ["MatrixScheduler", "StartedRun"]

Pair = tuple[str, str]


@dataclass
class StartedRun:
    """One headless run started in the background, its output going to files in `output`."""

    proc: subprocess.Popen
    tag: str
    run_dir: Path
    output: Path
    deadline: float

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self) -> RunResult:
        """The run's result once it has exited; killed, tree and all, past its deadline."""
        try:
            self.proc.wait(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            kill_tagged(self.tag)
            raise
        stdout, stderr = output_of(self.output)
        return RunResult(self.proc.returncode, stdout, stderr, self.run_dir, self.tag)


@dataclass
class MatrixScheduler:
    """Hands each test its pair's run, having started the runs after it so that `parallel`
    are going whenever one is awaited or checked.

    `order` is the pairs in the order their tests will ask; `start` starts one pair's run.
    A pair asked out of order (or twice) is started then, so a test never waits on a run it
    did not ask for. `close` kills the runs no test came for (a session stopped by `-x`)."""

    order: list[Pair]
    start: Callable[[Pair], StartedRun]
    parallel: int
    started: dict[Pair, StartedRun] = field(default_factory=dict)
    claimed: set[Pair] = field(default_factory=set)

    def result(self, pair: Pair) -> RunResult:
        if pair not in self.started or pair in self.claimed:
            self.started[pair] = self.start(pair)
        self.claimed.add(pair)
        self._start_ahead(behind=pair)
        run = self.started[pair]
        result = run.wait()
        self._start_ahead(behind=pair)
        return result

    def _start_ahead(self, behind: Pair) -> None:
        """Start the next pairs after `behind`, in order, while fewer than `parallel` run."""
        position = self.order.index(behind) if behind in self.order else len(self.order)
        for pair in self.order[position + 1 :]:
            if sum(run.running() for run in self.started.values()) >= self.parallel:
                return
            if pair not in self.started:
                self.started[pair] = self.start(pair)

    def close(self) -> None:
        for pair, run in self.started.items():
            if pair not in self.claimed:
                run.proc.kill()
                run.proc.wait()
                kill_tagged(run.tag)
