"""Dynamo's classic control plane under faults (`dynamo-agg-etcd-nats`: etcd 3.4 for
discovery and leases, NATS 2.9 with JetStream for requests and events, both from Debian's
packages), as measured on Dynamo 1.6.1 with its mocker, 4 clients streaming:

- etcd down 5 s: no client-visible effect. The components retry their lease's keep-alive
  every 5 s meanwhile and carry on when etcd is back: etcd keeps its leases across its own
  restart (its data directory is kept).
- etcd down 40 s, past the 30 s leases: each worker, then the frontend, gives up on its lease
  and exits cleanly (exit code 0) about 28 and 31 s after the kill. Clients get connection
  refused while the frontend is down, 503s while it has no worker. Replacements wait for
  etcd and are ready 1.5 to 3.5 s after it. Then the dead workers' registrations linger in
  etcd, whose restart renewed their leases too, and the frontend routes a few requests to
  them (a 503 every few seconds) until those leases run out.
  A 25 s outage sits on the edge: whether a component's keep-alive retry falls inside its
  lease decides whether it exits.
- NATS down 10 s: every request sent meanwhile hangs until Dynamo gives up on it (about 10 s,
  a 503), then a few get an immediate 503 ("not ready") until the workers are registered
  again, about 3 s after NATS is back. Streams in flight at the kill finish.
- NATS stopped 6 s (SIGSTOP): nothing fails; each request sent meanwhile waits, and finishes
  just after SIGCONT. A stop as long as Dynamo's 10 s wait for a reply races it: stopped 10 s,
  a request sent just after the SIGSTOP failed (a 503) in one CI run.
"""

import shutil

import pytest

from tests.conftest import REQUIRE_DYNAMO
from tests.dynamo.test_dynamo_runs import run_dynamo

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.dynamo]

DEPLOYMENT = "dynamo-agg-etcd-nats"
LOAD = ("--clients", "4", "--requests-per-client", "100000", "--fault-at", "2", "--request-timeout", "30")


@pytest.fixture(scope="module")
def control_plane(dynamo) -> None:
    """etcd and nats-server from Debian's packages; skips (or fails, under
    FAULTSUITE_REQUIRE_DYNAMO=1) where either is missing."""
    missing = [name for name in ("etcd", "nats-server") if shutil.which(name) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed: apt-get install etcd-server nats-server"
        if REQUIRE_DYNAMO:
            pytest.fail("FAULTSUITE_REQUIRE_DYNAMO=1 but " + reason, pytrace=False)
        pytest.skip(reason)


def offsets(result, kind: str, component: str) -> list[float]:
    return [float(e["offset_s"]) for e in result.events if e["kind"] == kind and e["component"] == component and e["teardown"] == "0"]


def outage(result, component: str) -> tuple[float, float]:
    """When the component was killed, and when its replacement was ready."""
    (killed,) = offsets(result, "fault", component)
    back = [t for t in offsets(result, "ready", component) if t > killed]
    assert back, f"{component} never came back"
    return killed, back[0]


def no_worker_or_frontend_exited(result) -> None:
    exits = [e for e in result.events if e["kind"] == "exit" and e["teardown"] == "0" and e["component"] in ("frontend", "decode_worker")]
    assert exits == [], exits


def test_etcd_down_5_s_is_not_seen_by_the_clients(control_plane, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, DEPLOYMENT, "--failure", "etcd", *LOAD, "--max-run-time", "12")
    killed, back = outage(result, "etcd")
    assert back - killed >= 5
    assert result.summary["Failed"] == 0
    assert [r for r in result.records if killed < r["start_offset_s"] < back], "requests were sent while etcd was down"
    no_worker_or_frontend_exited(result)


def test_etcd_down_past_the_leases_stops_every_component_until_it_is_back(control_plane, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, DEPLOYMENT, "--failure", "etcd_long", *LOAD, "--max-run-time", "60")
    killed, back = outage(result, "etcd")
    assert back - killed >= 40
    # Each component that holds a lease gave up on it, and exited cleanly, about its 30 s TTL
    # after the kill, while etcd was still down; its replacement was ready soon after etcd.
    for role in ("decode_worker", "frontend"):
        exits = [e for e in result.events if e["kind"] == "exit" and e["component"] == role and e["teardown"] == "0"]
        assert exits and {e["outcome"] for e in exits} == {"exit code 0"}, exits
        assert all(20 <= float(e["offset_s"]) - killed <= 38 for e in exits), [float(e["offset_s"]) - killed for e in exits]
        assert all(back < t < back + 10 for t in offsets(result, "ready", role) if t > killed), "back within seconds of etcd"
    failed = [r for r in result.records if r["status"] == "failure"]
    first_exit = min(float(e["offset_s"]) for e in result.events if e["kind"] == "exit" and e["component"] != "etcd" and e["teardown"] == "0")
    assert failed and {r["error_kind"] for r in failed} <= {"connection_refused", "http_status"}
    assert min(r["start_offset_s"] + r["latency_s"] for r in failed) >= first_exit - 1, "nothing failed while the leases held"
    served = [r for r in result.records if r["start_offset_s"] > back + 5]
    assert served and sum(r["status"] == "success" for r in served) >= 0.8 * len(served)


def test_nats_down_fails_what_is_sent_meanwhile_and_not_what_was_in_flight(control_plane, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, DEPLOYMENT, "--failure", "nats", *LOAD, "--max-run-time", "22")
    killed, back = outage(result, "nats")
    assert back - killed >= 10
    records = result.records
    in_flight = [r for r in records if r["start_offset_s"] < killed < r["start_offset_s"] + r["latency_s"]]
    assert in_flight and all(r["status"] == "success" for r in in_flight), "streams in flight at the kill finish"
    sent_meanwhile = [r for r in records if killed <= r["start_offset_s"] < back]
    assert sent_meanwhile and all(r["status"] == "failure" for r in sent_meanwhile)
    for record in sent_meanwhile:  # each hung until Dynamo gave up on it, about 10 s
        assert record["latency_s"] >= 9.0 and record["http_status"] in (503, None), record
    assert 0 < result.summary["Client Outage (s)"] - (back - killed) < 8, "served again within seconds of NATS's return"


def test_nats_stopped_delays_what_is_sent_meanwhile_and_fails_nothing(control_plane, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, DEPLOYMENT, "--failure", "nats_hang", *LOAD, "--max-run-time", "18")
    (stopped,) = offsets(result, "fault", "nats")
    (resumed,) = offsets(result, "resume", "nats")
    assert result.summary["Failed"] == 0
    waited = [r for r in result.records if stopped < r["start_offset_s"] < resumed]
    assert waited, "requests were sent while NATS was stopped"
    for record in waited:
        assert record["start_offset_s"] + record["latency_s"] >= resumed, "none finished before SIGCONT"
