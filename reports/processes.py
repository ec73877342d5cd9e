"""The process sampler: CPU, memory, threads and state of every deployment process, into
`processes.csv`, one row per process per sample, orphans included.

Columns: `time` (epoch s), `offset_s`, `component`, `replica`, `instance` (`decode_worker_1`),
`role` ("main", a child role such as "engine", or "child"), `pid`, `ppid`, `leader_pid` (the
replica process it belongs to), `orphan` (1 when that process is gone), `status` (psutil's:
running, sleeping, stopped, zombie, ...), `cpu_pct` (percent of one core since the previous
sample; blank on a process's first sample), `rss_mib`, `threads`.
"""

from pathlib import Path

import pandas as pd
import psutil

from deployments.inventory import ProcessInventory
from faultsuite.clock import RunClock
from reports.sampling import CsvSampler

__all__ = ["PROCESS_COLUMNS", "ProcessSampler", "read_process_samples"]

PROCESS_COLUMNS = (
    "time",
    "offset_s",
    "component",
    "replica",
    "instance",
    "role",
    "pid",
    "ppid",
    "leader_pid",
    "orphan",
    "status",
    "cpu_pct",
    "rss_mib",
    "threads",
)

MIB = 1024 * 1024


class ProcessSampler(CsvSampler):
    """Samples the inventory's processes every `interval_s`."""

    columns = PROCESS_COLUMNS

    def __init__(self, inventory: ProcessInventory, path: Path, clock: RunClock, interval_s: float = 1.0):
        super().__init__(path, clock, interval_s)
        self.inventory = inventory
        self._seen: set[psutil.Process] = set()

    def sample(self, wall: float, offset: float) -> list[tuple]:
        rows = []
        for tracked in self.inventory.snapshot():
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


def read_process_samples(path: Path) -> pd.DataFrame:
    """`processes.csv` as a frame; an absent or empty file gives an empty frame with the columns."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(PROCESS_COLUMNS))
    return pd.read_csv(path, keep_default_na=True, dtype={"component": str, "instance": str, "role": str, "status": str})
