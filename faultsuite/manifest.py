"""The run's identity card, `run.json`: what ran, how, with what, and when.

Written when the run starts and rewritten as it learns more (the startup time, the end, an
error), so that a run killed half-way still says what it was. Re-rendering a results directory
(`python -m reports`) reads the scenario's values from here, never from the command line.
"""

import json
import os
import platform
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path

from faultsuite.layout import RunLayout
from faultsuite.secrets import redact_text

__all__ = ["DEFAULT_SLA_LATENCY_S", "RunManifest", "command_as_typed", "read_manifest", "run_title", "versions", "write_manifest"]

#: Latency (s) above which a success is an SLA violation: `--sla-latency`'s default, and what a
#: results directory whose run.json does not say is rendered with.
DEFAULT_SLA_LATENCY_S = 1.0


def run_title(deployment: str, failure: str) -> str:
    """`agg-dp4 × decode_worker`: how a run is named in tables, reports and the web UI."""
    return f"{deployment} × {failure}"


def command_as_typed(argv: list[str] | None = None) -> str:
    """The command line of this process as its user would have typed it.

    A program found on PATH under its own name reads as that name (`locust`, not
    `/home/me/venv/bin/locust`); a `python -m MODULE` run reads as such (its `sys.argv[0]` is
    the module's `__main__.py`); the arguments stay as given."""
    if argv is None:
        argv = sys.orig_argv if sys.argv[0].endswith("__main__.py") else sys.argv
    argv = list(argv)
    if argv and os.path.isabs(argv[0]):
        name = os.path.basename(argv[0])
        found = shutil.which(name)
        if found is not None and os.path.realpath(found) == os.path.realpath(argv[0]):
            argv[0] = name
    return shlex.join(argv)


def versions() -> dict[str, str]:
    """Versions a reader of the report needs to reproduce the run."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("llm-fault-suite", "locust", "gevent", "psutil", "nvidia-ml-py"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class RunManifest:
    """Everything about a run except what it measured. Times are epoch seconds."""

    deployment: str
    failure: str
    sla_latency_s: float = DEFAULT_SLA_LATENCY_S
    command: str = field(default_factory=lambda: redact_text(command_as_typed()))
    started_at: float | None = None
    ended_at: float | None = None
    startup_time_s: float | None = None
    #: When the clients started, on the run clock (s): the reports' time axes count from it.
    load_started_offset_s: float | None = None
    error: str | None = None  # why the run did not start
    interrupted: str | None = None  # the signal that ended the run early, e.g. "SIGTERM"
    records_lost: str | None = None  # why records stopped reaching the disk, e.g. disk full
    generator_lag_s: float | None = None  # open-loop load: how far behind its schedule the generator fell
    gpu_note: str | None = None  # why no GPU was sampled; None when one was (or not yet known)
    load: dict = field(default_factory=dict)
    versions: dict = field(default_factory=versions)

    def updated(self, **changes) -> "RunManifest":
        return replace(self, **changes)

    @property
    def title(self) -> str:
        return run_title(self.deployment, self.failure)


def write_manifest(manifest: RunManifest, run_dir: Path) -> None:
    """Replace `run.json` atomically: a reader never sees half a file."""
    path = RunLayout(run_dir).manifest
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def read_manifest(run_dir: Path) -> RunManifest:
    """The run's manifest; for a directory without one, a manifest guessed from its path
    (`results/<deployment>/<failure>-<timestamp>`) with default settings."""
    path = RunLayout(run_dir).manifest
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(RunManifest)}
        return RunManifest(**{k: v for k, v in data.items() if k in known})
    failure = run_dir.name.split("-")[0] or "unknown"
    return RunManifest(deployment=run_dir.parent.name or "unknown", failure=failure, command="", versions={})
