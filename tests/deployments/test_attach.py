"""Attach mode (`kind: attach`): the file's model, finding someone else's processes by command
line, the checks before attaching, and re-matching as processes come and go. The "someone
else's" processes are sleepers this test starts, each carrying a token unique to the test."""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from chaos.injector import FaultScheduler
from chaos.kinds import SignalInjection
from chaos.plan import describe_plan
from chaos.models import Failure, Target
from chaos.targets import resolve
from deployments.attached import AttachedDeployment, check_attachable, matching_processes
from deployments.models import AttachSpec, load_deployment
from deployments.ports import free_port
from faultsuite.clock import RunClock
from faultsuite.errors import ConfigError
from faultsuite.events import EventLog
from tests.deployments.files import rejection, write_yaml
from tests.live import end_started, eventually, is_running

SLEEP_SCRIPT = "import time; time.sleep(60)"
#: A process with a child of its own, like a worker and its engine; argv[2] is the child's
#: argument. On SIGTERM it ends and reaps its child, then exits.
PARENT_SCRIPT = """\
import signal, subprocess, sys, time
children = []
def stop(*_):
    for child in children:
        child.kill()
        child.wait()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
children.append(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', sys.argv[2]]))
time.sleep(60)
"""
CREATE_TIME_TICK_S = 0.05  # create_time has a resolution of a clock tick (10 ms)


def attach_document(**overrides) -> dict:
    base = {
        "kind": "attach",
        "name": "by-hand",
        "model": "m",
        "endpoint": "http://127.0.0.1:8000",
        "select_from": "host",
        "processes": {"worker": {"match": "worker-token"}},
    }
    return {**base, **overrides}


def write(directory: Path, data: dict) -> Path:
    return write_yaml(directory, data, "attach.yaml")


# -- the file -------------------------------------------------------------------------------


def test_an_attach_file_loads_as_an_attach_spec(tmp_path):
    data = attach_document(
        metrics={"url": "http://127.0.0.1:8000/metrics", "pending": "queued"},
        request={"extra_body": {"id": "tokens_{max_tokens}"}},
        processes={"frontend": {"match": r"-m dynamo\.frontend", "count": 1}, "worker": {"match": "mocker", "children": {"engine": {"match": "engine"}}}},
    )
    spec = load_deployment(str(write(tmp_path, data)))
    assert isinstance(spec, AttachSpec)
    assert spec.roles == ["frontend", "worker"]
    assert spec.processes["frontend"].count == 1
    assert list(spec.children_of("worker")) == ["engine"]
    assert spec.children_of("frontend") == {} and spec.children_of("ghost") == {}
    assert spec.backends == set()
    assert spec.request.body_for(5) == {"id": "tokens_5"}


def test_an_endpoint_is_not_a_template_in_an_attach_file(tmp_path):
    spec = load_deployment(str(write(tmp_path, attach_document(endpoint="http://{host}:1"))))
    assert spec.endpoint == "http://{host}:1"


def test_select_from_is_required(tmp_path):
    data = attach_document()
    del data["select_from"]
    path = write(tmp_path, data)
    assert rejection(path) == f"{path}: select_from: field required"


def test_select_from_must_be_host(tmp_path):
    path = write(tmp_path, attach_document(select_from="everywhere"))
    assert rejection(path) == f"{path}: select_from: input should be 'host'"


def test_an_unknown_key_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(components=[]))
    assert rejection(path) == f"{path}: components: unknown key"


def test_an_unknown_selector_key_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes={"worker": {"match": "x", "pid": 12}}))
    assert rejection(path) == f"{path}: processes.worker.pid: unknown key"


def test_an_invalid_selector_regex_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes={"worker": {"match": "mocker("}}))
    assert rejection(path).startswith(f"{path}: processes.worker.match: invalid regular expression: missing ), unterminated subpattern")


def test_empty_processes_are_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes={}))
    assert rejection(path).startswith(f"{path}: processes: dictionary should have at least 1 item")


def test_a_zero_count_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes={"worker": {"match": "x", "count": 0}}))
    assert rejection(path) == f"{path}: processes.worker.count: input should be greater than or equal to 1"


def test_a_bad_role_name_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes={"Worker": {"match": "x"}}))
    assert rejection(path).startswith(f"{path}: processes.Worker.[key]: string should match pattern")


def test_an_unknown_kind_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(kind="bogus"))
    assert rejection(path) == f"{path}: kind: unknown kind 'bogus'; known: launch, attach"


# -- fault agents (hosts:) ------------------------------------------------------------------

TWO_ROLES = {"worker": {"match": "worker-token"}, "router": {"match": "router-token"}}


def test_hosts_give_roles_to_agents_and_this_host_keeps_the_rest(tmp_path):
    spec = load_deployment(str(write(tmp_path, attach_document(processes=TWO_ROLES, hosts={"gpu-node-1": ["worker"]}))))
    assert (spec.agent_of("worker"), spec.agent_of("router")) == ("gpu-node-1", None)
    assert spec.here().roles == ["router"]
    owned = spec.owned_by("gpu-node-1")
    assert (owned.roles, owned.hosts, owned.links) == (["worker"], {}, [])


def test_hosts_naming_an_unknown_role_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(hosts={"gpu-node-1": ["engine"]}))
    assert rejection(path) == f"{path}: hosts.gpu-node-1.0: names no role of processes; roles: worker"


def test_a_role_given_to_two_agents_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(processes=TWO_ROLES, hosts={"a": ["worker"], "b": ["router", "worker"]}))
    assert rejection(path) == f"{path}: hosts.b.1: role 'worker' is already a's: one agent owns a role"


def test_an_agent_name_that_is_no_host_name_is_rejected(tmp_path):
    path = write(tmp_path, attach_document(hosts={"gpu node": ["worker"]}))
    assert rejection(path).startswith(f"{path}: hosts.gpu node.[key]: string should match pattern")



# -- live processes -------------------------------------------------------------------------


@pytest.fixture
def token() -> str:
    return f"unique-token-{uuid.uuid4().hex}"


@pytest.fixture
def start(request):
    """Starts a sleeper (or a parent with a child) carrying `args` on its command line; every
    process started is ended by pid afterwards (SIGTERM: a parent then ends its own child)."""
    started: list[subprocess.Popen] = []
    request.addfinalizer(lambda: end_started(started))

    def make(*args: str, script: str = SLEEP_SCRIPT) -> subprocess.Popen:
        popen = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.DEVNULL)
        started.append(popen)
        time.sleep(CREATE_TIME_TICK_S)  # the next one is strictly younger
        return popen

    return make


def test_matching_processes_finds_every_match_oldest_first(start, token):
    first, second = start(token), start(token)
    start(f"other-{uuid.uuid4().hex}")
    found = matching_processes(re.escape(token))
    assert [p.pid for p in found] == [first.pid, second.pid]


def test_matching_processes_finds_nothing_for_an_unmatched_pattern(token):
    assert matching_processes(re.escape(token)) == []


def test_matching_processes_never_returns_the_suite_or_its_ancestors(start, token):
    child = start(token)
    me = psutil.Process()
    lines = [" ".join(p.cmdline()) for p in [me, *me.parents()] if p.uids().real == os.getuid()]
    pattern = "|".join([re.escape(token), *(re.escape(line) for line in lines if line)])
    assert re.search(pattern, " ".join(me.cmdline()))  # the pattern does match the suite's own line
    pids = [p.pid for p in matching_processes(pattern)]
    assert child.pid in pids
    assert os.getpid() not in pids
    assert os.getppid() not in pids
    assert not {p.pid for p in me.parents()} & set(pids)


# -- check_attachable -----------------------------------------------------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    """Each `endpoint` serves a subclass of its own, with its own `models_status` and `posted`."""

    models_status: ClassVar[int] = 200
    posted: ClassVar[list[dict]] = []

    def do_GET(self):
        self._answer(self.models_status if self.path == "/v1/models" else 404, b"{}")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).posted.append({"path": self.path, "body": json.loads(body)})
        self._answer(200, b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(request):
    """Serves a stub OpenAI endpoint on loopback; the URL, with its `models_status` settable."""

    def serve(models_status: int = 200) -> tuple[str, type[_Stub]]:
        handler = type("Stub", (_Stub,), {"models_status": models_status, "posted": []})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()

        request.addfinalizer(stop)
        return f"http://127.0.0.1:{server.server_address[1]}", handler

    return serve


def attach_spec(endpoint_url: str, processes: dict, **overrides) -> AttachSpec:
    return AttachSpec.model_validate(attach_document(endpoint=endpoint_url, processes=processes, **overrides))


def test_an_unreachable_endpoint_cannot_be_attached(start, token):
    start(token)
    url = f"http://127.0.0.1:{free_port()}"
    spec = attach_spec(url, {"worker": {"match": re.escape(token)}})
    with pytest.raises(ConfigError) as caught:
        check_attachable(spec, "by-hand.yaml")
    message = str(caught.value)
    assert message.startswith(f"by-hand.yaml: endpoint {url} unreachable (")
    assert message.endswith(")") and "\n" not in message


@pytest.mark.parametrize("status", [200, 404])
def test_an_endpoint_that_answers_is_reachable_whatever_its_status(endpoint, start, token, status):
    start(token)
    url, _ = endpoint(status)
    check_attachable(attach_spec(url, {"worker": {"match": re.escape(token), "count": 1}}), "by-hand.yaml")


def test_a_selector_matching_nothing_cannot_be_attached(endpoint, token):
    url, _ = endpoint()
    pattern = re.escape(token)
    with pytest.raises(ConfigError) as caught:
        check_attachable(attach_spec(url, {"worker": {"match": pattern}}), "by-hand.yaml")
    assert str(caught.value) == f"by-hand.yaml: processes.worker: no process of this user matches {pattern!r}"


def test_a_selector_matching_fewer_than_its_count_cannot_be_attached(endpoint, start, token):
    url, _ = endpoint()
    only = start(token)
    pattern = re.escape(token)
    with pytest.raises(ConfigError) as caught:
        check_attachable(attach_spec(url, {"worker": {"match": pattern, "count": 2}}), "by-hand.yaml")
    assert str(caught.value) == f"by-hand.yaml: processes.worker: expected 2 processes matching {pattern!r}, found 1 (pids {only.pid})"


def test_a_selector_matching_more_than_its_count_cannot_be_attached(endpoint, start, token):
    url, _ = endpoint()
    first, second = start(token), start(token)
    pattern = re.escape(token)
    with pytest.raises(ConfigError) as caught:
        check_attachable(attach_spec(url, {"worker": {"match": pattern, "count": 1}}), "by-hand.yaml")
    assert str(caught.value) == f"by-hand.yaml: processes.worker: expected 1 processes matching {pattern!r}, found 2 (pids {first.pid}, {second.pid})"


# -- AttachedDeployment ---------------------------------------------------------------------


@pytest.fixture
def attach(tmp_path, request):
    """An AttachedDeployment of `processes` at `url`, its events in tmp_path."""

    def make(processes: dict, url: str = "http://127.0.0.1:1", **overrides) -> AttachedDeployment:
        events = EventLog(tmp_path / "run" / "events.csv", RunClock())
        request.addfinalizer(events.close)
        return AttachedDeployment(attach_spec(url, processes, **overrides), events, "by-hand.yaml")

    return make


def events_of(deployment: AttachedDeployment, kind: str) -> list:
    return [e for e in deployment.events.events if e.kind == kind]


def test_rescan_attaches_every_matched_process_with_an_event(attach, start, token):
    first, second = start(token), start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()
    assert [(r.name, r.pid, r.state) for r in deployment.replicas_of("worker")] == [
        ("worker_0", first.pid, "ready"),
        ("worker_1", second.pid, "ready"),
    ]
    attached = [(e.component, e.replica, e.pid, e.outcome) for e in events_of(deployment, "attach")]
    assert attached == [("worker", 0, first.pid, "matched"), ("worker", 1, second.pid, "matched")]
    assert token in events_of(deployment, "attach")[0].detail


def test_a_second_rescan_attaches_nothing_new(attach, start, token):
    start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()
    deployment.rescan()
    assert len(deployment.replicas_of("worker")) == 1
    assert len(events_of(deployment, "attach")) == 1


def test_replicas_are_matched_on_first_look(attach, start, token):
    only = start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    assert [r.pid for r in deployment.replicas] == [only.pid]


def test_each_role_gets_its_own_replicas(attach, start, token):
    worker, frontend = start(f"worker-{token}"), start(f"frontend-{token}")
    deployment = attach({"worker": {"match": f"worker-{token}"}, "frontend": {"match": f"frontend-{token}"}})
    deployment.rescan()
    assert [(r.name, r.pid) for r in deployment.replicas_of("worker")] == [("worker_0", worker.pid)]
    assert [(r.name, r.pid) for r in deployment.replicas_of("frontend")] == [("frontend_0", frontend.pid)]


def test_a_matched_process_that_is_gone_is_marked_exited_and_a_new_one_becomes_the_next_replica(attach, start, token):
    first, second = start(token), start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()

    first.kill()
    first.wait()
    deployment.rescan()
    replicas = deployment.replicas_of("worker")
    assert [(r.index, r.state) for r in replicas] == [(0, "exited"), (1, "ready")]
    exits = [(e.component, e.replica, e.pid, e.outcome) for e in events_of(deployment, "exit")]
    assert exits == [("worker", 0, first.pid, "gone")]

    third = start(token)
    deployment.rescan()
    replicas = deployment.replicas_of("worker")
    assert [(r.index, r.pid, r.state) for r in replicas] == [(0, first.pid, "exited"), (1, second.pid, "ready"), (2, third.pid, "ready")]
    last = events_of(deployment, "attach")[-1]
    assert (last.replica, last.pid) == (2, third.pid)
    assert len(events_of(deployment, "exit")) == 1  # the gone one is reported once


def test_an_attached_deployment_signals_pids_never_groups(attach):
    assert AttachedDeployment.signals_groups is False
    assert attach({"worker": {"match": "x"}}).signals_groups is False


def test_chaos_resolves_an_attached_role_to_its_leaders_only(attach, start, token):
    first, second = start(token), start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()
    injection = SignalInjection(at_s=0, target=Target(role="worker"), count=2)
    resolution = resolve(deployment, injection)
    assert {(t.pid, t.scope) for t in resolution.targets} == {(first.pid, "leader"), (second.pid, "leader")}


def test_chaos_skips_an_attached_process_that_is_gone(attach, start, token):
    first, second = start(token), start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()
    first.kill()
    first.wait()
    deployment.rescan()
    resolution = resolve(deployment, SignalInjection(at_s=0, target=Target(role="worker"), count=2))
    assert [(t.pid, t.scope) for t in resolution.targets] == [(second.pid, "leader")]


def test_chaos_resolves_a_child_role_among_an_attached_process_descendants(attach, start, token):
    parent = start(f"worker-{token}", f"engine-{token}", script=PARENT_SCRIPT)
    assert eventually(lambda: len(psutil.Process(parent.pid).children()) == 1)
    (child,) = psutil.Process(parent.pid).children()
    deployment = attach({"worker": {"match": f"worker-{token}", "children": {"engine": {"match": f"engine-{token}"}}}})
    deployment.rescan()
    assert [r.pid for r in deployment.replicas_of("worker")] == [parent.pid]  # the child is no replica
    resolution = resolve(deployment, SignalInjection(at_s=0, target=Target(role="worker", child="engine")))
    # The parent's own command line names the engine token too; only descendants count.
    assert [(t.pid, t.scope, t.child) for t in resolution.targets] == [(child.pid, "child", "engine")]
    parent.terminate()
    parent.wait(timeout=5)
    assert not is_running(child.pid)  # the parent took its child with it


def test_attaching_checks_matches_and_warms_up_with_the_extra_body(attach, endpoint, start, token):
    url, stub = endpoint(404)
    only = start(token)
    deployment = attach({"worker": {"match": re.escape(token), "count": 1}}, url, request={"extra_body": {"id": "tokens_{max_tokens}"}})
    deployment.up(warmup_timeout_s=5)
    assert [r.pid for r in deployment.replicas_of("worker")] == [only.pid]
    assert [e.outcome for e in events_of(deployment, "warmup")] == ["ok"]
    (posted,) = stub.posted
    assert posted["path"] == "/v1/chat/completions"
    assert posted["body"]["id"] == "tokens_1"
    assert posted["body"]["max_tokens"] == 1


def test_down_leaves_the_attached_processes_running(attach, start, token):
    only = start(token)
    deployment = attach({"worker": {"match": re.escape(token)}})
    deployment.rescan()
    deployment.down()
    assert is_running(only.pid)
    assert deployment.endpoint == "http://127.0.0.1:1"
    assert deployment.metrics_url is None


def test_the_runner_never_matches_an_agent_role_on_its_own_host(attach, start, token):
    here, there = start(f"router-{token}"), start(f"worker-{token}")
    deployment = attach({"router": {"match": f"router-{token}"}, "worker": {"match": f"worker-{token}"}}, hosts={"gpu-node-1": ["worker"]})
    deployment.rescan()
    # The worker's process runs here too, but the file says it is gpu-node-1's to find.
    assert [(r.role, r.pid) for r in deployment.replicas] == [("router", here.pid)]
    assert there.poll() is None


def test_a_dry_run_names_the_agent_of_a_role_on_another_host_and_resolves_the_rest_here(attach, start, token):
    router, worker = start(f"router-{token}"), start(f"worker-{token}")
    deployment = attach({"router": {"match": f"router-{token}"}, "worker": {"match": f"worker-{token}"}}, hosts={"gpu-node-1": ["worker"]})
    deployment.rescan()
    failures = {name: Failure(injections=[SignalInjection(at_s=5, target=Target(role=name))]) for name in ("worker", "router")}
    lines = describe_plan(deployment, failures)
    assert lines[1:3] == ["failure worker:", "  at 5 s  SIGKILL  worker: sent to fault agent gpu-node-1, which picks its targets on its own host"]
    assert lines[3] == "failure router:" and f"pid {router.pid}" in lines[4]
    assert "not applicable" not in "\n".join(lines) and worker.poll() is None


def test_a_fault_on_an_agent_role_without_agents_is_not_delivered_and_says_why(attach, start, token):
    worker = start(f"worker-{token}")
    deployment = attach({"worker": {"match": f"worker-{token}"}}, hosts={"gpu-node-1": ["worker"]})
    injection = SignalInjection(at_s=0, target=Target(role="worker"))
    FaultScheduler("by_hand", Failure(injections=[injection]), deployment, deployment.events.clock).inject(injection, 1.5)
    (fault,) = events_of(deployment, "fault")
    assert (fault.component, fault.outcome, fault.agent, fault.pid, fault.scheduled_offset_s) == ("worker", "not_delivered", "gpu-node-1", None, 1.5)
    assert fault.detail == "failure by_hand: fault agent gpu-node-1 not reached: this run has no fault agents (they are Locust workers: run with --master)"
    assert worker.poll() is None
