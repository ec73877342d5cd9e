"""A heavy backend (Dynamo, vLLM) in a virtual environment of its own, under the cache directory.

Its pins would fight the suite's, so each backend gets a venv apart, prepared once by
`python -m deployments.<backend> install`, and a tiny model that the project builds itself:

    $FAULTSUITE_CACHE (else ~/.cache/faultsuite)/<backend>-<version>/
        venv/             the backend's interpreter and packages
        installed.json    written last by `install`, so a half install is not "installed"
        model-<digest>/   the tiny model its script builds, in the backend's interpreter,
                          rebuilt whenever that script changes

A subclass says what to install (`install_steps`) and what deployment files may use
(`template_values`, as `{NAME[KEY]}`).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from faultsuite.errors import ConfigError, FaultSuiteError, LaunchError

__all__ = ["BackendEnvironment", "InstallStep", "cache_root", "main"]

#: A command line, or a callable for a step that is no command (writing a file).
InstallStep = list[str] | Callable[[], None]


def cache_root() -> Path:
    configured = os.environ.get("FAULTSUITE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "faultsuite"


@dataclass(frozen=True)
class BackendEnvironment:
    """One install of a backend under `root`."""

    root: Path

    #: How messages name the backend ("Dynamo").
    LABEL: ClassVar[str]
    #: What to run to install it, with its cost, for the one-line error where it is missing.
    INSTALL_HINT: ClassVar[str]
    #: `python MODEL_SCRIPT OUT_DIR` builds the tiny model, in the backend's interpreter.
    MODEL_SCRIPT: ClassVar[Path]

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
            raise ConfigError(f"the {self.LABEL} backend is not installed in {self.root}: {self.INSTALL_HINT}")

    def install_steps(self) -> Iterator[InstallStep]:
        """What `install` runs, in order, after the venv exists."""
        raise NotImplementedError

    def install_record(self) -> dict:
        """What `installed.json` says was installed."""
        raise NotImplementedError

    def template_values(self) -> dict[str, str]:
        """What `{NAME[KEY]}` means in deployment files."""
        raise NotImplementedError

    def install(self, out=sys.stdout) -> None:
        """Create the virtual environment and install the backend into it (needs PyPI);
        LaunchError naming the step that failed."""
        self.marker.unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        steps = [[sys.executable, "-m", "venv", str(self.root / "venv")], *self.install_steps()]
        for step in steps:
            if callable(step):
                print(f"+ {step.__doc__.strip().splitlines()[0] if step.__doc__ else step.__name__}", file=out, flush=True)
                step()
                continue
            print("+ " + " ".join(step), file=out, flush=True)
            if subprocess.run(step, stdin=subprocess.DEVNULL).returncode != 0:
                raise LaunchError(f"installing {self.LABEL} failed at: {' '.join(step)}")
        self.marker.write_text(json.dumps(self.install_record()) + "\n")
        print(f"{self.LABEL} installed in {self.root}; model files in {self.model_dir()}", file=out, flush=True)

    def model_dir(self) -> Path:
        """The tiny model directory, built on first use (MODEL_SCRIPT, in the backend's interpreter)."""
        self.require()
        digest = hashlib.sha256(self.MODEL_SCRIPT.read_bytes()).hexdigest()[:12]
        target = self.root / f"model-{digest}"
        if target.exists():
            return target
        building = Path(tempfile.mkdtemp(prefix="model-", dir=self.root))
        result = subprocess.run(
            [str(self.python), str(self.MODEL_SCRIPT), str(building)], capture_output=True, text=True, stdin=subprocess.DEVNULL, env=self.environment()
        )
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise LaunchError(f"building the tiny model for {self.LABEL} failed: {last}")
        try:
            building.rename(target)  # atomic: parallel runs never see half a directory
        except OSError:
            shutil.rmtree(building, ignore_errors=True)  # another run finished it first
        return target

    def environment(self) -> dict[str, str]:
        """The environment the backend's own processes run in (the model script's too)."""
        return dict(os.environ)


def main(environment: BackendEnvironment, prog: str, argv: list[str] | None = None) -> int:
    """`python -m deployments.<backend> install | status`: prepare the backend, or say where it
    is; a missing install or a failed step is one line and exit code 2."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Prepare the {environment.LABEL} backend, or say where it is.")
    parser.add_argument("command", choices=["install", "status"])
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            environment.install()
        else:
            environment.require()
            print(f"installed: {environment.root}\npython: {environment.python}\nmodel: {environment.model_dir()}")
    except FaultSuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
