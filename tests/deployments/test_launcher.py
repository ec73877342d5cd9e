"""The launcher: start order, ready probes, logs, restarts, launch errors and teardown, on real
processes. Each deployment is a tiny YAML file of `{python} -c` scripts, so it starts in well
under a second; one test runs the shipped agg-dp1 with its engine death detected."""

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import gevent
import psutil
import pytest
import yaml

from deployments.launcher import LaunchedDeployment
from deployments.models import DEPLOYMENTS_DIR, DeploymentSpec, load_deployment
from deployments.ports import listen_ports
from faultsuite.clock import RunClock
from faultsuite.errors import LaunchError
from faultsuite.events import Event, EventLog, FaultOutcome, TargetScope
from tests.live import EVENT_TIMEOUT_S, STUB_ENDPOINT_SCRIPT, eventually, is_running

READY_LINE = "ready"
SLEEPER_SCRIPT = f"import time; print('{READY_LINE}', flush=True); time.sleep(120)"

OUTPUT_LINE = "hello on stdout from replica"
ERROR_LINE = "hello on stderr from replica"
CHATTY_SCRIPT = f"""\
import sys, time
print('{OUTPUT_LINE}', sys.argv[1])
print('{ERROR_LINE}', sys.argv[1], file=sys.stderr)
print('{READY_LINE}', flush=True)
time.sleep(120)
"""

STARTUP_EXIT_CODE = 3
LAST_ERROR_LINE = "weights file sim.bin is missing"
FAILING_SCRIPT = f"""\
import sys
print('loading weights', file=sys.stderr)
print('{LAST_ERROR_LINE}', file=sys.stderr)
sys.exit({STARTUP_EXIT_CODE})
"""

SIGTERM_IGNORING_SCRIPT = f"""\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print('{READY_LINE}', flush=True)
time.sleep(120)
"""

GRANDCHILD_LINE = "grandchild pid"
#: Starts a grandchild in a session of its own, out of the replica's process group.
ESCAPING_SCRIPT = f"""\
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)
print('{GRANDCHILD_LINE}', child.pid)
print('{READY_LINE}', flush=True)
time.sleep(120)
"""

ENGINE_MARK = "engine-of-the-server"
#: Like vLLM's API server: waits on its engine child, and when the engine dies, exits with code 0.
SERVER_SCRIPT = f"""\
import subprocess, sys
engine = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{ENGINE_MARK}'])
print('{READY_LINE}', flush=True)
engine.wait()
sys.exit(0)
"""

LOG_READY = {"log": READY_LINE}
RESTART_DELAY_S = 0.5
READY_TIMEOUT_S = 1
TEARDOWN_GRACE_S = 1.0
NO_RESTART_WAIT_S = 2.0

ENDPOINT = {
    "name": "endpoint",
    "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"],
    "ready": {"http": "http://{host}:{port}/"},
}
RESTARTED_ENDPOINT = {**ENDPOINT, "restart": {"policy": "always", "delay_s": RESTART_DELAY_S}}
UNRESTARTED_ENDPOINT = {**ENDPOINT, "restart": {"policy": "never"}}

#: Three components in a chain: an HTTP file server, a replica ready by its log, the endpoint.
CHAIN = [
    {
        "name": "static",
        "command": ["{python}", "-m", "http.server", "--bind", "{host}", "{port}"],
        "ready": {"http": "http://{host}:{port}/"},
    },
    {"name": "logger", "command": ["{python}", "-c", SLEEPER_SCRIPT], "ready": LOG_READY, "depends_on": ["static"]},
    {**ENDPOINT, "depends_on": ["logger"]},
]
CHAIN_DEPENDENCIES = {"logger": "static", "endpoint": "logger"}

CHATTY = {"name": "chatty", "command": ["{python}", "-c", CHATTY_SCRIPT, "{replica}"], "ready": LOG_READY}
TWO_CHATTY_REPLICAS = {**CHATTY, "replicas": 2}

SLEEPER = {"name": "sleeper", "command": ["{python}", "-c", SLEEPER_SCRIPT], "ready": LOG_READY}
#: A component that exits at startup, after `sleeper` is up.
FAILING = {"name": "loader", "command": ["{python}", "-c", FAILING_SCRIPT], "ready": LOG_READY, "depends_on": ["sleeper"]}
#: Alive but never answering its HTTP probe.
NEVER_READY = {
    "name": "mute",
    "command": ["{python}", "-c", "import time; time.sleep(120)"],
    "ready": {"http": "http://{host}:{port}/"},
    "ready_timeout_s": READY_TIMEOUT_S,
}
STUBBORN = {"name": "stubborn", "command": ["{python}", "-c", SIGTERM_IGNORING_SCRIPT], "ready": LOG_READY}
ESCAPING = {"name": "escaper", "command": ["{python}", "-c", ESCAPING_SCRIPT], "ready": LOG_READY}


def server(policy: str) -> dict:
    """A component like vLLM's API server, with its engine child, under restart `policy`."""
    return {
        "name": "server",
        "command": ["{python}", "-c", SERVER_SCRIPT],
        "ready": LOG_READY,
        "restart": {"policy": policy, "delay_s": RESTART_DELAY_S},
        "children": {"engine": {"match": ENGINE_MARK}},
    }


SHIPPED_DEPLOYMENT = DEPLOYMENTS_DIR / "agg-dp1.yaml"
FAST_STARTUP_DELAY_S = "0.2"


def write_deployment(directory: Path, components: list[dict]) -> DeploymentSpec:
    document = {"name": "tiny", "model": "stub-model", "endpoint": "{urls[endpoint]}", "components": components}
    path = directory / "tiny.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


def detected_engine_death_copy(directory: Path) -> DeploymentSpec:
    """The shipped agg-dp1 with `--engine-death detected` and a short model-loading time."""
    document = yaml.safe_load(SHIPPED_DEPLOYMENT.read_text(encoding="utf-8"))
    worker = next(c for c in document["components"] if c["name"] == "decode_worker")
    command = worker["command"]
    command[command.index("--engine-death") + 1] = "detected"
    command[command.index("--startup-delay-s") + 1] = FAST_STARTUP_DELAY_S
    path = directory / "agg-dp1-detected.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


@pytest.fixture
def launch(tmp_path, request):
    """Makes a launched deployment of a spec or component list; every one is torn down afterwards."""

    def make(spec_or_components: DeploymentSpec | list[dict]) -> LaunchedDeployment:
        spec = spec_or_components if isinstance(spec_or_components, DeploymentSpec) else write_deployment(tmp_path, spec_or_components)
        run_dir = tmp_path / "run"
        events = EventLog(run_dir / "events.csv", RunClock())
        deployment = LaunchedDeployment(spec, run_dir, events)
        request.addfinalizer(events.close)
        request.addfinalizer(deployment.down)
        return deployment

    return make


def events_of(deployment: LaunchedDeployment, kind: str, component: str) -> list[Event]:
    return [e for e in deployment.events.events if e.kind == kind and e.component == component]


def wait_for_event(deployment: LaunchedDeployment, kind: str, component: str, not_pid: int | None = None, timeout_s: float = EVENT_TIMEOUT_S) -> Event:
    """The first `kind` event of `component` (with a pid other than `not_pid`), once it comes."""

    def found() -> list[Event]:
        return [e for e in events_of(deployment, kind, component) if not_pid is None or e.pid != not_pid]

    assert eventually(lambda: bool(found()), timeout_s), f"no {kind} event of {component} within {timeout_s} s: {deployment.events.events}"
    return found()[0]


def kill_and_await_ready(deployment: LaunchedDeployment, role: str) -> tuple[int, Event]:
    """SIGKILL the only replica of `role` by its group; its old pid and its next ready event."""
    old_pid = deployment.replicas_of(role)[0].pid
    assert old_pid is not None
    os.killpg(old_pid, signal.SIGKILL)
    return old_pid, wait_for_event(deployment, "ready", role, not_pid=old_pid)


# -- start order, probes and logs -----------------------------------------------------------


def test_up_reports_every_component_ready_by_http_or_by_log_line(launch):
    deployment = launch(CHAIN)
    deployment.up()
    assert [e.component for e in deployment.events.events if e.kind == "ready"] == ["static", "logger", "endpoint"]
    assert all(r.state == "ready" and is_running(r.pid) for r in deployment.replicas)


def test_dependents_are_launched_only_after_their_dependencies_are_ready(launch):
    deployment = launch(CHAIN)
    deployment.up()
    kinds = [(e.kind, e.component) for e in deployment.events.events]
    for dependent, dependency in CHAIN_DEPENDENCIES.items():
        assert kinds.index(("launch", dependent)) > kinds.index(("ready", dependency))


def test_a_replica_writes_its_stdout_to_output_log_and_its_stderr_to_error_log(launch):
    deployment = launch([CHATTY, ENDPOINT])
    deployment.up()
    log_dir = deployment.run_dir / "chatty"
    assert f"{OUTPUT_LINE} 0" in (log_dir / "output.log").read_text()
    assert f"{ERROR_LINE} 0" in (log_dir / "error.log").read_text()


def test_each_replica_of_a_component_logs_to_its_own_numbered_folder(launch):
    deployment = launch([TWO_CHATTY_REPLICAS, ENDPOINT])
    deployment.up()
    for index in (0, 1):
        log_dir = deployment.run_dir / f"chatty_{index}"
        assert f"{OUTPUT_LINE} {index}" in (log_dir / "output.log").read_text()
        assert f"{ERROR_LINE} {index}" in (log_dir / "error.log").read_text()
    assert not (deployment.run_dir / "chatty").exists()


# -- launch errors --------------------------------------------------------------------------


def test_a_component_exiting_at_startup_fails_up_with_one_line_naming_it_its_exit_code_and_last_error(launch):
    deployment = launch([SLEEPER, FAILING, ENDPOINT])
    with pytest.raises(LaunchError) as caught:
        deployment.up()
    message = str(caught.value)
    assert "\n" not in message
    assert "component loader" in message
    assert f"exit code {STARTUP_EXIT_CODE}" in message
    assert LAST_ERROR_LINE in message


def test_a_failed_up_leaves_no_process_it_started_running(launch):
    deployment = launch([SLEEPER, FAILING, ENDPOINT])
    with pytest.raises(LaunchError):
        deployment.up()
    started = [r.pid for r in deployment.replicas if r.pid is not None]
    assert len(started) == len(deployment.replicas)
    assert not [pid for pid in started if is_running(pid)]


def test_a_component_not_ready_in_time_fails_up_naming_it(launch):
    deployment = launch([NEVER_READY, ENDPOINT])
    with pytest.raises(LaunchError) as caught:
        deployment.up()
    message = str(caught.value)
    assert "component mute" in message
    assert f"not ready within {READY_TIMEOUT_S} s" in message


# -- supervision ----------------------------------------------------------------------------


def test_a_killed_replica_with_policy_always_exits_restarts_with_a_new_pid_and_is_ready_again(launch):
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    old_pid, ready = kill_and_await_ready(deployment, "endpoint")
    exit_event = wait_for_event(deployment, "exit", "endpoint")
    restart = wait_for_event(deployment, "restart", "endpoint")
    assert (exit_event.pid, exit_event.outcome) == (old_pid, "killed by SIGKILL")
    assert restart.pid not in (None, old_pid)
    assert ready.pid == restart.pid
    assert deployment.replicas[0].restarts == 1


def test_a_restarted_replica_listens_on_the_port_it_had(launch):
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    port = deployment.replicas[0].port
    _, ready = kill_and_await_ready(deployment, "endpoint")
    assert deployment.replicas[0].port == port
    listening = [c.laddr.port for c in psutil.Process(ready.pid).net_connections() if c.status == psutil.CONN_LISTEN]
    assert listening == [port]


def test_replicas_listen_below_the_ephemeral_range_where_no_outgoing_connection_takes_their_port(launch):
    deployment = launch(CHAIN)
    deployment.up()
    low, high = listen_ports()
    assert all(low <= r.port <= high for r in deployment.replicas), [r.port for r in deployment.replicas]


def test_a_restart_comes_at_least_the_policy_delay_after_the_exit(launch):
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    kill_and_await_ready(deployment, "endpoint")
    exit_event = wait_for_event(deployment, "exit", "endpoint")
    restart = wait_for_event(deployment, "restart", "endpoint")
    assert restart.offset_s - exit_event.offset_s >= RESTART_DELAY_S


def test_a_killed_replica_with_policy_never_stays_exited(launch):
    deployment = launch([UNRESTARTED_ENDPOINT])
    deployment.up()
    replica = deployment.replicas[0]
    os.killpg(replica.pid, signal.SIGKILL)
    exit_event = wait_for_event(deployment, "exit", "endpoint")
    gevent.sleep(NO_RESTART_WAIT_S)
    assert exit_event.outcome == "killed by SIGKILL"
    assert events_of(deployment, "restart", "endpoint") == []
    assert replica.state == "exited"


def kill_the_engine(deployment: LaunchedDeployment) -> int:
    """SIGKILL the server's engine child alone; the server's pid."""
    pid = deployment.replicas_of("server")[0].pid
    (engine,) = [p for p in psutil.Process(pid).children() if ENGINE_MARK in p.cmdline()]
    engine.kill()
    return pid


def test_a_server_that_exits_0_when_its_engine_dies_is_restarted_under_policy_always(launch):
    deployment = launch([ENDPOINT, server("always")])
    deployment.up()
    old_pid = kill_the_engine(deployment)
    ready = wait_for_event(deployment, "ready", "server", not_pid=old_pid)
    (exit_event,) = events_of(deployment, "exit", "server")
    assert (exit_event.pid, exit_event.outcome, exit_event.detail) == (old_pid, "exit code 0", "")
    assert ready.pid == deployment.replicas_of("server")[0].pid != old_pid


def test_a_server_that_exits_0_when_its_engine_dies_stays_down_under_policy_on_failure(launch):
    deployment = launch([ENDPOINT, server("on-failure")])
    deployment.up()
    old_pid = kill_the_engine(deployment)
    exit_event = wait_for_event(deployment, "exit", "server")
    gevent.sleep(NO_RESTART_WAIT_S)
    assert (exit_event.pid, exit_event.outcome) == (old_pid, "exit code 0")
    assert exit_event.detail == "not restarted: restart policy on-failure"
    assert events_of(deployment, "restart", "server") == []
    assert deployment.replicas_of("server")[0].state == "exited"


def test_a_killed_server_is_restarted_under_policy_on_failure(launch):
    deployment = launch([ENDPOINT, server("on-failure")])
    deployment.up()
    old_pid, ready = kill_and_await_ready(deployment, "server")
    (exit_event,) = events_of(deployment, "exit", "server")
    assert (exit_event.pid, exit_event.outcome) == (old_pid, "killed by SIGKILL")
    assert ready.pid != old_pid


def test_a_worker_that_detects_its_engine_death_exits_and_is_restarted(launch, tmp_path):
    deployment = launch(detected_engine_death_copy(tmp_path))
    deployment.up()
    worker = deployment.replicas_of("decode_worker")[0]
    old_pid = worker.pid
    (engine,) = [p for p in psutil.Process(old_pid).children() if "deployments.sim.engine" in p.cmdline()]
    os.kill(engine.pid, signal.SIGKILL)
    ready = wait_for_event(deployment, "ready", "decode_worker", not_pid=old_pid, timeout_s=10)
    (exit_event,) = events_of(deployment, "exit", "decode_worker")
    assert (exit_event.pid, exit_event.outcome) == (old_pid, "exit code 3")
    assert exit_event.offset_s < ready.offset_s
    assert ready.pid == worker.pid != old_pid


def test_a_replica_leads_a_process_group_of_its_own_in_the_runner_s_session(launch):
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    pid = deployment.replicas[0].pid
    # Its own group, for signals to the whole replica; the runner's session, so that the
    # kernel's autogroup scheduling weighs it with the runner, not against it.
    assert (os.getpgid(pid), os.getsid(pid)) == (pid, os.getsid(0))


def test_a_replica_is_still_itself_after_the_system_clock_moves(launch, monkeypatch):
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    process = deployment.replicas[0].process
    # A clock step moves the boot time, and with it every wall-clock start time psutil reports
    # (seen here: 12 s, in the middle of a run); the start time since boot does not move.
    stepped = psutil._pslinux.boot_time() + 12
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: stepped)
    assert [p.pid for p in process.group_members()][:1] == [process.pid]


# -- teardown -------------------------------------------------------------------------------


def test_down_sigkills_a_replica_that_ignores_sigterm_after_the_grace(launch):
    deployment = launch([STUBBORN, ENDPOINT])
    deployment.up()
    pid = deployment.replicas_of("stubborn")[0].pid
    deployment.down(grace_s=TEARDOWN_GRACE_S)
    stops = events_of(deployment, "stop", "stubborn")
    assert [(e.pid, e.signal) for e in stops] == [(pid, "SIGTERM"), (pid, "SIGKILL")]
    assert stops[1].offset_s - stops[0].offset_s >= TEARDOWN_GRACE_S
    assert not is_running(pid)


def test_down_ends_a_grandchild_that_left_the_replica_process_group(launch):
    deployment = launch([ESCAPING, ENDPOINT])
    deployment.up()
    output = (deployment.run_dir / "escaper" / "output.log").read_text()
    grandchild = int(next(line for line in output.splitlines() if line.startswith(GRANDCHILD_LINE)).split()[-1])
    assert os.getpgid(grandchild) != deployment.replicas_of("escaper")[0].pid
    deployment.down(grace_s=TEARDOWN_GRACE_S)
    assert not is_running(grandchild)


def test_teardown_never_signals_the_group_of_a_leader_already_reaped(launch, monkeypatch):
    """After a `restart: never` replica dies and is reaped, its pid may be a stranger's: a
    process that took it as a group leader would get our SIGTERM. So no killpg for it."""
    deployment = launch([UNRESTARTED_ENDPOINT])
    deployment.up()
    dead_pid = deployment.replicas[0].pid
    os.killpg(dead_pid, signal.SIGKILL)
    wait_for_event(deployment, "exit", "endpoint")  # reaped by its supervisor
    signalled_groups = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: signalled_groups.append(pgid))

    deployment.down()

    assert dead_pid not in signalled_groups


def test_a_fault_whose_pid_is_now_a_strangers_reaches_nobody(launch):
    """A target resolved before its process died names a pid that may since be a stranger's
    (here: a process the test starts, standing for one that took the reused pid)."""
    deployment = launch([RESTARTED_ENDPOINT])
    deployment.up()
    (target,) = deployment.fault_targets("endpoint")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        for scope in (TargetScope.LEADER, TargetScope.GROUP, TargetScope.CHILD):
            outcome = deployment.signal(dataclasses.replace(target, pid=stranger.pid, scope=scope), signal.SIGKILL)
            assert (scope, outcome, stranger.poll()) == (scope, FaultOutcome.PROCESS_GONE, None)
    finally:
        stranger.kill()
        stranger.wait()
