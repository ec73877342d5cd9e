"""GPU memory attributed to the deployment's processes, orphans included, on real processes
and real signals, with a stand-in GPU (no GPU needed).

The holder runs with `--fake --spawn-child`: its leader starts one child and holds nothing.
`ChildHoldsGpu` is a GPU on which that child holds 1 GiB for as long as it lives. Killing the
leader alone leaves the child running, an orphan still holding its memory: the sampler must
name it as the holder's orphan and the findings must say the memory is still held. Killing the
whole group ends the child, and the findings must say the memory was released.
"""

import logging
import signal

import pandas as pd
import pytest

from chaos.context import FaultContext
from deployments.interface import FaultTarget, ProcessSnapshots
from faultsuite.clock import RunClock
from faultsuite.events import read_events
from faultsuite.samples import read_gpu_samples, read_process_samples
from reports.gpu_findings import gpu_memory_findings
from samplers.gpu import DeviceReading, GpuSampler, GpuUnavailable
from samplers.processes import ProcessSampler
from tests.gpu.conftest import HOLDER, Holder, nvml_unavailable
from tests.live import eventually, is_running

HELD_MIB = 1024.0
TOTAL_MIB = 81559.0
SAMPLE_INTERVAL_S = 0.1
FAKE_HOLDER = ("--mib", "1024", "--fake", "--spawn-child")


class ChildHoldsGpu:
    """One fake GPU. Holders: every process of `component` with `role` in the inventory's
    snapshot when opened, plus any pid `tell()` names; each holds 1 GiB while it is running."""

    def __init__(self, inventory: ProcessSnapshots, component: str = HOLDER, role: str = "child"):
        self.inventory = inventory
        self.component = component
        self.role = role
        self.pids: set[int] = set()
        self.opened = self.closed = False

    def tell(self, pid: int) -> None:
        self.pids.add(pid)

    def open(self) -> None:
        self.opened = True
        self.pids |= {t.pid for t in self.inventory.snapshot() if t.component == self.component and t.role == self.role}

    def read(self) -> list[DeviceReading]:
        holding = {pid: HELD_MIB for pid in sorted(self.pids) if is_running(pid)}
        return [DeviceReading(0, "Fake GPU", 0.0, HELD_MIB * len(holding), TOTAL_MIB, None, None, holding)]

    def close(self) -> None:
        self.closed = True


def process_rows(path, pid: int) -> pd.DataFrame:
    frame = read_gpu_samples(path)
    return frame[(frame["scope"] == "process") & (frame["pid"] == pid)]


def sample_fake_gpu(holder: Holder, path) -> tuple[GpuSampler, ChildHoldsGpu]:
    source = ChildHoldsGpu(holder.deployment)
    sampler = GpuSampler(path, holder.deployment.events.clock, holder.deployment, source=source, interval_s=SAMPLE_INTERVAL_S)
    sampler.start()
    assert source.opened and sampler.note is None
    return sampler, source


def signal_holder(holder: Holder, scope: str) -> float:
    """SIGKILL the holder (its group, or its leader alone) as chaos does; the fault's offset."""
    context = FaultContext("gpu_test", holder.deployment)
    assert context.send(FaultTarget(holder.replica, holder.leader_pid, scope), signal.SIGKILL) == "delivered"
    (fault,) = [e for e in holder.deployment.events.events if e.kind == "fault"]
    return fault.offset_s


def wait_for_attributed_child(path, holder: Holder) -> pd.DataFrame:
    def attributed() -> bool:
        rows = process_rows(path, holder.child_pid)
        return not rows[(rows["component"] == HOLDER) & (rows["role"] == "child") & (rows["orphan"] == 0)].empty

    assert eventually(attributed), f"child pid {holder.child_pid} never attributed to {HOLDER}: {read_gpu_samples(path)}"
    return process_rows(path, holder.child_pid)


def test_a_child_left_holding_gpu_memory_by_a_leader_only_kill_is_reported_as_an_orphan_and_ended_at_teardown(launch_holder, tmp_path):
    holder = launch_holder(*FAKE_HOLDER)
    child = holder.child_pid
    assert child is not None and is_running(child)
    path = tmp_path / "gpu.csv"
    sampler, source = sample_fake_gpu(holder, path)
    try:
        before = wait_for_attributed_child(path, holder)
        assert set(before["leader_pid"]) == {holder.leader_pid}
        assert set(before["instance"]) == {f"{HOLDER}_0"}
        fault_at = signal_holder(holder, "leader")
        assert eventually(lambda: not is_running(holder.leader_pid)) and is_running(child)

        def orphaned() -> bool:
            rows = process_rows(path, child)
            return not rows[(rows["orphan"] == 1) & (rows["offset_s"] > fault_at)].empty

        assert eventually(orphaned), f"child pid {child} never shown as an orphan: {read_gpu_samples(path)}"
    finally:
        sampler.stop()
    assert source.closed

    after = process_rows(path, child)
    after = after[after["offset_s"] > fault_at]
    assert set(after["component"]) == {HOLDER} and set(after["leader_pid"]) == {holder.leader_pid}
    # The leader held nothing: only its child is a holder, so only it has a finding.
    (finding,) = gpu_memory_findings(read_gpu_samples(path), holder.deployment.events.events)
    assert (finding.pid, finding.signalled_pid, finding.orphan, finding.still_held) == (child, holder.leader_pid, True, True)
    assert finding.memory_mib == HELD_MIB
    assert finding.held_for_s is not None and finding.held_for_s > 0
    assert f"pid {child} (orphan of {HOLDER}_0)" in finding.sentence()
    assert finding.sentence().startswith("GPU memory still held after the fault")

    holder.deployment.down(grace_s=1.0)
    assert eventually(lambda: not is_running(child)), f"orphan {child} outlived the teardown"
    stops = [e for e in read_events(holder.deployment.events.path) if e.kind == "stop" and e.pid == child]
    assert stops and "orphan" in stops[0].detail, f"no stop event for orphan {child}: {read_events(holder.deployment.events.path)}"


def test_memory_of_a_child_killed_with_its_whole_group_is_reported_released(launch_holder, tmp_path):
    holder = launch_holder(*FAKE_HOLDER)
    child = holder.child_pid
    assert child is not None
    path = tmp_path / "gpu.csv"
    sampler, _ = sample_fake_gpu(holder, path)
    try:
        wait_for_attributed_child(path, holder)
        fault_at = signal_holder(holder, "group")
        assert eventually(lambda: not is_running(child))
        assert eventually(lambda: (read_gpu_samples(path)["offset_s"] > fault_at + 2 * SAMPLE_INTERVAL_S).any())
    finally:
        sampler.stop()

    frame = read_gpu_samples(path)
    assert frame[(frame["scope"] == "process") & (frame["orphan"] == 1)].empty
    (finding,) = gpu_memory_findings(frame, holder.deployment.events.events)
    assert (finding.pid, finding.orphan, finding.still_held) == (child, False, False)
    assert finding.released_after_s is not None and finding.released_after_s <= 1.0
    assert f"GPU memory of pid {child} ({HOLDER}_0, 1024 MiB) released within" in finding.sentence()


def test_a_machine_without_a_gpu_writes_no_gpu_csv_and_says_why(tmp_path, caplog):
    reason = nvml_unavailable()
    if reason is None:
        pytest.skip("a GPU answers NVML here: this test is for machines without one")
    path = tmp_path / "gpu.csv"
    sampler = GpuSampler(path, RunClock(), None, interval_s=SAMPLE_INTERVAL_S)
    with caplog.at_level(logging.INFO, logger="samplers.gpu"):
        sampler.start()
    sampler.stop()
    assert not path.exists()
    assert sampler.note is not None and sampler.note.startswith("no GPU sampled")
    assert reason in sampler.note
    # No driver here is the usual case, not a fault: one quiet INFO line, no warning (issue 16).
    ours = [r for r in caplog.records if r.name == "samplers.gpu"]
    assert [(r.levelno, r.getMessage()) for r in ours] == [(logging.INFO, sampler.note)]


class BrokenDriver:
    """A GPU source whose NVML answers, but wrongly: a fault worth a warning."""

    def open(self) -> None:
        raise GpuUnavailable("NVML: Driver/library version mismatch")


def test_a_gpu_that_cannot_be_read_is_a_warning(tmp_path, caplog):
    sampler = GpuSampler(tmp_path / "gpu.csv", RunClock(), None, source=BrokenDriver(), interval_s=SAMPLE_INTERVAL_S)
    with caplog.at_level(logging.INFO, logger="samplers.gpu"):
        sampler.start()
    sampler.stop()
    ours = [r for r in caplog.records if r.name == "samplers.gpu"]
    assert [(r.levelno, r.getMessage()) for r in ours] == [(logging.WARNING, "no GPU sampled: NVML: Driver/library version mismatch")]


def test_the_process_sampler_keeps_sampling_an_orphan_after_a_leader_only_kill(launch_holder, tmp_path):
    holder = launch_holder(*FAKE_HOLDER)
    child = holder.child_pid
    assert child is not None
    path = tmp_path / "processes.csv"
    deployment = holder.deployment
    sampler = ProcessSampler(deployment, path, deployment.events.clock, interval_s=SAMPLE_INTERVAL_S)
    sampler.start()

    def rows_of(pid: int) -> pd.DataFrame:
        frame = read_process_samples(path)
        return frame[frame["pid"] == pid]

    try:
        assert eventually(lambda: len(rows_of(child)) >= 2)
        fault_at = signal_holder(holder, "leader")
        assert eventually(lambda: not rows_of(child)[(rows_of(child)["orphan"] == 1) & (rows_of(child)["offset_s"] > fault_at)].empty)
        assert eventually(lambda: len(rows_of(child)[rows_of(child)["orphan"] == 1]) >= 2)
    finally:
        sampler.stop()

    rows = rows_of(child).sort_values("offset_s")
    first, later = rows.iloc[0], rows.iloc[1:]
    assert (first["component"], first["role"], first["orphan"], first["leader_pid"]) == (HOLDER, "child", 0, holder.leader_pid)
    assert pd.isna(first["cpu_pct"]), "cpu_pct must be blank on a process's first sample"
    assert later["cpu_pct"].notna().all() and (later["cpu_pct"] >= 0).all()
    assert (rows["rss_mib"] > 0).all()
    orphan_rows = rows[rows["orphan"] == 1]
    assert (orphan_rows["offset_s"] > fault_at).all()
    assert set(orphan_rows["instance"]) == {f"{HOLDER}_0"} and set(orphan_rows["leader_pid"]) == {holder.leader_pid}
    assert (orphan_rows["ppid"] != holder.leader_pid).all()  # reparented: its leader is gone
    assert orphan_rows["cpu_pct"].notna().all()  # the same psutil object: the baseline kept
    leader_rows = read_process_samples(path)
    leader_rows = leader_rows[leader_rows["pid"] == holder.leader_pid]
    assert not leader_rows.empty and set(leader_rows["role"]) == {"main"} and set(leader_rows["orphan"]) == {0}
