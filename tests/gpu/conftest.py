"""A live deployment of `tests.gpu.holder`, for the GPU sampler tests, and the GPU itself.

`launch_holder("--mib", "1024", "--spawn-child")` writes a deployment file with the holder
(one replica, never restarted, ready when it prints `ready`) and a stub endpoint that answers
the launcher's probe and warm-up request, brings it up, and tears it down after the test.

`nvml` is an open `NvmlSource`; it skips the test where no GPU can be sampled, or fails it
under FAULTSUITE_REQUIRE_GPU=1 (the device check sets it), so that a GPU machine whose NVML
does not answer shows as a failure with NVML's reason, never as a quiet skip.
"""

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deployments.launcher import LaunchedDeployment, Replica
from deployments.models import DeploymentSpec, load_deployment
from samplers.gpu import GpuUnavailable, NvmlSource
from tests.live import STUB_ENDPOINT_SCRIPT, launched

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLDER = "holder"
REQUIRE_GPU = os.environ.get("FAULTSUITE_REQUIRE_GPU") == "1"


def holder_spec(directory: Path, *holder_args: str) -> DeploymentSpec:
    """A deployment file of the holder with `holder_args`, plus the stub endpoint."""
    document = {
        "name": "gpu-holder",
        "model": "stub-model",
        "endpoint": "{urls[endpoint]}",
        "components": [
            {
                "name": HOLDER,
                "command": ["{python}", "-m", "tests.gpu.holder", *holder_args],
                "cwd": str(REPO_ROOT),  # `tests` is importable from there
                "ready": {"log": "^ready$"},
                "ready_timeout_s": 30,
                "restart": {"policy": "never"},
            },
            {
                "name": "endpoint",
                "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"],
                "ready": {"http": "http://{host}:{port}/"},
                "restart": {"policy": "never"},
            },
        ],
    }
    path = directory / "gpu-holder.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_deployment(str(path))


@dataclass
class Holder:
    """The launched deployment and its holder replica; `child_pid` with --spawn-child."""

    deployment: LaunchedDeployment
    replica: Replica
    leader_pid: int
    child_pid: int | None


def child_pid_of(deployment: LaunchedDeployment) -> int | None:
    """The pid the holder printed as `child <pid>`, if it started one."""
    output = (deployment.run_dir / HOLDER / "output.log").read_text(encoding="utf-8")
    found = re.search(r"^child (\d+)$", output, re.MULTILINE)
    return int(found.group(1)) if found else None


@pytest.fixture
def launch_holder(tmp_path, request) -> Callable[..., Holder]:
    """Brings up a holder deployment with the given holder arguments; down after the test."""

    def launch(*holder_args: str) -> Holder:
        run_dir = tmp_path / "run"
        deployment = launched(holder_spec(tmp_path, *holder_args), run_dir, request.addfinalizer)
        (replica,) = deployment.replicas_of(HOLDER)
        assert replica.pid is not None
        return Holder(deployment, replica, replica.pid, child_pid_of(deployment))

    return launch


def nvml_unavailable() -> str | None:
    """Why NVML cannot be sampled here, or None when it can."""
    source = NvmlSource()
    try:
        source.open()
    except GpuUnavailable as exc:
        return str(exc)
    except ImportError as exc:
        return f"pynvml cannot be imported: {exc}"
    source.close()
    return None


@pytest.fixture
def nvml() -> Iterator[NvmlSource]:
    """An open NvmlSource; skips (fails under FAULTSUITE_REQUIRE_GPU=1) with no GPU."""
    reason = nvml_unavailable()
    if reason is not None:
        reason = f"no NVIDIA GPU can be sampled here: {reason}"
        if REQUIRE_GPU:
            pytest.fail(f"FAULTSUITE_REQUIRE_GPU=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    source = NvmlSource()
    source.open()
    try:
        yield source
    finally:
        source.close()
