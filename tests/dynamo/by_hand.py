"""A Dynamo stack started by hand, the way a user would, outside the suite's launcher.

The event broker, the frontend and two mocker workers, all in ONE process group (as a shell
script would leave them), so that a suite signalling a group instead of a pid would take
down the whole stack, and the attach test would see it.
"""

import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deployments.dynamo import DynamoEnvironment
from deployments.dynamo.environment import EVENT_BROKER_SCRIPT
from deployments.ports import free_port

WORKER_PORTS = (20000, 32767)  # Dynamo reads DYN_SYSTEM_PORT as a 16-bit signed integer


@dataclass
class HandStartedDynamo:
    endpoint: str
    model_name: str
    broker: subprocess.Popen
    frontend: subprocess.Popen
    workers: list[subprocess.Popen]
    decoy: subprocess.Popen
    logs: Path
    group: int = field(init=False)

    def __post_init__(self) -> None:
        self.group = self.broker.pid

    @property
    def everything(self) -> list[subprocess.Popen]:
        return [self.broker, self.frontend, *self.workers, self.decoy]

    def stop(self) -> None:
        """End what this fixture started: its process group, then anything left by pid."""
        try:
            os.killpg(self.group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for proc in self.everything:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _start(argv: list[str], env: dict[str, str], log: Path, group: int | None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0 if group is None else group,  # 0: a new group, led by this process
        )


def _wait_for(url: str, check, timeout_s: float, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "a hand-started Dynamo process exited during startup"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if check(response.read().decode()):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout_s} s")


def start_dynamo_by_hand(dynamo: DynamoEnvironment, directory: Path, model_name: str) -> HandStartedDynamo:
    """Broker, frontend (migration off) and two mocker workers, ready to serve `model_name`;
    plus a decoy: a process whose command line mentions the mocker without being one."""
    directory.mkdir(parents=True, exist_ok=True)
    python, model = str(dynamo.python), dynamo.model_dir()
    http, xsub, xpub, health = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DYN_DISCOVERY_BACKEND": "file",
        "DYN_FILE_KV": str(directory / "discovery"),
        "DYN_REQUEST_PLANE": "tcp",
        "DYN_EVENT_PLANE": "zmq",
        "DYN_ZMQ_BROKER_URL": f"xsub=tcp://127.0.0.1:{xsub} , xpub=tcp://127.0.0.1:{xpub}",
        "DYN_TCP_RPC_HOST": "127.0.0.1",
        "DYN_TCP_RESPONSE_STREAM_HOST": "127.0.0.1",
        "DYN_EVENT_PLANE_HOST": "127.0.0.1",
        "DYN_SYSTEM_HOST": "127.0.0.1",
    }
    broker = _start(
        [python, str(EVENT_BROKER_SCRIPT), "--xsub-port", str(xsub), "--xpub-port", str(xpub), "--health-port", str(health)],
        env, directory / "broker.log", None,
    )  # fmt: skip
    group = broker.pid
    try:
        frontend = _start(
            [python, "-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", str(http), "--migration-limit", "0"],
            env, directory / "frontend.log", group,
        )  # fmt: skip
        workers = []
        for index in range(2):
            worker_env = {**env, "DYN_SYSTEM_PORT": str(free_port(within=WORKER_PORTS)), "DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS": '["generate"]'}
            workers.append(
                _start(
                    [python, "-m", "dynamo.mocker", "--model-path", str(model), "--model-name", model_name, "--speedup-ratio", "1",
                     "--response-replay-trace-path", str(model / "replay_trace.jsonl")],
                    worker_env, directory / f"worker_{index}.log", group,
                )  # fmt: skip
            )
        # Says "dynamo.mocker" and the model name, but is no mocker: a careless selector takes it.
        decoy = _start([python, "-c", "import time; time.sleep(600)", f"notes-on-dynamo.mocker-{model_name}"], env, directory / "decoy.log", group)
    except BaseException:
        os.killpg(group, signal.SIGKILL)  # whatever of the stack had started: it is all in the group
        broker.wait()
        raise
    stack = HandStartedDynamo(f"http://127.0.0.1:{http}", model_name, broker, frontend, workers, decoy, directory)
    try:
        # Both workers registered: /health lists two `generate` instances.
        _wait_for(stack.endpoint + "/health", lambda body: body.count('"endpoint":"generate"') == 2, 90, stack.everything)
    except BaseException:
        stack.stop()
        raise
    return stack


def alive(proc: subprocess.Popen) -> bool:
    return proc.poll() is None and psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE
