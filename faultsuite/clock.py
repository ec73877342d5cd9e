"""One clock per run: wall time for people and files, a monotonic offset for arithmetic.

Every record, sample and event carries both, so that before/after splits and durations never
depend on the wall clock being stepped mid-run.
"""

import time
from dataclasses import dataclass, field

__all__ = ["RunClock"]


@dataclass
class RunClock:
    """Maps monotonic readings to wall time, anchored once at construction."""

    wall_origin: float = field(default_factory=time.time)
    mono_origin: float = field(default_factory=time.monotonic)

    @classmethod
    def joined(cls, wall_origin: float) -> "RunClock":
        """This process's clock of a run another process started at `wall_origin` (a Locust
        worker's, or a fault agent's): offsets agree as far as the machines' clocks do."""
        return cls(wall_origin=wall_origin, mono_origin=time.monotonic() - (time.time() - wall_origin))

    def offset(self) -> float:
        """Seconds since the run's origin (monotonic)."""
        return time.monotonic() - self.mono_origin

    def wall(self, offset: float | None = None) -> float:
        """Epoch seconds of `offset` (now if omitted), derived from the monotonic clock."""
        return self.wall_origin + (self.offset() if offset is None else offset)

    def stamp(self) -> tuple[float, float]:
        """(epoch seconds, offset seconds) of now, read once."""
        offset = self.offset()
        return self.wall_origin + offset, offset

    def offset_of_wall(self, wall: float) -> float:
        """Offset of an epoch time taken on this machine."""
        return wall - self.wall_origin
