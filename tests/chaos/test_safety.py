"""No failure reaches a process outside the deployment, however alike its command line."""

import ast
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from chaos.injector import FaultScheduler
from chaos.models import load_catalogue
from chaos.targets import resolve
from tests.chaos.live import events_of_kind, the_worker
from tests.live import eventually

#: A `deployments.sim.worker` that only sleeps, found first on PYTHONPATH: started with the
#: worker's exact argv, it looks exactly like the worker and holds no port.
SLEEPING_WORKER = "import time\ntime.sleep(120)\n"


@pytest.fixture
def worker_decoy(tmp_path, request):
    """A process outside the deployment whose command line is identical to its worker's."""

    def start(argv: list[str]) -> subprocess.Popen:
        shadow = tmp_path / "shadow" / "deployments" / "sim"
        shadow.mkdir(parents=True)
        (shadow.parent / "__init__.py").write_text("")
        (shadow / "__init__.py").write_text("")
        (shadow / "worker.py").write_text(SLEEPING_WORKER)
        env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
        decoy = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def end() -> None:
            decoy.kill()
            decoy.wait()

        request.addfinalizer(end)
        assert eventually(lambda: psutil.Process(decoy.pid).cmdline() == argv)
        return decoy

    return start


def test_no_failure_of_the_catalogue_would_select_an_identical_worker_outside_the_deployment(dp1, worker_decoy):
    worker_argv = psutil.Process(the_worker(dp1).pid).cmdline()
    decoy = worker_decoy(worker_argv)
    for name, failure in load_catalogue().failures.items():
        for injection in failure.injections:
            many = injection.model_copy(update={"count": 10})  # as many as it could find
            chosen = {target.pid for target in resolve(dp1, many).targets}
            assert decoy.pid not in chosen, name


def test_a_worker_kill_spares_an_identical_worker_outside_the_deployment(fresh_dp1, worker_decoy):
    worker = the_worker(fresh_dp1)
    decoy = worker_decoy(psutil.Process(worker.pid).cmdline())
    failure = load_catalogue().failures["two_decode_workers"]
    FaultScheduler("two_decode_workers", failure, fresh_dp1, fresh_dp1.events.clock).inject(failure.injections[0])
    assert [e.pid for e in events_of_kind(fresh_dp1, "fault")] == [worker.pid]
    assert eventually(lambda: events_of_kind(fresh_dp1, "exit"))
    assert decoy.poll() is None



def test_chaos_never_signals_a_process_itself():
    """Every fault acts through the deployment interface (`Deployment.signal` and friends)."""
    calls = []
    for path in sorted((Path(__file__).resolve().parents[2] / "chaos").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("kill", "killpg", "send_signal", "terminate", "pidfd_send_signal"):
                calls.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert calls == []
