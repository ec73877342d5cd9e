"""The vLLM backend's environment: its one-line error where it is missing, and, where it is
installed, the fixes the install makes (`deployments/vllm/environment.py`)."""

import hashlib
import os
import subprocess
import sys

import pytest

from deployments.vllm import VLLM_VERSION, VllmEnvironment
from tests.e2e.harness import run_locust

HINT = "run `python -m deployments.vllm install` (about 2.5 GB, 2 minutes)"


def backend_command(*args: str, cache=None) -> subprocess.CompletedProcess:
    env = None if cache is None else {**os.environ, "FAULTSUITE_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "deployments.vllm", *args], capture_output=True, text=True, env=env, timeout=120)


def test_status_without_the_backend_is_one_line_and_exit_2(tmp_path):
    result = backend_command("status", cache=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: the vLLM backend is not installed in {tmp_path / f'vllm-{VLLM_VERSION}'}: {HINT}"


@pytest.mark.e2e
def test_a_vllm_deployment_without_the_backend_is_one_line_and_exit_2(tmp_path):
    empty_cache = tmp_path / "cache"
    result = run_locust(tmp_path, "--deployment", "vllm-cpu", env_extra={"FAULTSUITE_CACHE": str(empty_cache)}, timeout_s=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: the vLLM backend is not installed in {empty_cache / f'vllm-{VLLM_VERSION}'}: {HINT}"


@pytest.mark.vllm
def test_vllm_serve_finds_its_version_through_the_alias_and_runs_on_the_cpu(vllm: VllmEnvironment):
    check = "import importlib.metadata as m; from vllm.platforms import current_platform as p; print(m.version('vllm'), p.device_type)"
    result = subprocess.run([str(vllm.python), "-c", check], capture_output=True, text=True, env=vllm.environment(), timeout=300)
    assert result.stdout.split() == [f"{VLLM_VERSION}+cpu", "cpu"], result.stderr[-2000:]


@pytest.mark.vllm
def test_the_cuda_builds_that_break_transformers_are_not_installed(vllm: VllmEnvironment):
    listing = subprocess.run([str(vllm.python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, timeout=120).stdout
    installed = {line.split("==")[0].lower() for line in listing.splitlines()}
    assert not installed & {"torchvision", "torchaudio", "torchcodec", "triton"}
    assert {"vllm-cpu", "torch", "transformers"} <= installed


@pytest.mark.vllm
def test_the_tiny_model_is_the_same_bytes_at_every_build(vllm: VllmEnvironment, tmp_path):
    subprocess.run([str(vllm.python), str(vllm.MODEL_SCRIPT), str(tmp_path)], check=True, env=vllm.environment(), timeout=300, capture_output=True)

    def digests(directory):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}

    built = digests(tmp_path)
    assert "model.safetensors" in built and "tokenizer.json" in built
    assert built == digests(vllm.model_dir())
