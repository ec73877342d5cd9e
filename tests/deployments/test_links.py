"""Declared links: the file's `links`, how the launcher routes each caller through the fault
proxy, and network faults acting through the deployment (launched and attached), with their
`fault` and `heal` events."""

import subprocess
import sys
import uuid

import gevent
import pytest

from chaos.models import load_catalogue, parse_injection
from chaos.injector import FaultScheduler
from chaos.targets import resolve
from deployments.attached import AttachedDeployment
from deployments.launcher import LaunchedDeployment
from deployments.models import load_deployment
from deployments.ports import free_port
from faultsuite.bounded_http import fetch
from faultsuite.clock import RunClock
from faultsuite.events import EventKind, EventLog, FaultOutcome, TargetScope
from faultsuite.yamlfile import KeyPathError
from tests.deployments.files import rejection, write_yaml
from tests.live import STUB_ENDPOINT_SCRIPT, end_started, eventually, launched

TWO_ROLES = {
    "name": "two",
    "model": "m",
    "endpoint": "{urls[front]}",
    "components": [
        {"name": "back", "replicas": 2, "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"], "ready": {"http": "http://{host}:{port}/"}},
        {
            "name": "front",
            "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}", "{urls[back]}"],
            "env": {"BACK_URLS": "{urls[back]}"},
            "ready": {"http": "http://{host}:{port}/"},
            "depends_on": ["back"],
        },
    ],
}


def with_links(*links: tuple[str, str], **overrides) -> dict:
    return {**TWO_ROLES, "links": [{"caller": caller, "callee": callee} for caller, callee in links], **overrides}


@pytest.fixture
def events(tmp_path, request) -> EventLog:
    log = EventLog(tmp_path / "run" / "events.csv", RunClock())
    request.addfinalizer(log.close)
    return log


# -- the file -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ([("front", "ghost")], "links.0.callee: names no component; components: back, front"),
        ([("ghost", "back")], "links.0.caller: names no caller; callers: client, back, front"),
        ([("back", "back")], "links.0: a link joins two roles, not 'back' to itself"),
        ([("front", "back"), ("front", "back")], "links.1: link front -> back is declared twice"),
        ([("back", "front")], "links.0: component 'back' never uses {urls[front]}: the link would carry nothing"),
        ([("client", "back")], "links.0: the endpoint never uses {urls[back]}: the link would carry nothing"),
    ],
)
def test_a_link_that_cannot_carry_traffic_is_refused_in_one_line(tmp_path, links, message):
    assert message in rejection(write_yaml(tmp_path, with_links(*links), "links.yaml"))


def test_an_attached_deployment_links_only_its_clients_to_an_http_endpoint(tmp_path):
    attach = {"kind": "attach", "name": "a", "model": "m", "endpoint": "http://127.0.0.1:8000", "select_from": "host", "processes": {"frontend": {"match": "x"}}}
    assert "links.0.caller: names no caller; callers: client" in rejection(
        write_yaml(tmp_path, {**attach, "links": [{"caller": "frontend", "callee": "frontend"}]}, "a.yaml")
    )
    https = {**attach, "endpoint": "https://127.0.0.1:8000", "links": [{"caller": "client", "callee": "frontend"}]}
    assert "links.0: an https endpoint cannot be proxied" in rejection(write_yaml(tmp_path, https, "b.yaml"))


def test_a_network_fault_takes_a_role_not_a_child_and_only_its_own_fields():
    base = {"kind": "partition", "at_s": 1, "caller": "processor", "duration_s": 2}
    with pytest.raises(KeyPathError, match="target takes no child or leader_only"):
        parse_injection({**base, "target": {"role": "decode_worker", "child": "engine"}}, 0)
    with pytest.raises(KeyPathError, match="unknown key") as caught:
        parse_injection({**base, "target": {"role": "decode_worker"}, "ms": 3}, 0)
    assert caught.value.path == (0, "ms")
    latency = parse_injection({**base, "kind": "latency", "target": {"role": "w"}, "ms": 5, "jitter_ms": 1}, 0)
    assert latency.toxic() == {"kind": "latency", "ms": 5.0, "jitter_ms": 1.0}
    assert latency.link_caller == "processor" and latency.action == "latency"


# -- the launcher ---------------------------------------------------------------------------


def test_each_caller_sees_its_links_through_the_proxy_and_nothing_else_does(tmp_path, events):
    spec = load_deployment(str(write_yaml(tmp_path, with_links(("client", "front"), ("front", "back")), "links.yaml")))
    deployment = LaunchedDeployment(spec, tmp_path / "run", events)
    links = deployment.links
    assert links is not None and [r.name for r in links.routes] == ["client.front.0", "front.back.0", "front.back.1"]
    back = deployment.replicas_of("back")
    direct = ",".join(f"http://127.0.0.1:{r.port}" for r in back)
    proxied = ",".join(links.url_of(r) for r in links.routes_between("front", "back"))
    assert [r.upstream_port for r in links.routes_between("front", "back")] == [r.port for r in back]
    (front,) = deployment.replicas_of("front")
    assert deployment.render("{urls[back]}", front, "front") == proxied != direct
    assert deployment.render("{urls[back]}") == direct, "the suite's own probes and scrapes never cross a link"
    assert deployment.render("{urls[back]}", back[0], "back") == direct
    assert deployment.endpoint == links.url_of(links.routes[0])
    assert links.routes[0].upstream_port == front.port


def test_a_fault_on_a_launched_link_acts_through_the_proxy_then_heals(tmp_path, request):
    spec = load_deployment(str(write_yaml(tmp_path, with_links(("client", "front")), "links.yaml")))
    deployment = launched(spec, tmp_path / "run", request.addfinalizer)
    proxy_pid = deployment.links.pid
    assert [e.kind for e in deployment.events.events if e.component == "fault_proxy"] == [EventKind.LAUNCH]
    reset = parse_injection({"kind": "reset", "at_s": 0, "caller": "client", "target": {"role": "front"}, "duration_s": 1}, 0)
    assert resolve(deployment, reset).targets[0].pid == proxy_pid
    scheduler = FaultScheduler("front_reset", load_catalogue().failures["none"], deployment, RunClock())
    injecting = gevent.spawn(scheduler.inject, reset, 0.0)
    assert eventually(lambda: any(e.kind == EventKind.FAULT for e in deployment.events.events))
    with pytest.raises(ConnectionResetError):
        fetch(deployment.endpoint + "/", 2)
    injecting.join(5)
    assert fetch(deployment.endpoint + "/", 2)[0] == 200, "healed"
    fault, heal = [e for e in deployment.events.events if e.kind in (EventKind.FAULT, EventKind.HEAL)]
    assert (fault.kind, fault.outcome, fault.scope, fault.link_from, fault.instance, fault.pid) == (EventKind.FAULT, FaultOutcome.DELIVERED, TargetScope.LINK, "client", "front_0", proxy_pid)
    assert heal.kind == EventKind.HEAL and not heal.teardown and "reset=1" in heal.detail
    deployment.down()
    assert not deployment.links.alive()
    assert (tmp_path / "run" / "fault_proxy" / "counters.json").exists()


def test_a_link_the_deployment_does_not_declare_is_not_applicable(tmp_path, events):
    spec = load_deployment(str(write_yaml(tmp_path, with_links(("client", "front")), "links.yaml")))
    deployment = LaunchedDeployment(spec, tmp_path / "run", events)
    partition = parse_injection({"kind": "partition", "at_s": 0, "caller": "front", "target": {"role": "back"}, "duration_s": 1}, 0)
    assert resolve(deployment, partition).not_applicable == "deployment two declares no link front -> back"


# -- attached -------------------------------------------------------------------------------


def test_an_attached_endpoint_is_reached_through_the_proxy_when_linked(tmp_path, request):
    token = f"attach-link-{uuid.uuid4().hex}"
    port = free_port()
    stub = subprocess.Popen([sys.executable, "-c", STUB_ENDPOINT_SCRIPT, "127.0.0.1", str(port), token])
    request.addfinalizer(lambda: end_started([stub]))
    assert eventually(lambda: _answers(f"http://127.0.0.1:{port}/"), 10)
    attach = {
        "kind": "attach", "name": "a", "model": "m", "endpoint": f"http://127.0.0.1:{port}/v1", "select_from": "host",
        "processes": {"frontend": {"match": token}}, "links": [{"caller": "client", "callee": "frontend"}],
    }  # fmt: skip
    spec = load_deployment(str(write_yaml(tmp_path, attach, "a.yaml")))
    events = EventLog(tmp_path / "run" / "events.csv", RunClock())
    request.addfinalizer(events.close)
    deployment = AttachedDeployment(spec, events, "a.yaml", run_dir=tmp_path / "run")
    request.addfinalizer(deployment.down)
    deployment.up()
    route = deployment.links.routes[0]
    assert deployment.endpoint == f"http://127.0.0.1:{route.listen_port}/v1" and route.upstream_port == port
    (target,) = deployment.link_targets("client", "frontend")
    assert deployment.put_toxic(target, {"kind": "reset"})[0] == FaultOutcome.DELIVERED
    with pytest.raises(ConnectionResetError):
        fetch(deployment.endpoint, 2)
    outcome, counters = deployment.heal_link(target)
    assert outcome == FaultOutcome.DELIVERED and counters["reset"] == 1
    assert fetch(deployment.endpoint, 2)[0] == 200
    deployment.down()
    assert not deployment.links.alive() and stub.poll() is None, "the proxy ends; the attached process is its owner's"


def _answers(url: str) -> bool:
    try:
        return fetch(url, 1)[0] == 200
    except OSError:
        return False
