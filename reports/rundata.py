"""Everything a results directory holds, loaded once: what the summary and reports are built from.

Each file may be missing or cut short (an interrupted run); what is there is used.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.events import Event, read_events
from reports.gpu import read_gpu_samples
from reports.gpu_findings import GpuMemoryFinding, gpu_memory_findings
from reports.manifest import RunManifest, read_manifest
from reports.processes import read_process_samples
from reports.records import RequestRecord, read_records
from reports.summary import Summary, compute_summary, delivered_faults
from reports.watcher import WatcherSample, read_samples

__all__ = ["RunData", "load_run"]


@dataclass(frozen=True)
class RunData:
    """One run's records, events and samples, with the summary computed from them.

    `gpu` and `processes` are the rows of `gpu.csv` and `processes.csv` (columns as in
    `reports.gpu.GPU_COLUMNS` and `reports.processes.PROCESS_COLUMNS`); empty frames with
    those columns when the files are absent.
    """

    run_dir: Path
    manifest: RunManifest
    records: list[RequestRecord]
    events: list[Event]
    samples: list[WatcherSample]
    gpu: pd.DataFrame
    processes: pd.DataFrame
    summary: Summary
    gpu_findings: list[GpuMemoryFinding]

    @property
    def fault_offsets_s(self) -> list[float]:
        """Offsets of every delivered fault, in order."""
        return [e.offset_s for e in delivered_faults(self.events)]


def load_run(run_dir: Path) -> RunData:
    """Read every file of `run_dir` and compute its summary."""
    manifest = read_manifest(run_dir)
    records = read_records(run_dir)
    events = read_events(run_dir / "events.csv")
    samples = read_samples(run_dir / "watcher.csv")
    gpu = read_gpu_samples(run_dir / "gpu.csv")
    summary = compute_summary(
        failure=manifest.failure,
        records=records,
        events=events,
        samples=samples,
        startup_time_s=manifest.startup_time_s,
        sla_latency_s=manifest.sla_latency_s,
    )
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        records=records,
        events=events,
        samples=samples,
        gpu=gpu,
        processes=read_process_samples(run_dir / "processes.csv"),
        summary=summary,
        gpu_findings=gpu_memory_findings(gpu, events),
    )
