"""Targets chosen by state, on a real launched graph: `busiest` reads each worker's own
`/metrics` at the moment of the fault and takes the one holding the most requests,
`holding_oldest_request` the one whose oldest live request is oldest."""

import json
import urllib.request

import gevent
import pytest

from chaos.models import parse_injection
from chaos.targets import resolve
from tests.chaos.live import TWO_WORKERS, fast_copy
from tests.live import eventually, launched

THREE_WORKERS = {**TWO_WORKERS, "replicas": 3}


@pytest.fixture
def dp3(tmp_path, request):
    return launched(fast_copy(tmp_path, **THREE_WORKERS), tmp_path / "run", request.addfinalizer)


def hold_requests(worker, count: int, max_tokens: int = 400) -> list[gevent.Greenlet]:
    """`count` long generations straight to one worker, read slowly to their end."""

    def generate() -> None:
        body = json.dumps({"prompt_tokens": 8, "max_tokens": max_tokens}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{worker.port}/generate", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()

    return [gevent.spawn(generate) for _ in range(count)]


def chosen(deployment, select: str, **extra) -> tuple[int, str]:
    injection = parse_injection({"at_s": 0, "target": {"role": "decode_worker"}, "select": select, **extra}, 0)
    (target,) = resolve(deployment, injection).targets
    return target.replica.index, target.chosen_because


def in_flight(deployment, index: int) -> float | None:
    return deployment.replica_metric(deployment.replicas_of("decode_worker")[index], "llm_worker_requests_running")


def test_busiest_takes_the_worker_holding_most_requests_now(dp3):
    workers = dp3.replicas_of("decode_worker")
    random_pick = chosen(dp3, "random")[0]
    loaded = (random_pick + 1) % 3  # not the one a seeded random choice would take
    holders = hold_requests(workers[loaded], 3) + hold_requests(workers[(loaded + 1) % 3], 1)
    try:
        assert eventually(lambda: in_flight(dp3, loaded) == 3)
        index, because = chosen(dp3, "busiest")
        assert index == loaded
        assert because.startswith("select busiest: llm_worker_requests_running ")
        assert f"{workers[loaded].name}=3" in because
    finally:
        gevent.killall(holders)


def test_holding_oldest_request_takes_the_worker_with_the_oldest_live_request(dp3):
    workers = dp3.replicas_of("decode_worker")
    first = hold_requests(workers[2], 1)
    try:
        assert eventually(lambda: in_flight(dp3, 2) == 1)
        gevent.sleep(0.3)
        later = hold_requests(workers[0], 3)  # busier, but younger
        assert eventually(lambda: in_flight(dp3, 0) == 3)
        assert chosen(dp3, "holding_oldest_request")[0] == 2
        assert chosen(dp3, "busiest")[0] == 0
    finally:
        gevent.killall(first + later)


def test_a_role_without_metrics_cannot_be_chosen_by_state(tmp_path, request):
    spec = fast_copy(tmp_path, **TWO_WORKERS, metrics=None)
    deployment = launched(spec, tmp_path / "run", request.addfinalizer)
    injection = parse_injection({"at_s": 0, "target": {"role": "decode_worker"}, "select": "busiest"}, 0)
    resolution = resolve(deployment, injection)
    assert resolution.targets == [] and resolution.not_applicable == "component 'decode_worker' declares no metrics.in_flight to select the busiest by"
