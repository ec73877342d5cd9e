"""The samplers' files: their columns, how a cell is written, and how each file is read back.

- `watcher.csv`: one row per metrics scrape (`WatcherSample`);
- `processes.csv`: one row per deployment process per sample (`PROCESS_COLUMNS`);
- `gpu.csv`: device and per-process GPU rows (`GPU_COLUMNS`);
- `replicas.csv`: each replica's own requests in flight, progress counter and health, per
  sample (`ReplicaSample`).

The samplers (`samplers/`) write them as the run goes; the reports read them with the readers
here, so rendering needs nothing but a results directory.
"""

import csv
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

__all__ = [
    "GPU_COLUMNS",
    "PROCESS_COLUMNS",
    "REPLICA_COLUMNS",
    "ReplicaSample",
    "read_replica_samples",
    "WATCHER_COLUMNS",
    "WatcherSample",
    "format_cell",
    "read_gpu_samples",
    "read_process_samples",
    "read_samples",
]


def format_cell(value) -> str | int:
    """How samplers write a value: blank for None, 0/1 for booleans, floats to 6 places."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return value


@dataclass(frozen=True)
class WatcherSample:
    """One scrape of the deployment's metrics; `up` is False when the scrape failed."""

    time: float
    offset_s: float
    up: bool
    pending_requests: float | None = None
    active_workers: float | None = None
    migrations_total: float | None = None  # a counter: requests the deployment migrated so far


WATCHER_COLUMNS = tuple(f.name for f in fields(WatcherSample))


@dataclass(frozen=True)
class ReplicaSample:
    """One read of a replica's own metrics page and health probe, at once: the requests it
    holds and its progress counter (None: no answer, or no such series), and whether its
    probe answered healthy (None: it has no HTTP probe)."""

    time: float
    offset_s: float
    component: str
    replica: int
    in_flight: float | None
    progress: float | None = None
    healthy: bool | None = None


REPLICA_COLUMNS = tuple(f.name for f in fields(ReplicaSample))

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

GPU_COLUMNS = (
    "time",
    "offset_s",
    "gpu",
    "gpu_name",
    "scope",
    "utilization_pct",
    "memory_used_mib",
    "memory_total_mib",
    "power_w",
    "temperature_c",
    "pid",
    "process_memory_mib",
    "component",
    "replica",
    "instance",
    "role",
    "leader_pid",
    "orphan",
)


def read_samples(path: Path) -> list[WatcherSample]:
    """Samples from a `watcher.csv`; an absent file reads as none."""
    if not path.exists():
        return []

    def opt(text: str) -> float | None:
        return float(text) if text else None

    with path.open(newline="", encoding="utf-8") as src:
        return [
            WatcherSample(
                time=float(row["time"]),
                offset_s=float(row["offset_s"]),
                up=row["up"] == "1",
                pending_requests=opt(row["pending_requests"]),
                active_workers=opt(row["active_workers"]),
                migrations_total=opt(row.get("migrations_total", "")),  # absent before the column was
            )
            for row in csv.DictReader(src)
        ]


def read_replica_samples(path: Path) -> list[ReplicaSample]:
    """Samples from a `replicas.csv`; an absent file reads as none."""
    if not path.exists():
        return []
    def number(text: str | None) -> float | None:
        return float(text) if text else None

    with path.open(newline="", encoding="utf-8") as src:
        return [
            ReplicaSample(
                float(row["time"]),
                float(row["offset_s"]),
                row["component"],
                int(row["replica"]),
                number(row["in_flight"]),
                number(row.get("progress")),  # absent from the files of earlier versions
                None if not row.get("healthy") else row["healthy"] == "1",
            )
            for row in csv.DictReader(src)
        ]


def read_process_samples(path: Path) -> pd.DataFrame:
    """`processes.csv` as a frame; an absent or empty file gives an empty frame with the columns."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(PROCESS_COLUMNS))
    return pd.read_csv(path, keep_default_na=True, dtype={"component": str, "instance": str, "role": str, "status": str})


def read_gpu_samples(path: Path) -> pd.DataFrame:
    """`gpu.csv` as a frame; an absent or empty file gives an empty frame with the columns."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(GPU_COLUMNS))
    return pd.read_csv(path, dtype={"gpu_name": str, "scope": str, "component": str, "instance": str, "role": str})
