"""Silent stalls, on hand-made replica samples: health ok, requests held, a counter that stands."""

from faultsuite.samples import ReplicaSample
from faultsuite.stalls import STALL_AFTER_S, StallTracker, silent_stalls

INTERVAL_S = 0.5


def samples(progress: list[float], healthy: bool = True, in_flight: float = 2, replica: int = 0) -> list[ReplicaSample]:
    """One sample every INTERVAL_S, from 0, with the given progress counter values."""
    return [ReplicaSample(1000 + i * INTERVAL_S, i * INTERVAL_S, "worker", replica, in_flight, value, healthy) for i, value in enumerate(progress)]


def standing(seconds: float) -> list[float]:
    """A counter that rises, stands still for `seconds`, then rises again."""
    still = int(seconds / INTERVAL_S)
    return [1, 2, 3] + [4] * (still + 1) + [5, 6]


def test_a_counter_that_stands_while_health_says_ok_is_one_stall_of_that_long():
    (stall,) = silent_stalls(samples(standing(4.0)))
    # The counter reached 4 at 1.5 s and moved on by 6.0 s.
    assert (stall.component, stall.replica, stall.start_s, stall.end_s) == ("worker", 0, 1.5, 6.0)


def test_a_stall_counts_only_once_it_has_lasted_its_threshold():
    tracker = StallTracker()
    changes = [(s.offset_s, c) for s in samples(standing(4.0)) if (c := tracker.feed(s)) is not None]
    (began_at, began), (ended_at, ended) = changes
    assert (began.kind, began_at - began.start_s) == ("began", STALL_AFTER_S)
    assert (ended.kind, ended_at, ended.duration_s) == ("ended", 6.0, 4.5)


def test_a_counter_that_keeps_moving_is_no_stall():
    assert silent_stalls(samples([float(i) for i in range(20)])) == []


def test_a_stall_shorter_than_its_threshold_does_not_count():
    assert silent_stalls(samples(standing(STALL_AFTER_S - 1))) == []


def test_a_replica_whose_health_says_it_is_not_ok_is_not_silent():
    assert silent_stalls(samples(standing(4.0), healthy=False)) == []


def test_a_replica_holding_no_request_has_nothing_to_serve():
    assert silent_stalls(samples(standing(4.0), in_flight=0)) == []


def test_a_replica_without_a_progress_counter_cannot_stall():
    assert silent_stalls(samples([None] * 20)) == []  # type: ignore[list-item]


def test_a_stall_still_on_at_the_end_of_the_run_ends_with_its_last_sample():
    (stall,) = silent_stalls(samples([1, 2] + [3] * 10))
    assert (stall.start_s, stall.end_s) == (1.0, 5.5)


def test_each_replica_stalls_on_its_own():
    mixed = samples(standing(4.0), replica=0) + samples([float(i) for i in range(12)], replica=1)
    assert [s.replica for s in silent_stalls(mixed)] == [0]


def test_a_stall_says_what_it_saw():
    (stall,) = silent_stalls(samples(standing(4.0)))
    assert stall.describe(stall.end_s) == "for 4.5 s, with 2 requests held"
