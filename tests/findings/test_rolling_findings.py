"""A rolling upgrade under load (`decode_worker_rolling`): every decode worker replaced, one
at a time, while 8 clients stream. What it costs, measured:

- `agg-dp4`: the embedded worker does not drain on SIGTERM, so each step fails the streams
  in flight on the worker it stops (about 2 of 8 clients' streams a step), each a
  `stream_error`; the other three workers carry the rest. The rollout takes about 2.7 s a
  step (the worker's exit, 2 s of simulated model loading, its probe).
- `agg-dp4-migration`: the same steps, and no request fails: every broken stream moves to a
  live worker and resumes where it stopped.
- `dynamo-agg-migration` (Dynamo 1.6.1, mocker): no request fails, and the streams in flight
  on a stopped worker are not migrated: the worker finishes them on SIGTERM before it exits
  (about 0.5 s). At most a request the frontend routed to it in the instant between its
  SIGTERM and its leaving discovery moves (one in one of several CI runs).
"""

import pytest

from tests.dynamo.test_dynamo_runs import run_dynamo
from tests.e2e.harness import kill_tagged, run_locust

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LOAD = ("--failure", "decode_worker_rolling", "--clients", "8", "--requests-per-client", "100000", "--fault-at", "2", "--request-timeout", "10")


def check_rolled_one_at_a_time(events: list[dict], replicas: int) -> None:
    """Every replica was stopped once, its replacement (a new pid) was ready before the next
    stop, and the rollout ended `done`."""
    stops = [e for e in events if e["kind"] == "fault"]
    steps = [e for e in events if e["kind"] == "rollout" and e["replica"]]
    assert sorted(int(e["replica"]) for e in stops) == list(range(replicas))
    assert [e["outcome"] for e in steps] == ["replaced"] * replicas
    assert [e["pid"] for e in steps] == [e["pid"] for e in stops]
    for stop, step in zip(stops, steps):
        ready = [e for e in events if e["kind"] == "ready" and e["replica"] == stop["replica"] and float(stop["offset_s"]) < float(e["offset_s"]) <= float(step["offset_s"])]
        assert ready and ready[0]["pid"] != stop["pid"], f"replica {stop['replica']} was not replaced by a new process"
    for step, next_stop in zip(steps, stops[1:]):
        assert float(next_stop["offset_s"]) >= float(step["offset_s"]), "a step began before the one before it was ready"
    (end,) = [e for e in events if e["kind"] == "rollout" and not e["replica"]]
    assert end["outcome"] == "done"
    assert all(e["outcome"] == "confirmed" for e in events if e["kind"] == "proof")


def test_a_rolling_restart_of_agg_dp4_costs_the_streams_on_each_stopped_worker(tmp_path):
    result = run_locust(tmp_path, "--deployment", "agg-dp4", *LOAD, "--max-run-time", "18")
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    check_rolled_one_at_a_time(result.events, 4)
    failed = [r for r in result.records if r["status"] == "failure"]
    assert failed and {r["error_kind"] for r in failed} == {"stream_error"}
    stops = [float(e["offset_s"]) for e in result.events if e["kind"] == "fault"]
    # Each failure is a stream cut by a stop: it was in flight at one.
    for record in failed:
        assert any(record["start_offset_s"] <= stop <= record["start_offset_s"] + record["latency_s"] for stop in stops), record
    assert len(failed) <= 8 * 4 / 2, "at most the share of one worker in four at each of 4 steps, with room"
    assert result.summary["Recovery Time"] >= 3 * 2.0, "four steps, each a model load, one after another"


def test_a_rolling_restart_of_agg_dp4_migration_fails_nothing(tmp_path):
    result = run_locust(tmp_path, "--deployment", "agg-dp4-migration", *LOAD, "--max-run-time", "18")
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    check_rolled_one_at_a_time(result.events, 4)
    assert result.summary["Failed"] == 0
    assert result.summary["Migrated Requests"] >= 1, "the streams cut by each stop moved on"
    assert result.summary["Corrupt Outputs"] == 0


@pytest.mark.dynamo
def test_a_rolling_restart_of_dynamo_with_migration_fails_nothing_and_drains_its_streams(dynamo, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, "dynamo-agg-migration", *LOAD, "--max-run-time", "12")
    check_rolled_one_at_a_time(result.events, 2)
    assert result.summary["Failed"] == 0
    stops = [float(e["offset_s"]) for e in result.events if e["kind"] == "fault"]
    in_flight = sum(r["start_offset_s"] <= stop <= r["start_offset_s"] + r["latency_s"] for r in result.records for stop in stops)
    assert in_flight >= 2 * len(stops), "too few streams in flight at the stops to tell a drain from a migration"
    # Dynamo's worker drains on SIGTERM: its streams finish where they are. Only a request
    # routed to it as it stopped may move, at most one a stop; without the drain about half
    # of those in flight would.
    assert result.summary["Migrations Counted"] <= len(stops)
