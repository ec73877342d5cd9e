"""Memory growth over a run, from `processes.csv`: a leak shows as a slope.

For each process generation of each instance (an instance's processes under one leader pid:
a restart starts a new generation, whose drop to a fresh RSS is no shrinkage), the RSS of
all its processes is summed at each sample from the moment the generation was ready (its
`ready` event; from its first sample when it has none, as an attached process), and the
least-squares slope of that sum over time is its growth, in MiB a minute: loading a model
is not a leak. A generation sampled over less than `MIN_SPAN_S` while ready gives none.
"""

import numpy as np
import pandas as pd

from faultsuite.events import Event, EventKind

__all__ = ["MIN_SPAN_S", "max_rss_growth"]

MIN_SPAN_S = 10.0


def max_rss_growth(processes: pd.DataFrame, events: list[Event]) -> tuple[float | None, str | None]:
    """(the largest growth in MiB/min over every generation, its instance); (None, None)
    when no generation was sampled long enough."""
    if processes.empty:
        return None, None
    ready_at = {(e.component, e.replica, e.pid): e.offset_s for e in events if e.kind == EventKind.READY}
    sampled = processes.dropna(subset=["rss_mib", "offset_s"])
    totals = sampled.groupby(["component", "replica", "instance", "leader_pid", "offset_s"], as_index=False)["rss_mib"].sum()
    best: tuple[float | None, str | None] = (None, None)
    for (component, replica, instance, leader), generation in totals.groupby(["component", "replica", "instance", "leader_pid"]):
        ready = ready_at.get((component, int(replica), int(leader)), float("-inf"))
        generation = generation[generation["offset_s"] >= ready]
        times = generation["offset_s"].to_numpy(dtype=float)
        if len(times) < 3 or times.max() - times.min() < MIN_SPAN_S:
            continue
        slope_per_s = float(np.polyfit(times, generation["rss_mib"].to_numpy(dtype=float), 1)[0])
        if best[0] is None or slope_per_s * 60 > best[0]:
            best = (slope_per_s * 60, str(instance))
    return best
