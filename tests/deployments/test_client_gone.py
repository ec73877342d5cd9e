"""A client that goes away takes its work with it, all the way down the embedded graph.

Each test holds its streams on raw sockets, so that closing one is a real FIN on the
frontend's connection, and reads what each layer says in its own metrics. The worker runs one
sequence at a time, slowly, so that a request left in its batch slot would visibly block the
next one for seconds.
"""

import json
import os
import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from deployments.launcher import LaunchedDeployment
from deployments.models import DEPLOYMENTS_DIR, DeploymentSpec, load_deployment
from deployments.sim.prefill_queue import CLAIM_LEASE_S
from tests.deployments.test_disaggregated import fast_copy as disaggregated_copy
from tests.deployments.test_disaggregated import queue_metrics
from tests.live import eventually, launched

DECODE_MS_PER_TOKEN = 100
MAX_TOKENS = 100  # 10 s of decoding: far longer than any wait below
#: How soon an abandonment must reach every layer; it takes milliseconds.
PROPAGATION_S = 1.0


def slow_single_slot_copy(directory: Path, name: str) -> DeploymentSpec:
    """A shipped graph whose decode workers start at once and batch one slow sequence at a time."""
    document = yaml.safe_load((DEPLOYMENTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    for component in document["components"]:
        command = component["command"]
        for option, value in (("--startup-delay-s", "0.2"), ("--max-num-seqs", "1"), ("--decode-ms-per-token", str(DECODE_MS_PER_TOKEN))):
            if option in command:
                command[command.index(option) + 1] = value
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


def open_stream(deployment: LaunchedDeployment) -> socket.socket:
    """A streaming chat request sent on a socket of its own; nothing of the answer read yet."""
    body = json.dumps({"model": "sim-model", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": MAX_TOKENS, "stream": True})
    host, port = deployment.endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    request = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    sock.sendall(request.encode())
    return sock


@pytest.fixture
def stream(request):
    """`open_stream`, each socket closed at the end of the test whatever happened."""

    def opened(deployment: LaunchedDeployment) -> socket.socket:
        sock = open_stream(deployment)
        request.addfinalizer(sock.close)
        return sock

    return opened


def first_token_within(sock: socket.socket, timeout_s: float) -> bool:
    """Whether a content token arrives on `sock` within `timeout_s`."""
    sock.settimeout(timeout_s)
    received = b""
    deadline = time.monotonic() + timeout_s
    try:
        while b'"content": "tok' not in received:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                return False
            received += chunk
    except TimeoutError:
        return False
    return True


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url, timeout=2) as response:
        page = response.read().decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", page, re.MULTILINE)
    assert match, f"{name} not in {url}"
    return float(match.group(1))


def worker_metrics_url(deployment: LaunchedDeployment) -> str:
    (worker,) = deployment.replicas_of("decode_worker")
    return f"http://127.0.0.1:{worker.port}/metrics"


@pytest.fixture
def agg(tmp_path, request) -> LaunchedDeployment:
    return launched(slow_single_slot_copy(tmp_path, "agg-dp1"), tmp_path / "run", request.addfinalizer)


def test_a_stream_whose_client_goes_frees_its_batch_slot_at_once(agg, stream):
    frontend = agg.endpoint + "/metrics"
    first = stream(agg)
    assert first_token_within(first, 5)
    waiting = stream(agg)
    assert not first_token_within(waiting, 0.5), "the single batch slot is taken"
    assert metric(frontend, "llm_requests_pending") == 1

    first.close()
    # The frontend, processor, worker and engine all let go: the waiting request gets the slot
    # now, not when the abandoned one would have finished, 10 s of decoding later.
    assert first_token_within(waiting, PROPAGATION_S + DECODE_MS_PER_TOKEN / 1000), "the abandoned stream kept its slot"
    assert eventually(lambda: metric(frontend, 'llm_requests_total{status="cancelled"}') == 1, PROPAGATION_S)
    assert metric(worker_metrics_url(agg), "llm_worker_requests_running") == 1
    waiting.close()


def test_a_request_whose_client_goes_before_its_first_token_leaves_the_queue(agg, stream):
    frontend, worker = agg.endpoint + "/metrics", worker_metrics_url(agg)
    running = stream(agg)
    assert first_token_within(running, 5)
    queued = [stream(agg) for _ in range(3)]
    assert eventually(lambda: metric(worker, "llm_worker_requests_running") == 4 and metric(frontend, "llm_requests_pending") == 3, PROPAGATION_S)

    for sock in queued:
        sock.close()
    assert eventually(lambda: metric(frontend, "llm_requests_pending") == 0 and metric(worker, "llm_worker_requests_running") == 1, PROPAGATION_S)
    assert metric(frontend, 'llm_requests_total{status="cancelled"}') == 3
    # The one left streams on, at its own pace: nothing but the abandoned ones was touched.
    assert first_token_within(running, 1)
    tokens = metric(worker, "llm_worker_generated_tokens_total")
    assert eventually(lambda: metric(worker, "llm_worker_generated_tokens_total") > tokens, 1)
    running.close()
    assert eventually(lambda: metric(worker, "llm_worker_requests_running") == 0, PROPAGATION_S)


def test_a_prompt_whose_client_goes_leaves_the_remote_prefill_queue(tmp_path, request, stream):
    spec = disaggregated_copy(tmp_path, "disagg-p1-d1", prefill_restart="never", prefill_timeout_s=30)
    deployment = launched(spec, tmp_path / "run", request.addfinalizer)
    (prefill,) = deployment.replicas_of("prefill_worker")
    os.killpg(prefill.pid, signal.SIGKILL)
    waiting = stream(deployment)
    # Handed to the dead worker's open request for work at worst, it is back within the lease.
    assert eventually(lambda: "prefill_queue_depth 1.0" in queue_metrics(deployment), CLAIM_LEASE_S + 2)

    waiting.close()
    assert eventually(lambda: "prefill_queue_depth 0.0" in queue_metrics(deployment), PROPAGATION_S)
    assert eventually(lambda: metric(deployment.endpoint + "/metrics", "llm_requests_pending") == 0, PROPAGATION_S)
