"""Where the Dynamo environment lives, how it is installed, and the model files it serves.

Everything goes under the cache directory (`$FAULTSUITE_CACHE`, else `~/.cache/faultsuite`):

    dynamo-1.6.1/venv/            the virtual environment with ai-dynamo and its requirements
    dynamo-1.6.1/installed.json   written last by `install`, so a half install is not "installed"
    dynamo-1.6.1/model-<digest>/  the tiny model and replay trace (`tiny_model.py`), rebuilt
                                  whenever that script changes

`{dynamo[KEY]}` in deployment files: `python` (Dynamo's interpreter), `model_dir`,
`replay_trace`, and `event_broker` (the path of `event_broker.py`).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from faultsuite.errors import ConfigError, LaunchError

__all__ = ["DYNAMO_VERSION", "DynamoEnvironment", "dynamo_environment"]

DYNAMO_VERSION = "1.6.1"
#: Installed with --no-deps: ai-dynamo also requires `aisimulate`, a stub that downloads from
#: another index, and nothing the mocker or frontend runs uses it.
DYNAMO_PACKAGES = [f"ai-dynamo=={DYNAMO_VERSION}", f"ai-dynamo-runtime=={DYNAMO_VERSION}"]
#: The rest of ai-dynamo's requirements, as its metadata states them.
DYNAMO_REQUIREMENTS = [
    "aiohttp>=3.14.3,<4",
    "certifi",
    "kubernetes>=32.0.1,<33",
    "msgspec",
    "prometheus-client",
    "pyzmq",
    "redis<9",
    "tqdm",
    "transformers>=4.56",
    "typing-extensions",
    "zstandard",
    "pydantic>=2.10.6,<=2.13.5",
    "uvloop",
]
TINY_MODEL_SCRIPT = Path(__file__).resolve().parent / "tiny_model.py"
EVENT_BROKER_SCRIPT = Path(__file__).resolve().parent / "event_broker.py"
INSTALL_HINT = "run `python -m deployments.dynamo install` (about 700 MB, 1 minute)"


def cache_root() -> Path:
    configured = os.environ.get("FAULTSUITE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "faultsuite"


@dataclass(frozen=True)
class DynamoEnvironment:
    """One Dynamo install under `root`."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def marker(self) -> Path:
        return self.root / "installed.json"

    def installed(self) -> bool:
        return self.marker.exists() and self.python.exists()

    def require(self) -> None:
        """ConfigError in one line unless installed."""
        if not self.installed():
            raise ConfigError(f"the Dynamo backend is not installed in {self.root}: {INSTALL_HINT}")

    def install(self, out=sys.stdout) -> None:
        """Create the virtual environment and install Dynamo into it (needs PyPI)."""
        self.marker.unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        steps = [
            [sys.executable, "-m", "venv", str(self.root / "venv")],
            [str(self.python), "-m", "pip", "install", "--quiet", *DYNAMO_REQUIREMENTS],
            # pip may warn that aisimulate is missing: it is left out on purpose (see above).
            [str(self.python), "-m", "pip", "install", "--quiet", "--no-deps", *DYNAMO_PACKAGES],
        ]
        for argv in steps:
            print("+ " + " ".join(argv), file=out, flush=True)
            if subprocess.run(argv, stdin=subprocess.DEVNULL).returncode != 0:
                raise LaunchError(f"installing Dynamo failed at: {' '.join(argv)}")
        self.marker.write_text(json.dumps({"packages": DYNAMO_PACKAGES, "requirements": DYNAMO_REQUIREMENTS}) + "\n")
        print(f"Dynamo {DYNAMO_VERSION} installed in {self.root}; model files in {self.model_dir()}", file=out, flush=True)

    def model_dir(self) -> Path:
        """The tiny model directory, built on first use (`tiny_model.py`, in Dynamo's interpreter)."""
        self.require()
        digest = hashlib.sha256(TINY_MODEL_SCRIPT.read_bytes()).hexdigest()[:12]
        target = self.root / f"model-{digest}"
        if target.exists():
            return target
        building = Path(tempfile.mkdtemp(prefix="model-", dir=self.root))
        result = subprocess.run([str(self.python), str(TINY_MODEL_SCRIPT), str(building)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise LaunchError(f"building the tiny model for Dynamo failed: {last}")
        try:
            building.rename(target)  # atomic: parallel runs never see half a directory
        except OSError:
            shutil.rmtree(building, ignore_errors=True)  # another run finished it first
        return target

    def template_values(self) -> dict[str, str]:
        """What `{dynamo[KEY]}` means in deployment files."""
        model = self.model_dir()
        return {
            "python": str(self.python),
            "model_dir": str(model),
            "replay_trace": str(model / "replay_trace.jsonl"),
            "event_broker": str(EVENT_BROKER_SCRIPT),
        }


def dynamo_environment() -> DynamoEnvironment:
    """The install this machine uses: under the cache directory, one per Dynamo version."""
    return DynamoEnvironment(cache_root() / f"dynamo-{DYNAMO_VERSION}")
