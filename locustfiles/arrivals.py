"""When the requests of an open-loop run arrive, independently of when answers come back.

`arrival_offsets(stages, arrival, seed)` is the whole schedule, seconds after the load starts:

- `poisson`: gaps drawn from the exponential distribution of the stage's rate (a Poisson
  process), from `random.Random(seed)`, so a seed gives the same schedule every time;
- `constant`: one arrival every 1/rate seconds.

A stage is a rate held for a time; the schedule runs through the stages in turn. A Poisson
gap that would cross into the next stage is drawn again from there (memorylessness makes that
exact).
"""

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["ARRIVALS", "Arrival", "RateStage", "arrival_offsets"]

Arrival = Literal["poisson", "constant"]
ARRIVALS: tuple[Arrival, ...] = ("poisson", "constant")


@dataclass(frozen=True)
class RateStage:
    rate: float  # requests per second, > 0
    for_s: float  # seconds, > 0


def arrival_offsets(stages: list[RateStage], arrival: Arrival, seed: int = 0) -> list[float]:
    """Every arrival's offset, ascending, within the stages' total time."""
    rng = random.Random(seed)
    offsets: list[float] = []
    stage_start = 0.0
    for stage in stages:
        stage_end = stage_start + stage.for_s
        if arrival == "constant":
            count = int(stage.for_s * stage.rate + 1e-9)
            offsets += [stage_start + k / stage.rate for k in range(count)]
        else:
            at = stage_start + rng.expovariate(stage.rate)
            while at < stage_end:
                offsets.append(at)
                at += rng.expovariate(stage.rate)
        stage_start = stage_end
    return offsets
