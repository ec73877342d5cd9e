"""The reference suite's findings, reproduced on the embedded graphs at reduced sizes.

Each test runs the real CLI and asserts the shape of a finding, not its numbers. The README's
findings table lists the same commands with the numbers one run produced.
"""

from pathlib import Path

import pytest
import yaml

from deployments.models import DEPLOYMENTS_DIR
from tests.e2e.harness import RunResult, kill_tagged, run_locust

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

#: Failures ≈ outage × clients / pace, within this fraction of the prediction.
FAILURE_COUNT_TOLERANCE = 0.35
#: Shorter than a prefill worker's restart (about 3.3 s), so prompts queued meanwhile give up.
SHORT_PREFILL_TIMEOUT_S = 2.0


def run(tmp_path: Path, *options: str) -> RunResult:
    result = run_locust(tmp_path, *options)
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def fault_offset(result: RunResult) -> float:
    return next(float(e["offset_s"]) for e in result.events if e["kind"] == "fault" and e["outcome"] == "delivered")


def end_offset(record: dict) -> float:
    return record["start_offset_s"] + record["latency_s"]


def with_short_prefill_timeout(directory: Path, name: str) -> Path:
    """A copy of a disaggregated graph whose decode worker gives up on a prefill sooner."""
    document = yaml.safe_load((DEPLOYMENTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    for component in document["components"]:
        command = component["command"]
        if "--prefill-timeout-s" in command:
            command[command.index("--prefill-timeout-s") + 1] = str(SHORT_PREFILL_TIMEOUT_S)
    path = directory / f"{name}-short-prefill-timeout.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_without_redundancy_failures_are_about_recovery_time_times_clients_over_request_time(tmp_path):
    # Clients that pace every request, failed or not, at about a request's time (0.75 s).
    clients, pace_s = 4, 0.75
    result = run(
        tmp_path, "--deployment", "agg-dp1", "--failure", "decode_worker", "--clients", str(clients),
        "--requests-per-client", "16", "--fault-at", "3", "--retry-delay", str(pace_s),
    )  # fmt: skip
    summary = result.summary
    predicted = summary["Recovery Time"] * clients / summary["Latency Before"]
    assert abs(summary["Failed"] - predicted) <= FAILURE_COUNT_TOLERANCE * predicted, (summary["Failed"], predicted)


def test_under_open_loop_load_failures_are_about_the_outage_times_the_rate(tmp_path):
    # The same graph and fault as above, but arrivals that do not wait for answers: twice the
    # closed-loop clients' throughput (about 4 / 0.8 s), evenly spaced so the count is exact.
    rate = 8
    result = run(
        tmp_path, "--deployment", "agg-dp1", "--failure", "decode_worker", "--rate", str(rate),
        "--arrival", "constant", "--duration", "12", "--fault-at", "3",
    )  # fmt: skip
    summary = result.summary
    outage_s = max(summary["Recovery Time"], summary["Client Outage (s)"])
    predicted = outage_s * rate
    during = summary["Failed During Outage"]
    assert abs(during - predicted) <= FAILURE_COUNT_TOLERANCE * predicted, (during, predicted)
    # The rest were in flight at the fault: about the rate times a request's time.
    fault = fault_offset(result)
    in_flight = [r for r in result.records if r["scheduled_offset_s"] < fault <= r["scheduled_offset_s"] + r["latency_s"]]
    assert summary["Failed"] - during <= len(in_flight) + 1, (summary["Failed"], during, len(in_flight))
    assert len(in_flight) <= rate * summary["Latency Before"] + 2


def test_with_four_workers_a_decode_worker_kill_costs_at_most_the_requests_in_flight(tmp_path):
    result = run(tmp_path, "--deployment", "agg-dp4", "--failure", "decode_worker", "--fault-at", "3")
    fault = fault_offset(result)
    failed = [r for r in result.records if r["status"] == "failure"]
    in_flight_at_fault = [r for r in result.records if r["start_offset_s"] < fault <= end_offset(r)]
    assert failed, "the killed worker was serving nothing"
    assert all(r["start_offset_s"] < fault <= end_offset(r) for r in failed), "a request sent after the kill failed"
    assert len(failed) <= len(in_flight_at_fault) / 2  # a quarter of them, give or take uneven routing


def test_with_four_workers_an_unnoticed_engine_death_costs_about_a_quarter_of_later_requests(tmp_path):
    result = run(
        tmp_path, "--deployment", "agg-dp4", "--failure", "engine", "--requests-per-client", "16",
        "--fault-at", "2", "--request-timeout", "2", "--retry-delay", "0",
    )  # fmt: skip
    fault = fault_offset(result)
    after = [r for r in result.records if r["start_offset_s"] >= fault]
    failed_after = [r for r in after if r["status"] == "failure"]
    assert {r["error_kind"] for r in failed_after} == {"timeout"}
    assert 0.15 <= len(failed_after) / len(after) <= 0.40, (len(failed_after), len(after))


def test_with_max_num_seqs_2_losing_a_worker_raises_pending_and_violations(tmp_path):
    result = run(tmp_path, "--deployment", "agg-dp4-exact", "--failure", "decode_worker", "--fault-at", "3")
    summary = result.summary
    assert summary["Pending After"] > summary["Pending Before"]
    assert summary["Violations After"] > summary["Violations Before"]


def test_a_prefill_worker_kill_with_a_redundant_one_costs_almost_nothing(tmp_path):
    deployment = with_short_prefill_timeout(tmp_path, "disagg-p2-d1")
    result = run(tmp_path, "--deployment", str(deployment), "--failure", "prefill_worker", "--fault-at", "3")
    # Only a prompt the killed worker held at that instant can be lost: a few milliseconds' worth.
    assert result.summary["Failed"] <= 2
    assert result.summary["Success"] + result.summary["Failed"] == 160


def test_without_a_redundant_prefill_worker_its_requests_wait_out_the_prefill_timeout(tmp_path):
    deployment = with_short_prefill_timeout(tmp_path, "disagg-p1-d1")
    result = run(
        tmp_path, "--deployment", str(deployment), "--failure", "prefill_worker", "--fault-at", "3",
        "--request-timeout", "10",
    )  # fmt: skip
    failed = [r for r in result.records if r["status"] == "failure"]
    assert failed
    for record in failed:
        assert record["error_kind"] == "http_status" and "remote prefill failed" in record["error"]
        assert record["latency_s"] >= SHORT_PREFILL_TIMEOUT_S


def test_a_hang_produces_timeouts_and_recovery_begins_at_sigcont(tmp_path):
    result = run(
        tmp_path, "--deployment", "agg-dp1", "--failure", "decode_worker_hang", "--clients", "4",
        "--requests-per-client", "1000", "--max-run-time", "12", "--fault-at", "2", "--request-timeout", "2",
    )  # fmt: skip
    fault = fault_offset(result)
    resumed = next(float(e["offset_s"]) for e in result.events if e["kind"] == "resume")
    kinds = {r["error_kind"] for r in result.records if r["status"] == "failure"}
    # A stopped process still holds its sockets: callers wait, nobody is refused or reset.
    # (Once the processor's health check gives up on it, it answers 503 itself.)
    assert "timeout" in kinds and not kinds & {"connection_refused", "connection_reset"}, kinds
    served_during_the_hang = [r for r in result.records if r["status"] == "success" and fault < end_offset(r) < resumed]
    assert served_during_the_hang == []
    assert result.summary["Recovery Time"] == pytest.approx(resumed - fault)
    assert resumed - fault >= 5.0  # the catalogue's hang lasts 5 s
