"""Silent stalls: a replica whose health probe says ok while it serves nothing.

A replica is stalling at a sample when its probe answered healthy, it holds requests
(`in_flight` > 0) and its progress counter (tokens generated) stands where it stood at the
sample before. The stall began at that sample before: the counter's last move came no later.
It counts once it has lasted `after_s` (a `began` change), and ends at the first sample that is
not stalling, or at the last sample of the run (an `ended` change, with its whole span).

One tracker serves the run, which logs each change as an event as it happens
(`samplers.replicas`), and the summary, which reads `replicas.csv` afterwards
(`reports.summary`): both see the same stalls.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from faultsuite.samples import ReplicaSample

__all__ = ["STALL_AFTER_S", "StallChange", "StallTracker", "silent_stalls"]

#: How long health may say ok while nothing is served before the stall counts.
STALL_AFTER_S = 3.0


@dataclass(frozen=True)
class StallChange:
    """A stall of one replica that began to count, or that ended; `end_s` is None until it ends."""

    kind: Literal["began", "ended"]
    component: str
    replica: int
    start_s: float
    end_s: float | None
    in_flight: float

    @property
    def duration_s(self) -> float | None:
        return None if self.end_s is None else self.end_s - self.start_s

    def describe(self, at_s: float) -> str:
        """The event's detail: "health says ok, nothing served for 3.5 s, with 4 requests held"
        as it counts (at `at_s`), "for 5.0 s, with 4 requests held" once over."""
        held = f"with {self.in_flight:g} request{'s' if self.in_flight != 1 else ''} held"
        if self.kind == "began":
            return f"health says ok, nothing served for {at_s - self.start_s:.1f} s, {held}"
        return f"for {self.duration_s:.1f} s, {held}"


@dataclass
class _Replica:
    last: ReplicaSample | None = None
    start_s: float | None = None
    counted: bool = False
    held: float = 0.0


class StallTracker:
    """Feed it every replica's samples in time order; it says when a stall counts and ends."""

    def __init__(self, after_s: float = STALL_AFTER_S):
        self.after_s = after_s
        self._replicas: dict[tuple[str, int], _Replica] = {}

    def feed(self, sample: ReplicaSample) -> StallChange | None:
        state = self._replicas.setdefault((sample.component, sample.replica), _Replica())
        previous, state.last = state.last, sample
        stalling = (
            previous is not None
            and sample.healthy is True
            and (sample.in_flight or 0) > 0
            and sample.progress is not None
            and sample.progress == previous.progress
        )
        if not stalling:
            return self._end(state, sample)
        if state.start_s is None:
            state.start_s = previous.offset_s  # type: ignore[union-attr]
        state.held = max(state.held, sample.in_flight or 0.0)
        if not state.counted and sample.offset_s - state.start_s >= self.after_s:
            state.counted = True
            return StallChange("began", sample.component, sample.replica, state.start_s, None, state.held)
        return None

    def finish(self) -> list[StallChange]:
        """End the stalls still on at the last sample of each replica."""
        ends = [self._end(state, state.last) for state in self._replicas.values() if state.last is not None]
        return [change for change in ends if change is not None]

    def _end(self, state: _Replica, sample: ReplicaSample) -> StallChange | None:
        """End the replica's stall, if any, at `sample`; the change, if the stall counted."""
        start, counted, held = state.start_s, state.counted, state.held
        state.start_s, state.counted, state.held = None, False, 0.0
        if start is None or not counted:
            return None
        return StallChange("ended", sample.component, sample.replica, start, sample.offset_s, held)


def silent_stalls(samples: Iterable[ReplicaSample], after_s: float = STALL_AFTER_S) -> list[StallChange]:
    """Every stall that counted, ended, over samples in any order."""
    tracker = StallTracker(after_s)
    changes = [tracker.feed(s) for s in sorted(samples, key=lambda s: s.offset_s)]
    return [c for c in changes if c is not None and c.kind == "ended"] + tracker.finish()
