"""Max RSS Growth on hand-made `processes.csv` frames: a slope per process generation, from
its ready event on, over generations sampled long enough."""

import pandas as pd

from faultsuite.events import Event, EventKind
from reports.memory import max_rss_growth


def samples(instance: str, leader: int, points: list[tuple[float, float]], role: str = "main") -> list[dict]:
    component, replica = instance.rsplit("_", 1)
    return [{"offset_s": t, "component": component, "replica": int(replica), "instance": instance, "leader_pid": leader, "role": role, "rss_mib": rss} for t, rss in points]


def ready(instance: str, pid: int, at: float) -> Event:
    component, replica = instance.rsplit("_", 1)
    return Event(time=at, offset_s=at, kind=EventKind.READY, component=component, replica=int(replica), pid=pid)


def test_the_fastest_growing_generation_is_found_in_mib_per_minute():
    rows = samples("worker_0", 10, [(t, 100 + t) for t in range(0, 21)])  # 1 MiB/s
    rows += samples("worker_0", 10, [(t, 5.0) for t in range(0, 21)], role="engine")  # summed with its leader's
    rows += samples("frontend_0", 20, [(t, 50 + 0.1 * t) for t in range(0, 21)])
    growth, instance = max_rss_growth(pd.DataFrame(rows), [])
    assert instance == "worker_0" and abs(growth - 60.0) < 1e-6


def test_a_restart_is_a_new_generation_and_loading_before_ready_is_no_growth():
    # Grows 10 MiB/s while loading (to 12 s), then flat; restarted at 30 s, fresh and flat.
    first = [(t, 10.0 * min(t, 12)) for t in range(0, 30)]
    second = [(t, 40.0) for t in range(30, 45)]
    rows = samples("worker_0", 10, first) + samples("worker_0", 11, second)
    growth, instance = max_rss_growth(pd.DataFrame(rows), [ready("worker_0", 10, 12.0), ready("worker_0", 11, 31.0)])
    assert instance == "worker_0" and abs(growth) < 1e-6, "flat once ready; the restart's drop is not counted"
    growth, _ = max_rss_growth(pd.DataFrame(rows), [])
    assert growth > 60, "counted from the first sample, loading looks like growth"


def test_a_generation_sampled_too_briefly_gives_nothing():
    rows = samples("worker_0", 10, [(t, 100 + 50 * t) for t in range(0, 8)])
    assert max_rss_growth(pd.DataFrame(rows), []) == (None, None)
    assert max_rss_growth(pd.DataFrame(), []) == (None, None)
