"""Attach mode against a Dynamo stack started by hand: the right pid is signalled, nothing else."""

import uuid
from pathlib import Path

import pytest
import yaml

from deployments.attached import matching_processes
from tests.dynamo.by_hand import alive, start_dynamo_by_hand
from tests.e2e.harness import run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.dynamo]


@pytest.fixture
def stack(dynamo, tmp_path):
    stack = start_dynamo_by_hand(dynamo, tmp_path / "by-hand", model_name=f"by-hand-{uuid.uuid4().hex[:8]}")
    try:
        yield stack
    finally:
        stack.stop()


def attach_file(directory, stack) -> str:
    port = stack.endpoint.rsplit(":", 1)[1]
    document = {
        "kind": "attach",
        "name": "dynamo-by-hand",
        "model": stack.model_name,
        "endpoint": stack.endpoint,
        "metrics": {"url": stack.endpoint + "/metrics", "pending": "dynamo_frontend_queued_requests"},
        "request": {"extra_body": {"nvext": {"annotations": ["output_replay_id:tokens_{max_tokens}"]}}},
        "select_from": "host",
        "processes": {
            "frontend": {"match": rf"-m dynamo\.frontend .*--http-port {port}\b", "count": 1},
            "decode_worker": {"match": rf"-m dynamo\.mocker .*--model-name {stack.model_name}\b", "count": 2},
        },
    }
    path = directory / "dynamo-by-hand.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_attach_signals_one_mocker_by_pid_and_leaves_the_rest_of_the_stack_running(tmp_path, stack):
    worker_pids = {w.pid for w in stack.workers}
    # The decoy is what a careless selector would take: it names the mocker and the model.
    assert stack.decoy.pid in {p.pid for p in matching_processes(rf"dynamo\.mocker.*{stack.model_name}")}

    result = run_locust(
        tmp_path, "--deployment", attach_file(tmp_path, stack), "--failure", "decode_worker",
        "--fault-at", "2", "--clients", "4", "--requests-per-client", "15", timeout_s=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]

    attached = {(e["component"], int(e["pid"])) for e in result.events if e["kind"] == "attach"}
    assert attached == {("frontend", stack.frontend.pid), *(("decode_worker", pid) for pid in worker_pids)}
    faults = [e for e in result.events if e["kind"] == "fault"]
    assert len(faults) == 1
    fault = faults[0]
    assert int(fault["pid"]) in worker_pids and fault["signal"] == "SIGKILL" and fault["outcome"] == "delivered"
    assert "its own process only" in fault["detail"]  # never the process group

    killed = next(w for w in stack.workers if w.pid == int(fault["pid"]))
    assert killed.wait(timeout=10) == -9
    # Everything else shares the killed worker's process group, and still runs.
    survivors = [p for p in stack.everything if p is not killed]
    assert all(alive(p) for p in survivors), [(p.args[:4], p.poll()) for p in survivors]
    assert not [e for e in result.events if e["kind"] == "stop"], "attach mode tore something down"

    records = result.records
    assert len(records) == 4 * 15
    assert sum(r["status"] == "success" for r in records) >= 50  # the other worker carried the load
    assert result.summary["Failure"] == "decode_worker" and result.summary["Failed"] == 60 - result.summary["Success"]


def test_an_attach_selector_that_matches_nothing_is_one_line_and_exit_2(tmp_path, stack):
    path = attach_file(tmp_path, stack)
    document = yaml.safe_load(Path(path).read_text())
    document["processes"]["decode_worker"]["match"] = r"-m dynamo\.mocker .*--model-name no-such-model\b"
    Path(path).write_text(yaml.safe_dump(document))

    result = run_locust(tmp_path, "--deployment", path, "--failure", "decode_worker", "--clients", "1", "--requests-per-client", "1", timeout_s=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {path}: processes.decode_worker: no process of this user matches '-m dynamo\\\\.mocker .*--model-name no-such-model\\\\b'"]
    assert "Traceback" not in result.stderr
    assert all(alive(p) for p in stack.everything)
