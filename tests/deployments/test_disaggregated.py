"""The disaggregated embedded graphs: prompts go through the remote prefill queue to prefill
workers; without a prefill worker they wait, and a prefill nobody finishes times out."""

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import gevent
import pytest
import yaml

from deployments.launcher import LaunchedDeployment
from deployments.models import DEPLOYMENTS_DIR, DeploymentSpec, load_deployment
from deployments.sim.prefill_queue import CLAIM_LEASE_S
from tests.live import eventually, launched

FAST_DELAY_S = "0.2"
PREFILL_TIMEOUT_S = 1.5
#: Long enough for a killed prefill worker to be restarted while a prompt waits for it.
QUEUED_PREFILL_TIMEOUT_S = 8.0
CHAT = {"model": "sim-model", "messages": [{"role": "user", "content": "one two three four"}], "max_tokens": 4}


def fast_copy(
    directory: Path,
    name: str,
    prefill_restart: str = "always",
    prefill_timeout_s: float = PREFILL_TIMEOUT_S,
    prefill_restart_delay_s: float = 0.2,
) -> DeploymentSpec:
    """A shipped disaggregated graph with short model loading and a short prefill timeout."""
    document = yaml.safe_load((DEPLOYMENTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    for component in document["components"]:
        command = component["command"]
        if "--startup-delay-s" in command:
            command[command.index("--startup-delay-s") + 1] = FAST_DELAY_S
        if "--prefill-timeout-s" in command:
            command[command.index("--prefill-timeout-s") + 1] = str(prefill_timeout_s)
        if component["name"] == "prefill_worker":
            component["restart"] = {"policy": prefill_restart, "delay_s": prefill_restart_delay_s}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


def chat(deployment: LaunchedDeployment, timeout_s: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(
        deployment.endpoint + "/v1/chat/completions", data=json.dumps(CHAT).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def queue_metrics(deployment: LaunchedDeployment) -> str:
    (queue,) = deployment.replicas_of("prefill_queue")
    with urllib.request.urlopen(f"http://127.0.0.1:{queue.port}/metrics", timeout=2) as response:
        return response.read().decode()


def test_a_request_is_prefilled_remotely_then_decoded(tmp_path, request):
    deployment = launched(fast_copy(tmp_path, "disagg-p1-d1"), tmp_path / "run", request.addfinalizer)
    status, body = chat(deployment)
    assert status == 200
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    assert "prefill_queue_depth 0.0" in queue_metrics(deployment)


def test_without_a_prefill_worker_a_request_waits_out_the_prefill_timeout_and_fails(tmp_path, request):
    deployment = launched(fast_copy(tmp_path, "disagg-p1-d1", prefill_restart="never"), tmp_path / "run", request.addfinalizer)
    (prefill,) = deployment.replicas_of("prefill_worker")
    os.killpg(prefill.pid, signal.SIGKILL)
    started = time.monotonic()
    status, body = chat(deployment)
    waited = time.monotonic() - started
    assert status == 503
    assert "remote prefill failed: HTTP 504" in body["error"]["message"]
    assert PREFILL_TIMEOUT_S <= waited < PREFILL_TIMEOUT_S + 3


def test_with_two_prefill_workers_losing_one_costs_nothing_later(tmp_path, request):
    deployment = launched(fast_copy(tmp_path, "disagg-p2-d1", prefill_restart="never"), tmp_path / "run", request.addfinalizer)
    os.killpg(deployment.replicas_of("prefill_worker")[0].pid, signal.SIGKILL)
    statuses = [chat(deployment)[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 200]


def test_prompts_queue_while_no_prefill_worker_takes_them_and_flow_once_one_is_back(tmp_path, request):
    spec = fast_copy(tmp_path, "disagg-p1-d1", prefill_timeout_s=QUEUED_PREFILL_TIMEOUT_S, prefill_restart_delay_s=3.0)
    deployment = launched(spec, tmp_path / "run", request.addfinalizer)
    (prefill,) = deployment.replicas_of("prefill_worker")
    os.killpg(prefill.pid, signal.SIGKILL)
    queued = gevent.spawn(chat, deployment)
    # Handed to a dead worker's open request for work at worst, it is back within the lease.
    assert eventually(lambda: "prefill_queue_depth 1.0" in queue_metrics(deployment), CLAIM_LEASE_S + 2)
    status, _ = queued.get(timeout=QUEUED_PREFILL_TIMEOUT_S + 5)
    assert status == 200
    assert prefill.restarts == 1


@pytest.mark.parametrize("name", ["disagg-p1-d1", "disagg-p2-d1", "agg-dp4-exact"])
def test_the_reference_topologies_ship(name):
    spec = load_deployment(name)
    assert spec.name == name
