"""A scenario file: one YAML that bundles deployment, failure, load and expectations.

    deployment: agg-dp4              # a name in deployments/ or a YAML path (relative to this file)
    failure: decode_worker
    load:                            # any load option, by its long name with underscores
      clients: 8
      requests_per_client: 20
      fault_at: 5
      # or open-loop: rate: 5 (with duration: 30), or stages: [{rate: 5, for_s: 10}, {rate: 20, for_s: 30}]
    expect:                          # expectation lines, as --expect takes them
      - failed <= 4
      - recovery_time_s <= 10
    abort_if: failed_pct > 50 over 10 s

`--scenario FILE` applies it. An option given on the command line wins over the file, unless
it equals the option's default: the parser cannot tell "given" from "left as is", and the
file is the more specific of the two. Unknown keys are errors, with their key path.
"""

import argparse
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from faultsuite.yamlfile import KeyPathError, StrictModel, load_yaml
from gate.abort import parse_abort_rule
from gate.expectations import parse_expectation
from locustfiles.options import MAXIMA

__all__ = ["ScenarioFile", "apply_scenario_file", "load_scenario_file"]


class StageSection(StrictModel):
    """One stage of open-loop load: `rate` requests per second for `for_s` seconds."""

    rate: float = Field(gt=0)
    for_s: float = Field(gt=0)


class LoadSection(StrictModel):
    """The load options a scenario may set; each is the option of the same name."""

    clients: int | None = Field(default=None, gt=0)
    ramp_up: float | None = Field(default=None, ge=0)
    requests_per_client: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    prompt: str | None = None
    prompt_tokens: int | None = Field(default=None, gt=0)
    stream: bool | None = None
    request_timeout: float | None = Field(default=None, gt=0)
    retry_delay: float | None = Field(default=None, ge=0)
    sla_latency: float | None = Field(default=None, gt=0)
    max_run_time: float | None = Field(default=None, gt=0)
    fault_at: float | None = Field(default=None, ge=0)
    fault_count: int | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    duration: float | None = Field(default=None, gt=0)
    stages: list[StageSection] | None = Field(default=None, min_length=1)
    arrival: Literal["poisson", "constant"] | None = None
    max_concurrency: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)
    trace: str | None = None
    trace_speedup: float | None = Field(default=None, gt=0)
    trials: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _at_most(self) -> "LoadSection":
        for name, value in self.model_dump(exclude_none=True, exclude={"stages"}).items():
            most = MAXIMA.get(name)
            if most is not None and isinstance(value, (int, float)) and value > most:
                raise KeyPathError((name,), f"must be at most {most:g}, got {value!r}")
        return self


class ScenarioFile(StrictModel):
    deployment: str | None = None
    failure: str | None = None
    load: LoadSection = Field(default_factory=LoadSection)
    expect: list[str] = Field(default_factory=list)
    abort_if: str | None = None

    def options(self, directory: Path) -> dict[str, object]:
        """What the file sets, as option destinations and values."""
        values: dict[str, object] = {}
        if self.deployment is not None:
            named = not self.deployment.endswith((".yaml", ".yml"))
            values["deployment"] = self.deployment if named else str(directory / self.deployment)
        if self.failure is not None:
            values["failure"] = self.failure
        for name, value in self.load.model_dump(exclude_none=True).items():
            if name == "stream":
                values["no_stream"] = not value
            elif name == "trace":
                values["trace"] = str(directory / value)
            elif name == "stages":
                values["rate_stages"] = ",".join(f"{stage['rate']:g}:{stage['for_s']:g}" for stage in value)
            else:
                values[name] = value
        if self.expect:
            values["expect"] = "; ".join(self.expect)
        if self.abort_if is not None:
            values["abort_if"] = self.abort_if
        return values


def load_scenario_file(path: Path) -> ScenarioFile:
    """The validated file; its expectation lines are checked here too, naming the file."""
    scenario = load_yaml(path, ScenarioFile)
    for index, line in enumerate(scenario.expect):
        parse_expectation(line, source=f"{path}: expect.{index}")
    if scenario.abort_if is not None:
        parse_abort_rule(scenario.abort_if, source=f"{path}: abort_if")
    return scenario


def apply_scenario_file(options: argparse.Namespace, defaults: dict[str, object]) -> argparse.Namespace:
    """`options` with the file of `options.scenario` applied where an option is at its default."""
    path = Path(options.scenario)
    merged = argparse.Namespace(**vars(options))
    for name, value in load_scenario_file(path).options(path.parent).items():
        if getattr(options, name) == defaults[name]:
            setattr(merged, name, value)
    return merged
