"""Faults on other hosts, on one machine: a master and two Locust workers that are fault
agents with names of their own, against agg-dp1 started by hand.

The attach file gives each agent one role, and a third role to an agent that never joins.
The master matches none of them itself: each fault must go to the agent that owns its role,
which finds the process on its own host, signals it, and sends back the events. A fault for
the absent agent is recorded `not_delivered`, naming it.
"""

import re
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from deployments.ports import free_port
from tests.e2e.harness import LOCUSTFILE
from tests.e2e.test_distributed import DistributedRun, kill_tagged, run_distributed

pytestmark = pytest.mark.e2e

AGENTS = ("node-a", "node-b")
LOAD = ("--clients", "2", "--requests-per-client", "100000", "--fault-at", "1")


def attach_file(directory: Path, procs: list) -> Path:
    """agg-dp1 started by hand: the worker is node-a's, the processor node-b's and the
    frontend node-c's, an agent that never joins."""
    worker, processor, frontend = (p.args[p.args.index("--port") + 1] for p in procs)
    document = {
        "kind": "attach",
        "name": "by-hand",
        "model": "sim-model",
        "endpoint": f"http://127.0.0.1:{frontend}",
        "select_from": "host",
        "processes": {
            "decode_worker": {"match": rf"deployments\.sim\.worker --port {worker}\b", "count": 1},
            "processor": {"match": rf"deployments\.sim\.processor --port {processor}\b", "count": 1},
            "frontend": {"match": rf"deployments\.sim\.frontend --port {frontend}\b", "count": 1},
        },
        "hosts": {"node-a": ["decode_worker"], "node-b": ["processor"], "node-c": ["frontend"]},
    }
    path = directory / "by-hand.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def run_with_agents(tmp_path: Path, procs: list, failure: str, max_run_time_s: float = 4) -> DistributedRun:
    attached = attach_file(tmp_path, procs)
    agents = [["--fault-agent", name] for name in AGENTS]
    options = ("--deployment", str(attached), "--failure", failure, *LOAD, "--max-run-time", f"{max_run_time_s:g}")
    run = run_distributed(tmp_path, *options, worker_options=agents)
    kill_tagged(run.master_tag)
    kill_tagged(run.worker_tag)
    assert run.master.returncode == 0, run.master.output[-3000:]
    return run


def chaos_events(run: DistributedRun) -> list[dict]:
    return [e for e in run.events if e["kind"] in ("fault", "proof") and e["teardown"] == "0"]


def alive(proc) -> bool:
    try:
        return psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(("failure", "agent", "hit"), [("decode_worker", "node-a", 0), ("processor", "node-b", 1)])
def test_a_fault_goes_to_the_agent_that_owns_its_role_and_hits_only_its_process(tmp_path, running_graph, failure, agent, hit):
    _, procs = running_graph
    run = run_with_agents(tmp_path, procs, failure)
    fault, proof = chaos_events(run)
    assert (fault["kind"], fault["component"], fault["outcome"], fault["pid"]) == ("fault", failure, "delivered", str(procs[hit].pid))
    assert (fault["agent"], fault["host"]) == (agent, socket.gethostname())
    assert (proof["outcome"], proof["agent"]) == ("confirmed", agent), proof
    # The master matched none of the roles itself: every attach event came from the agent.
    attached = [e for e in run.events if e["kind"] == "attach"]
    assert attached and all(e["agent"] == agent and e["component"] == failure for e in attached), attached
    # Only the process the fault named is gone; the agent's worker process did the killing.
    assert [alive(p) for p in procs] == [i != hit for i in range(3)]
    signalled = re.compile(rf"event fault +{failure}_0 +pid {procs[hit].pid} ")
    assert [bool(signalled.search(w.output)) for w in run.workers] == [name == agent for name in AGENTS]


def test_a_fault_for_an_agent_that_never_joined_is_not_delivered_and_says_so(tmp_path, running_graph):
    _, procs = running_graph
    run = run_with_agents(tmp_path, procs, "frontend")
    (fault,) = chaos_events(run)
    assert (fault["component"], fault["outcome"], fault["agent"], fault["pid"]) == ("frontend", "not_delivered", "node-c", "")
    assert fault["detail"] == "failure frontend: fault agent node-c not reached: not connected (agents connected: node-a, node-b)"
    assert all(alive(p) for p in procs)


def test_a_hang_an_agent_began_is_continued_when_the_run_ends_before_it(tmp_path, running_graph):
    _, procs = running_graph
    run = run_with_agents(tmp_path, procs, "decode_worker_hang", max_run_time_s=2)  # the hang is 5 s, from 1 s
    fault, resume = [e for e in run.events if e["kind"] in ("fault", "resume")]
    assert (fault["signal"], fault["agent"], resume["signal"], resume["agent"], resume["teardown"]) == ("SIGSTOP", "node-a", "SIGCONT", "node-a", "1")
    assert float(resume["offset_s"]) - float(fault["offset_s"]) < 5
    assert psutil.Process(procs[0].pid).status() != psutil.STATUS_STOPPED


def test_a_worker_whose_agent_name_is_no_host_name_exits_2_with_one_line(tmp_path):
    # Locust fires `init` on a worker only once it has reached its master: give it one, idle.
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--web-host", "127.0.0.1", "--web-port", str(free_port())],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-port", str(port), "--fault-agent", "gpu node"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        master.kill()
        master.wait()
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "error: --fault-agent: 'gpu node' is not an agent name (letters, digits, '.', '-' and '_', as a host name)"
    assert "Traceback" not in done.stderr
