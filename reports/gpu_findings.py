"""Was GPU memory released when a process was killed? Built from `gpu.csv` and the events.

For every delivered fault, the processes holding GPU memory in the last sample at or before
it that belong to the faulted process (the signalled pid, or any process whose replica leader
is that pid) are followed through the later samples. A holder that disappears released its
memory by that sample; one that is still listed held it on, and when it is not the signalled
process itself it is an orphan the fault left behind: the finding the report shows.

Sampling is periodic, so "released after" is an upper bound: the first sample without it.
"""

from dataclasses import dataclass

import pandas as pd

from faultsuite.events import Event
from reports.summary import delivered_faults

__all__ = ["GpuMemoryFinding", "gpu_memory_findings"]


@dataclass(frozen=True)
class GpuMemoryFinding:
    """One process that held GPU memory when its replica was faulted."""

    fault_offset_s: float
    instance: str  # the faulted replica, e.g. decode_worker_0
    signalled_pid: int
    pid: int
    memory_mib: float
    orphan: bool  # not the signalled process, and it outlived it
    held_for_s: float | None  # last time seen holding memory, after the fault (None: never seen after)
    released_after_s: float | None  # first sample without it, after the fault; None: held to the end

    @property
    def still_held(self) -> bool:
        return self.held_for_s is not None

    def sentence(self) -> str:
        owner = f"orphan of {self.instance}" if self.orphan else self.instance
        if not self.still_held:
            when = f"within {self.released_after_s:.1f} s" if self.released_after_s is not None else "(no sample after it)"
            return f"GPU memory of pid {self.pid} ({owner}, {self.memory_mib:.0f} MiB) released {when} of the fault at {self.fault_offset_s:.1f} s."
        until = "until sampling stopped" if self.released_after_s is None else f"released {self.released_after_s:.1f} s after it"
        return (
            f"GPU memory still held after the fault, by pid {self.pid} ({owner}): "
            f"{self.memory_mib / 1024:.1f} GiB for {self.held_for_s:.1f} s after the fault at {self.fault_offset_s:.1f} s, {until}."
        )


def gpu_memory_findings(gpu: pd.DataFrame, events: list[Event]) -> list[GpuMemoryFinding]:
    """One finding per GPU-memory holder of every delivered fault, in fault order."""
    if gpu.empty:
        return []
    processes = gpu[gpu["scope"] == "process"]
    sample_times = sorted(set(gpu.loc[gpu["scope"] == "device", "offset_s"]))
    findings = []
    for fault in (f for f in delivered_faults(events) if f.pid is not None):
        before = [t for t in sample_times if t <= fault.offset_s]
        if not before:
            continue
        at_fault = processes[processes["offset_s"] == before[-1]]
        holders = at_fault[(at_fault["pid"] == fault.pid) | (at_fault["leader_pid"] == fault.pid)]
        after_times = [t for t in sample_times if t > fault.offset_s]
        for pid, held_then in holders.groupby("pid"):
            later = processes[(processes["pid"] == pid) & (processes["offset_s"] > fault.offset_s)]
            if later.empty:
                held_for, released = None, (after_times[0] - fault.offset_s if after_times else None)
                memory = held_then["process_memory_mib"].max()
            else:
                last_seen = later["offset_s"].max()
                held_for = last_seen - fault.offset_s
                gone = [t for t in after_times if t > last_seen]
                released = gone[0] - fault.offset_s if gone else None
                memory = later["process_memory_mib"].max()
            findings.append(
                GpuMemoryFinding(
                    fault_offset_s=fault.offset_s,
                    instance=fault.instance,
                    signalled_pid=fault.pid,
                    pid=int(pid),
                    memory_mib=float(memory) if pd.notna(memory) else 0.0,
                    orphan=int(pid) != fault.pid and not later.empty,
                    held_for_s=held_for,
                    released_after_s=released,
                )
            )
    return findings
