"""The run's identity card, `run.json`: what ran, how, with what, and when.

Written when the run starts and rewritten as it learns more (the startup time, the end, an
error), so that a run killed half-way still says what it was. Re-rendering a results directory
(`python -m reports`) reads the scenario's values from here, never from the command line.
"""

import json
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import metadata
from pathlib import Path

__all__ = ["MANIFEST_FILE", "RunManifest", "read_manifest", "versions", "write_manifest"]

MANIFEST_FILE = "run.json"

#: The SLA threshold assumed for a directory whose run.json is missing (Locust's option default).
DEFAULT_SLA_LATENCY_S = 2.0


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
    command: str = field(default_factory=lambda: shlex.join(sys.argv))
    started_at: float | None = None
    ended_at: float | None = None
    startup_time_s: float | None = None
    error: str | None = None
    gpu_note: str | None = None  # why no GPU was sampled; None when one was (or not yet known)
    load: dict = field(default_factory=dict)
    versions: dict = field(default_factory=versions)

    def updated(self, **changes) -> "RunManifest":
        return replace(self, **changes)


def write_manifest(manifest: RunManifest, run_dir: Path) -> None:
    """Replace `run.json` atomically: a reader never sees half a file."""
    path = run_dir / MANIFEST_FILE
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def read_manifest(run_dir: Path) -> RunManifest:
    """The run's manifest; for a directory without one, a manifest guessed from its path
    (`results/<deployment>/<failure>-<timestamp>`) with default settings."""
    path = run_dir / MANIFEST_FILE
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(RunManifest)}
        return RunManifest(**{k: v for k, v in data.items() if k in known})
    failure = run_dir.name.split("-")[0] or "unknown"
    return RunManifest(deployment=run_dir.parent.name or "unknown", failure=failure, command="", versions={})
