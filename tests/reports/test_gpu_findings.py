"""GPU memory findings from hand-made `gpu.csv` rows and events: released, or held by an orphan."""

import pandas as pd

from faultsuite.events import Event
from faultsuite.samples import GPU_COLUMNS
from reports.gpu_findings import gpu_memory_findings

LEADER, ENGINE, STRANGER = 100, 101, 999


def frame(samples: dict[float, list[tuple]]) -> pd.DataFrame:
    """Device row per sample time, plus process rows given as (pid, mib, leader_pid, orphan)."""
    rows = []
    for offset, holders in samples.items():
        rows.append({"offset_s": offset, "time": 1000 + offset, "gpu": 0, "scope": "device", "memory_total_mib": 81559})
        for pid, mib, leader, orphan in holders:
            rows.append({
                "offset_s": offset, "time": 1000 + offset, "gpu": 0, "scope": "process", "pid": pid,
                "process_memory_mib": mib, "component": "decode_worker" if leader else None,
                "replica": 0 if leader else None, "leader_pid": leader, "orphan": orphan,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(GPU_COLUMNS))


def kill(offset: float, pid: int = LEADER) -> Event:
    return Event(time=1000 + offset, offset_s=offset, kind="fault", component="decode_worker", replica=0, pid=pid, signal="SIGKILL", outcome="delivered")


def test_memory_freed_with_the_killed_group_is_released_by_the_next_sample():
    gpu = frame({1.0: [(LEADER, 11242, LEADER, 0), (STRANGER, 500, None, 0)], 2.0: [(STRANGER, 500, None, 0)], 3.0: []})
    (finding,) = gpu_memory_findings(gpu, [kill(1.5)])
    assert (finding.pid, finding.orphan, finding.still_held) == (LEADER, False, False)
    assert finding.released_after_s == 0.5
    assert finding.memory_mib == 11242
    assert "released within 0.5 s" in finding.sentence()


def test_a_child_that_outlives_its_killed_leader_is_an_orphan_still_holding_memory():
    held = [(ENGINE, 9830, LEADER, 0)]
    orphaned = [(ENGINE, 9830, LEADER, 1)]
    gpu = frame({1.0: held, 2.0: orphaned, 12.0: orphaned, 22.0: orphaned, 23.0: []})
    (finding,) = gpu_memory_findings(gpu, [kill(1.5)])
    assert finding.orphan and finding.still_held
    assert finding.held_for_s == 20.5
    assert finding.released_after_s == 21.5
    assert f"by pid {ENGINE} (orphan of decode_worker_0): 9.6 GiB for 20.5 s" in finding.sentence()


def test_held_until_sampling_stopped_says_so():
    gpu = frame({1.0: [(ENGINE, 1024, LEADER, 0)], 2.0: [(ENGINE, 1024, LEADER, 1)]})
    (finding,) = gpu_memory_findings(gpu, [kill(1.5)])
    assert finding.released_after_s is None
    assert "until sampling stopped" in finding.sentence()


def test_nothing_is_found_without_samples_before_the_fault_or_for_other_processes():
    gpu = frame({1.0: [(STRANGER, 500, None, 0)], 2.0: [(STRANGER, 500, None, 0)]})
    assert gpu_memory_findings(gpu, [kill(1.5)]) == []
    assert gpu_memory_findings(frame({2.0: [(LEADER, 10, LEADER, 0)]}), [kill(1.5)]) == []
    assert gpu_memory_findings(frame({}), [kill(1.5)]) == []


def test_faults_not_delivered_are_not_followed():
    gpu = frame({1.0: [(LEADER, 100, LEADER, 0)], 2.0: [(LEADER, 100, LEADER, 0)]})
    gone = Event(time=1001.5, offset_s=1.5, kind="fault", component="decode_worker", replica=0, pid=LEADER, outcome="process gone")
    assert gpu_memory_findings(gpu, [gone]) == []
