"""dynamo-agg and dynamo-agg-migration × decode_worker, launched by the suite: what request
migration buys, counted by the suite from what the clients saw."""

from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import RunResult, run_locust, wait_for_no_tagged_processes

pytestmark = [pytest.mark.e2e, pytest.mark.dynamo]

CLIENTS, REQUESTS = 8, 20
MAX_TOKENS = 32  # the default; the no-replay run relies on it
LOAD = ["--clients", str(CLIENTS), "--requests-per-client", str(REQUESTS), "--max-tokens", str(MAX_TOKENS), "--fault-at", "2"]
#: What a complete results directory holds, besides client_<i>.jsonl and per-component logs.
RUN_FILES = {
    "run.json", "events.csv", "requests.csv", "watcher.csv", "processes.csv", "test.log.txt",
    "summary.csv", "summary.json", "summary.md", "report.html",
}  # fmt: skip
COMPONENT_LOGS = {"event_broker", "frontend", "decode_worker_0", "decode_worker_1"}


def run_dynamo(tmp_path_factory, deployment: str, *options: str) -> RunResult:
    directory = tmp_path_factory.mktemp(deployment)
    result = run_locust(directory, "--deployment", deployment, *options, timeout_s=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not wait_for_no_tagged_processes(result.tag, 15), "processes left after the run"
    return result


@pytest.fixture(scope="module")
def without_migration(dynamo, tmp_path_factory) -> RunResult:
    return run_dynamo(tmp_path_factory, "dynamo-agg", "--failure", "decode_worker", *LOAD)


@pytest.fixture(scope="module")
def with_migration(dynamo, tmp_path_factory) -> RunResult:
    return run_dynamo(tmp_path_factory, "dynamo-agg-migration", "--failure", "decode_worker", *LOAD)


def test_without_migration_error_events_inside_200_streams_count_as_failures(without_migration):
    records = without_migration.records
    failed = [r for r in records if r["status"] == "failure"]
    in_200 = [r for r in failed if r["http_status"] == 200 and r["error_kind"] == "stream_error"]
    assert in_200, sorted({(r["http_status"], r["error_kind"]) for r in failed})
    assert all("Service temporarily unavailable" in r["error"] for r in in_200)
    summary = without_migration.summary
    assert summary["Failed"] == len(failed) and summary["Success"] == len(records) - len(failed)
    assert "stream_error=" in summary["Error Breakdown"]


def test_with_migration_at_most_one_percent_of_requests_fail(with_migration):
    records = with_migration.records
    assert len(records) == CLIENTS * REQUESTS
    assert sum(r["status"] == "failure" for r in records) <= 0.01 * len(records)
    # A migrated stream starts its replay trace again on the new worker: more tokens than asked.
    assert any(r["output_tokens"] > MAX_TOKENS for r in records), "no stream was migrated"


@pytest.mark.parametrize("run", ["without_migration", "with_migration"])
def test_the_results_directory_is_complete(run, request):
    result: RunResult = request.getfixturevalue(run)
    names = {p.name for p in result.run_dir.iterdir()}
    assert RUN_FILES <= names, RUN_FILES - names
    assert COMPONENT_LOGS <= names, COMPONENT_LOGS - names
    assert len(list(result.run_dir.glob("client_*.jsonl"))) == CLIENTS
    assert len(result.records) == CLIENTS * REQUESTS

    kinds = [(e["kind"], e["component"]) for e in result.events]
    assert kinds.count(("fault", "decode_worker")) == 1
    fault_at = next(i for i, k in enumerate(kinds) if k[0] == "fault")
    assert ("restart", "decode_worker") in kinds[fault_at:] and ("ready", "decode_worker") in kinds[fault_at:]
    summary = result.summary
    assert summary["Recovery Time"] is not None and summary["Startup Time"] is not None
    # Replay traces stream one token per chunk: TTFT and inter-token latency are measured.
    assert summary["TTFT p50 Before (ms)"] > 0 and summary["ITL p50 Before (ms)"] > 0
    assert summary["Pending Before"] is not None  # dynamo_frontend_queued_requests, scraped
    report = (result.run_dir / "report.html").read_text()
    assert "decode_worker" in report and "not measured" not in report


def test_without_replay_ttft_is_reported_as_not_measured_never_as_zero(dynamo, tmp_path):
    # dynamo-agg with no replay id: the mocker streams a role chunk and a finish chunk only.
    path = tmp_path / "dynamo-agg-no-replay.yaml"
    path.write_text(yaml.safe_dump({"extends": "dynamo-agg", "name": "dynamo-agg-no-replay", "request": {"extra_body": {"nvext": {"annotations": []}}}}))
    result = run_locust(tmp_path, "--deployment", str(path), "--failure", "none", "--clients", "2", "--requests-per-client", "3", timeout_s=120)
    assert result.returncode == 0, result.stderr[-3000:]
    records = result.records
    assert len(records) == 6 and all(r["status"] == "success" for r in records)
    assert all(r["ttft_s"] is None and r["itl_s"] == [] for r in records)
    assert all(r["output_tokens"] == MAX_TOKENS for r in records)  # from usage, not from chunks
    summary = result.summary
    assert summary["TTFT p50 Before (ms)"] is None and summary["ITL p50 Before (ms)"] is None
    assert "TTFT and inter-token latency were not measured" in (result.run_dir / "report.html").read_text()


def test_a_dynamo_deployment_without_the_backend_is_one_line_and_exit_2(tmp_path):
    empty_cache = tmp_path / "cache"
    result = run_locust(tmp_path, "--deployment", "dynamo-agg", env_extra={"FAULTSUITE_CACHE": str(empty_cache)}, timeout_s=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the Dynamo backend is not installed in {empty_cache / 'dynamo-1.6.1'}: "
        "run `python -m deployments.dynamo install` (about 700 MB, 1 minute)"
    )
    assert not Path(tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_disaggregated_losing_the_only_prefill_worker_fails_new_requests_until_it_is_back(dynamo, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, "dynamo-disagg", "--failure", "prefill_worker", "--clients", "4", "--requests-per-client", "20", "--fault-at", "2")
    records = result.records
    failed = [r for r in records if r["status"] == "failure"]
    # Nothing else prefills: requests that arrive while it is gone are refused at once.
    assert failed and all(r["http_status"] == 503 for r in failed), sorted({(r["http_status"], r["error_kind"]) for r in failed})
    kinds = [(e["kind"], e["component"]) for e in result.events]
    assert ("fault", "prefill_worker") in kinds and ("ready", "prefill_worker") in kinds[kinds.index(("fault", "prefill_worker")):]
    last_failure = max(r["end_time"] for r in failed)
    assert any(r["status"] == "success" and r["start_time"] > last_failure for r in records), "requests did not succeed again"
    assert result.summary["TTFT p50 Before (ms)"] > 0  # replay streams through prefill then decode
