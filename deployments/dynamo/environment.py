"""Where the Dynamo environment lives, how it is installed, and the model files it serves.

Under the cache directory (`deployments.backend`): `dynamo-1.6.1/venv/` with ai-dynamo and its
requirements, and `dynamo-1.6.1/model-<digest>/` with the tiny model and replay trace
(`tiny_model.py`).

`{dynamo[KEY]}` in deployment files: `python` (Dynamo's interpreter), `model_dir`,
`replay_trace`, and `event_broker` (the path of `event_broker.py`).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deployments.backend import BackendEnvironment, InstallStep, cache_root

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
EVENT_BROKER_SCRIPT = Path(__file__).resolve().parent / "event_broker.py"


@dataclass(frozen=True)
class DynamoEnvironment(BackendEnvironment):
    """One Dynamo install under `root`."""

    LABEL = "Dynamo"
    INSTALL_HINT = "run `python -m deployments.dynamo install` (about 700 MB, 1 minute)"
    MODEL_SCRIPT = Path(__file__).resolve().parent / "tiny_model.py"

    def install_steps(self) -> Iterator[InstallStep]:
        yield [str(self.python), "-m", "pip", "install", "--quiet", *DYNAMO_REQUIREMENTS]
        # pip may warn that aisimulate is missing: it is left out on purpose (see above).
        yield [str(self.python), "-m", "pip", "install", "--quiet", "--no-deps", *DYNAMO_PACKAGES]

    def install_record(self) -> dict:
        return {"packages": DYNAMO_PACKAGES, "requirements": DYNAMO_REQUIREMENTS}

    def template_values(self) -> dict[str, str]:
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
