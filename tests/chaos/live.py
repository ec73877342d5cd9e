"""Launching the shipped agg-dp1 for real, fast, for chaos tests, and reading what happened."""

from pathlib import Path

import psutil
import yaml

from chaos.injector import FaultScheduler
from chaos.models import Failure, Injection
from deployments.launcher import LaunchedDeployment, Replica
from deployments.models import DEPLOYMENTS_DIR, DeploymentSpec, load_deployment
from faultsuite.events import Event

SHIPPED_DEPLOYMENT = DEPLOYMENTS_DIR / "agg-dp1.yaml"
FAST_STARTUP_DELAY_S = "0.2"
FAST_RESTART = {"policy": "always", "delay_s": 0.2}
#: The worker doubled, so that selection has a choice.
TWO_WORKERS = {"replicas": 2, "restart": FAST_RESTART}

def fast_copy(directory: Path, **worker_changes) -> DeploymentSpec:
    """The shipped agg-dp1 with a short model-loading time and `worker_changes` applied."""
    document = yaml.safe_load(SHIPPED_DEPLOYMENT.read_text(encoding="utf-8"))
    worker = next(c for c in document["components"] if c["name"] == "decode_worker")
    command = worker["command"]
    command[command.index("--startup-delay-s") + 1] = FAST_STARTUP_DELAY_S
    worker.update(worker_changes)
    path = directory / "agg-dp1-fast.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


def scheduler_for(deployment: LaunchedDeployment, *injections: Injection) -> FaultScheduler:
    failure = Failure(injections=list(injections))
    return FaultScheduler("test_failure", failure, deployment, deployment.events.clock)


def the_worker(deployment: LaunchedDeployment) -> Replica:
    (worker,) = deployment.replicas_of("decode_worker")
    return worker


def engine_of(worker: Replica) -> psutil.Process:
    (engine,) = [p for p in psutil.Process(worker.pid).children() if "deployments.sim.engine" in p.cmdline()]
    return engine


def events_of_kind(deployment: LaunchedDeployment, kind: str) -> list[Event]:
    return [e for e in deployment.events.events if e.kind == kind]
