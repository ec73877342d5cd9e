"""Open-loop arrival schedules: Poisson gaps fit the exponential distribution, constant ones
are exact, stages follow one another, and a seed repeats its schedule."""

import math

import pytest

from locustfiles.arrivals import RateStage, arrival_offsets

#: Kolmogorov-Smirnov critical value at the 1% level: D must stay under KS_1PCT / sqrt(n).
KS_1PCT = 1.63


def ks_exponential(gaps: list[float], rate: float) -> float:
    """The Kolmogorov-Smirnov distance between `gaps` and the exponential distribution of `rate`."""
    ordered = sorted(gaps)
    n = len(ordered)
    cdf = [1 - math.exp(-rate * x) for x in ordered]
    return max(max((i + 1) / n - f, f - i / n) for i, f in enumerate(cdf))


def gaps_of(offsets: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0, *offsets], offsets)]


def test_poisson_gaps_fit_the_exponential_distribution_of_the_rate():
    offsets = arrival_offsets([RateStage(rate=50, for_s=200)], "poisson", seed=7)
    gaps = gaps_of(offsets)

    assert ks_exponential(gaps, 50) < KS_1PCT / math.sqrt(len(gaps))


def test_poisson_gaps_do_not_fit_another_rate():
    """The test above can fail: the same gaps are far from a rate twice as high."""
    gaps = gaps_of(arrival_offsets([RateStage(rate=50, for_s=200)], "poisson", seed=7))

    assert ks_exponential(gaps, 100) > KS_1PCT / math.sqrt(len(gaps))


def test_constant_arrivals_are_evenly_spaced_at_the_rate():
    assert arrival_offsets([RateStage(rate=4, for_s=1)], "constant") == [0.0, 0.25, 0.5, 0.75]


def test_stages_follow_one_another_each_at_its_rate():
    offsets = arrival_offsets([RateStage(rate=20, for_s=50), RateStage(rate=80, for_s=50)], "poisson", seed=3)
    first = [t for t in offsets if t < 50]
    second = [t for t in offsets if t >= 50]

    # Poisson counts: within 4 standard deviations of rate x time.
    assert abs(len(first) - 1000) < 4 * math.sqrt(1000) and abs(len(second) - 4000) < 4 * math.sqrt(4000)
    assert max(offsets) < 100


@pytest.mark.parametrize("arrival", ["poisson", "constant"])
def test_a_seed_gives_the_same_schedule_every_time(arrival):
    stages = [RateStage(rate=10, for_s=5)]

    assert arrival_offsets(stages, arrival, seed=11) == arrival_offsets(stages, arrival, seed=11)
