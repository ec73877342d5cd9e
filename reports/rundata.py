"""Everything a results directory holds, loaded once: what the summary and reports are built from.

Each file may be missing or cut short (an interrupted run); what is there is used.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from faultsuite.events import Event, read_events
from faultsuite.layout import RunLayout
from faultsuite.manifest import RunManifest, read_manifest
from faultsuite.record_table import RecordTable, read_record_table
from faultsuite.records import RequestRecord, read_bad_requests
from faultsuite.samples import WatcherSample, read_gpu_samples, read_process_samples, read_replica_samples, read_samples
from reports.gpu_findings import GpuMemoryFinding, gpu_memory_findings
from reports.summary import Summary, as_table, compute_summary, delivered_faults, fault_offset

__all__ = ["RunData", "in_group_order", "load_run"]


@dataclass(frozen=True)
class RunData:
    """One run's records, events and samples, with the summary computed from them.

    `gpu` and `processes` are the rows of `gpu.csv` and `processes.csv` (columns as in
    `faultsuite.samples.GPU_COLUMNS` and `faultsuite.samples.PROCESS_COLUMNS`); empty frames with
    those columns when the files are absent. `records` are given as a table (its ITL pools split
    at the fault time, as `load_run` reads it) or as records, which are tabled.
    """

    run_dir: Path
    manifest: RunManifest
    records: RecordTable
    events: list[Event]
    samples: list[WatcherSample]
    gpu: pd.DataFrame
    processes: pd.DataFrame
    summary: Summary
    gpu_findings: list[GpuMemoryFinding]

    def __post_init__(self) -> None:
        if not isinstance(self.records, RecordTable):
            records: Iterable[RequestRecord] = self.records
            object.__setattr__(self, "records", as_table(records, fault_offset(self.events)))

    @property
    def fault_offsets_s(self) -> list[float]:
        """Offsets of every delivered fault, in order."""
        return [e.offset_s for e in delivered_faults(self.events)]


def in_group_order(runs: Iterable[RunData]) -> list[RunData]:
    """Runs as a group's table and report list them: the `none` baseline first, then by
    failure, then by directory name."""
    return sorted(runs, key=lambda r: (r.manifest.failure != "none", r.manifest.failure, r.run_dir.name))


def load_run(run_dir: Path) -> RunData:
    """Read every file of `run_dir` and compute its summary."""
    layout = RunLayout(run_dir)
    manifest = read_manifest(run_dir)
    events = read_events(layout.events)
    records = read_record_table(run_dir, itl_split_s=fault_offset(events))
    samples = read_samples(layout.watcher)
    gpu = read_gpu_samples(layout.gpu)
    processes = read_process_samples(layout.processes)
    summary = compute_summary(
        failure=manifest.failure,
        records=records,
        events=events,
        samples=samples,
        startup_time_s=manifest.startup_time_s,
        sla_latency_s=manifest.sla_latency_s,
        bad_requests=read_bad_requests(layout.bad_requests),
        processes=processes,
        replica_samples=read_replica_samples(layout.replicas),
    )
    return RunData(
        run_dir=run_dir,
        manifest=manifest,
        records=records,
        events=events,
        samples=samples,
        gpu=gpu,
        processes=processes,
        summary=summary,
        gpu_findings=gpu_memory_findings(gpu, events),
    )
