"""The process sampler: CPU, memory, threads and state of every deployment process, into
`processes.csv`, one row per process per sample, orphans included.

Columns: `time` (epoch s), `offset_s`, `component`, `replica`, `instance` (`decode_worker_1`),
`role` ("main", a child role such as "engine", or "child"), `pid`, `ppid`, `leader_pid` (the
replica process it belongs to), `orphan` (1 when that process is gone), `status` (psutil's:
running, sleeping, stopped, zombie, ...), `cpu_pct` (percent of one core since the previous
sample; blank on a process's first sample), `rss_mib`, `threads`.
"""

from pathlib import Path

import psutil

from deployments.interface import ProcessSnapshots
from faultsuite.clock import RunClock
from faultsuite.samples import PROCESS_COLUMNS
from samplers.sampling import CsvSampler

__all__ = ["ProcessSampler"]

MIB = 1024 * 1024


class ProcessSampler(CsvSampler):
    """Samples the deployment's processes every `interval_s`."""

    columns = PROCESS_COLUMNS

    def __init__(self, processes: ProcessSnapshots, path: Path, clock: RunClock, interval_s: float = 1.0):
        super().__init__(path, clock, interval_s)
        self.processes = processes
        self._seen: set[psutil.Process] = set()

    def sample(self, wall: float, offset: float) -> list[tuple]:
        rows = []
        for tracked in self.processes.snapshot():
            process = tracked.process
            try:
                with process.oneshot():
                    # psutil measures CPU between two calls on the same object: the first says 0.
                    cpu = process.cpu_percent(interval=None)
                    row = (
                        wall,
                        offset,
                        tracked.component,
                        tracked.replica,
                        tracked.instance,
                        tracked.role,
                        process.pid,
                        process.ppid(),
                        tracked.leader_pid,
                        tracked.orphan,
                        process.status(),
                        cpu if process in self._seen else None,
                        process.memory_info().rss / MIB,
                        process.num_threads(),
                    )
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            self._seen.add(process)
            rows.append(row)
        return rows
