"""The GPU sampler: NVML readings per GPU and GPU memory per process, into `gpu.csv`.

Rows of two scopes share the file. `scope=device`, one per GPU per sample: `gpu` (index),
`gpu_name`, `utilization_pct`, `memory_used_mib`, `memory_total_mib`, `power_w`,
`temperature_c`. `scope=process`, one per process holding memory on a GPU: `gpu`, `pid`,
`process_memory_mib`, and, when the pid is the deployment's (see `deployments.interface.TrackedProcess`),
`component`, `replica`, `instance`, `role`, `leader_pid` and `orphan` (1: its replica's
process is gone, yet it still holds memory). Every row has `time` (epoch s) and `offset_s`.
A reading the GPU does not support is blank.

With no NVIDIA driver (or no GPU) the sampler writes no file: it logs one line saying why,
and keeps that line in `note` for the run's manifest and report.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from deployments.interface import ProcessSnapshots
from faultsuite.clock import RunClock
from faultsuite.samples import GPU_COLUMNS
from samplers.sampling import CsvSampler

__all__ = ["DeviceReading", "GpuSampler", "GpuSource", "GpuUnavailable", "NvmlSource"]

log = logging.getLogger(__name__)

MIB = 1024 * 1024


class GpuUnavailable(Exception):
    """No GPU can be sampled here; the message says why. `no_gpu_here`: the host has no
    NVIDIA driver or no GPU, the usual case on a laptop or CI runner, not a fault."""

    def __init__(self, why: str, no_gpu_here: bool = False):
        super().__init__(why)
        self.no_gpu_here = no_gpu_here


@dataclass(frozen=True)
class DeviceReading:
    """One GPU at one moment. `processes` maps pid to MiB held (None: not reported)."""

    index: int
    name: str
    utilization_pct: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    power_w: float | None
    temperature_c: float | None
    processes: dict[int, float | None] = field(default_factory=dict)


class GpuSource(Protocol):
    """Where readings come from: NVML, or a test's stand-in."""

    def open(self) -> None:
        """Connect; raises GpuUnavailable when there is nothing to sample."""

    def read(self) -> list[DeviceReading]: ...

    def close(self) -> None: ...


class NvmlSource:
    """Readings through NVML (`pynvml`, from the nvidia-ml-py package)."""

    def __init__(self) -> None:
        self._nvml = None
        self._handles: list = []

    def open(self) -> None:
        import pynvml

        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            no_driver = isinstance(exc, (pynvml.NVMLError_LibraryNotFound, pynvml.NVMLError_DriverNotLoaded))
            raise GpuUnavailable(f"NVML: {exc}", no_gpu_here=no_driver) from None
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            pynvml.nvmlShutdown()
            raise GpuUnavailable("NVML found no GPU", no_gpu_here=True)
        self._nvml = pynvml
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    def _optional(self, read, scale: float = 1.0) -> float | None:
        try:
            return read() / scale
        except self._nvml.NVMLError:  # type: ignore[union-attr]
            return None  # this GPU does not report it (power on some boards, say)

    def read(self) -> list[DeviceReading]:
        nvml = self._nvml
        assert nvml is not None, "open() first"
        readings = []
        for index, handle in enumerate(self._handles):
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            processes: dict[int, float | None] = {}
            for lister in (nvml.nvmlDeviceGetComputeRunningProcesses, nvml.nvmlDeviceGetGraphicsRunningProcesses):
                try:
                    for process in lister(handle):
                        used = process.usedGpuMemory
                        processes[process.pid] = None if used is None else used / MIB
                except nvml.NVMLError:
                    continue
            readings.append(
                DeviceReading(
                    index=index,
                    name=str(nvml.nvmlDeviceGetName(handle)),
                    utilization_pct=self._optional(lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                    memory_used_mib=memory.used / MIB,
                    memory_total_mib=memory.total / MIB,
                    power_w=self._optional(lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h), 1000.0),
                    temperature_c=self._optional(lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
                    processes=processes,
                )
            )
        return readings

    def close(self) -> None:
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None


class GpuSampler(CsvSampler):
    """Samples every GPU each `interval_s`, naming the deployment's processes among the holders."""

    columns = GPU_COLUMNS

    def __init__(
        self,
        path: Path,
        clock: RunClock,
        processes: ProcessSnapshots | None,
        source: GpuSource | None = None,
        interval_s: float = 1.0,
    ):
        super().__init__(path, clock, interval_s)
        self.processes = processes
        self.source: GpuSource = source or NvmlSource()
        self.note: str | None = None  # why nothing is sampled, when that is so
        self._open = False

    def start(self) -> None:
        try:
            self.source.open()
        except GpuUnavailable as exc:
            self.note = f"no GPU sampled: {exc}"
            log.log(logging.INFO if exc.no_gpu_here else logging.WARNING, "%s", self.note)
            return
        self._open = True
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._open:
            self.source.close()
            self._open = False

    def sample(self, wall: float, offset: float) -> list[tuple]:
        ours = {t.pid: t for t in self.processes.snapshot()} if self.processes is not None else {}
        rows: list[tuple] = []
        for gpu in self.source.read():
            rows.append(
                (wall, offset, gpu.index, gpu.name, "device", gpu.utilization_pct, gpu.memory_used_mib, gpu.memory_total_mib, gpu.power_w, gpu.temperature_c)
                + (None,) * 8
            )
            for pid, memory_mib in sorted(gpu.processes.items()):
                tracked = ours.get(pid)
                owner = (
                    (tracked.component, tracked.replica, tracked.instance, tracked.role, tracked.leader_pid, tracked.orphan)
                    if tracked is not None
                    else (None,) * 6
                )
                rows.append((wall, offset, gpu.index, gpu.name, "process") + (None,) * 5 + (pid, memory_mib) + owner)
        return rows
