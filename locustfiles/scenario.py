"""The scenario of one run: which deployment, which failure, what load; validated before launch.

Built from Locust's parsed options (command line, config file or web UI form), so every
problem a user can make is found here and reported as one ConfigError line.
"""

import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from chaos.models import Failure, load_catalogue
from deployments.backend_registry import require_backends
from deployments.factory import with_endpoint
from deployments.models import AnySpec, load_deployment
from faultsuite.errors import ConfigError
from gate.abort import AbortRule, parse_abort_rule
from gate.expectations import Expectation, parse_expectations
from locustfiles.arrivals import ARRIVALS, Arrival, RateStage, arrival_offsets
from locustfiles.options import MAXIMA, option_defaults
from locustfiles.trace import TraceRequest, load_trace
from locustfiles.scenario_file import apply_scenario_file

__all__ = ["DEMO_DEPLOYMENT", "DEMO_FAILURE", "LoadSettings", "Scenario", "scenario_from_options"]

DEMO_DEPLOYMENT = "agg-dp4"
#: Where runs go when no --results-dir is given (see locustfiles.run.default_run_dir).
DEFAULT_RESULTS_ROOT = Path("results")
#: Set (to k) in the environment of trial k's process (see locustfiles.trials).
TRIAL_VARIABLE = "FAULTSUITE_TRIAL"


def in_a_trial() -> bool:
    """Whether this process is one trial of a `--trials N` group."""
    return TRIAL_VARIABLE in os.environ
DEMO_FAILURE = "decode_worker"


@dataclass(frozen=True)
class LoadSettings:
    clients: int
    ramp_up_s: float
    requests_per_client: int
    max_tokens: int
    prompt: str
    stream: bool
    request_timeout_s: float
    retry_delay_s: float
    sla_latency_s: float
    max_run_time_s: float
    #: Merged into every request body: what the deployment asks for beyond OpenAI's fields.
    extra_body: dict[str, Any] = field(default_factory=dict)
    #: Sent with every request (the deployment's `request.headers`, filled); never written.
    headers: dict[str, str] = field(default_factory=dict)
    #: Open-loop load: the stages of its arrival rate; empty for closed-loop clients.
    rate_stages: tuple[RateStage, ...] = ()
    arrival: Arrival = "poisson"
    max_concurrency: int = 1000
    seed: int = 0
    #: The deployment's `request.integrity`: how each answer's content is checked (None: not).
    integrity: str | None = None
    #: Trace replay: the trace's path ("" for none) and how much faster than recorded to play it.
    trace: str = ""
    trace_speedup: float = 1.0
    #: Open-loop load in distributed mode: one generator per worker process, each sending every
    #: `open_loop_generators`-th arrival (see locustfiles.open_loop_user).
    open_loop_generators: int = 1

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> "LoadSettings":
        """The settings the master sent as `dataclasses.asdict`, through Locust's messages."""
        stages = tuple(RateStage(**stage) for stage in data.get("rate_stages", ()))
        return cls(**{**data, "rate_stages": stages})

    @property
    def open_loop(self) -> bool:
        return bool(self.rate_stages) or bool(self.trace)

    @cached_property
    def trace_requests(self) -> list[TraceRequest]:
        return load_trace(Path(self.trace), self.trace_speedup) if self.trace else []

    @property
    def generators(self) -> int:
        """Locust users that send the load: one per client, or the open-loop generators."""
        return self.open_loop_generators if self.open_loop else self.clients

    @cached_property
    def arrivals(self) -> list[float]:
        """Open-loop arrival offsets, seconds after the load starts: the trace's, or drawn
        (see locustfiles.arrivals)."""
        if self.trace:
            return [request.at_s for request in self.trace_requests]
        return arrival_offsets(list(self.rate_stages), self.arrival, self.seed)

    @property
    def total_requests(self) -> int:
        return len(self.arrivals) if self.open_loop else self.clients * self.requests_per_client

    def start_delay_s(self, client: int) -> float:
        """When client `client` sends its first request, after the load starts."""
        return self.ramp_up_s * client / self.clients


@dataclass(frozen=True)
class Scenario:
    deployment: AnySpec | None  # None: an endpoint someone else runs (`--host`)
    host: str | None
    failure_name: str
    failure: Failure
    load: LoadSettings
    results_dir: Path | None
    model: str
    dry_run_failures: dict[str, Failure] | None = None  # set for --dry-run: what to describe
    expectations: tuple[Expectation, ...] = ()
    abort_rule: AbortRule | None = None
    junit: Path | None = None
    deployment_host: str = "127.0.0.1"  # where a launched deployment listens and is reached
    deployment_source: str = ""  # the --deployment given: a shipped name or a file's path
    trials: int = 1  # how many times to run it (--trials), each a run of its own

    @property
    def deployment_name(self) -> str:
        return self.deployment.name if self.deployment else "external"


def _number(name: str, value, kind=float, *, allow_zero: bool = False):
    """The option's value as a finite number greater than 0 (or at least 0 with
    `allow_zero`), and at most its `MAXIMA`."""
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"--{name}: expected a {'whole ' if kind is int else ''}number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"--{name}: must be a finite number, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise ConfigError(f"--{name}: must be {'at least 0' if allow_zero else 'greater than 0'}, got {value!r}")
    most = MAXIMA[name.replace("-", "_")]
    if number > most:
        raise ConfigError(f"--{name}: must be at most {most:g}, got {value!r}")
    return number


def _can_be_written(path: Path, what: str, *, is_directory: bool) -> None:
    """ConfigError unless `path` (a directory, or a file) can be made and written by this
    process: its nearest existing directory must be writable, and no file in the way."""
    if "\0" in str(path):
        raise ConfigError(f"{what}: a path cannot hold a NUL character")
    existing = path if is_directory else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise ConfigError(f"{what}: {where}; give a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: {existing} is not writable")


def _worker_processes(options) -> int:
    """How many worker processes will send the load: `--processes N` (-1: one per core),
    `--master --expect-workers N`, or 1 for a run in one process."""
    processes = getattr(options, "processes", None)
    if processes:
        return (os.cpu_count() or 1) if processes == -1 else processes
    if getattr(options, "master", False):
        return max(1, getattr(options, "expect_workers", 1) or 1)
    return 1


#: The most open-loop arrivals one run may plan (rate times duration, over its stages).
MAX_ARRIVALS = 10_000_000


def _rate_stages(options) -> tuple[RateStage, ...]:
    """Open-loop stages from --rate-stages, or --rate held for --duration; () for none."""
    stages = _stages_given(options)
    planned = sum(stage.rate * stage.for_s for stage in stages)
    if planned > MAX_ARRIVALS:
        raise ConfigError(f"--rate: {planned:.3g} requests planned (rate x duration); at most {MAX_ARRIVALS:,} in one run")
    return stages


def _stages_given(options) -> tuple[RateStage, ...]:
    if options.rate_stages:
        if options.rate not in (None, ""):
            raise ConfigError("--rate-stages: give it or --rate, not both")
        stages = []
        for part in str(options.rate_stages).split(","):
            rate, colon, seconds = part.partition(":")
            if not colon:
                raise ConfigError(f"--rate-stages: expected RATE:SECONDS, e.g. '5:10,20:30', got {part.strip()!r}")
            stages.append(RateStage(_number("rate", rate.strip()), _number("duration", seconds.strip())))
        return tuple(stages)
    if options.rate in (None, ""):
        return ()
    return (RateStage(_number("rate", options.rate), _number("duration", options.duration)),)


def _arrival(value) -> Arrival:
    arrival = value or "poisson"
    if arrival not in ARRIVALS:
        raise ConfigError(f"--arrival: unknown arrival {arrival!r}; known: {', '.join(ARRIVALS)}")
    return arrival


def _prompt(options) -> str:
    if options.prompt:
        return options.prompt
    words = _number("prompt-tokens", options.prompt_tokens, int)
    return " ".join(f"word{i % 50}" for i in range(words))


def _deployment_host(value) -> str:
    host = str(value or "").strip()
    if not host or any(c in host for c in "/: \0"):
        raise ConfigError(f"--deployment-host: expected a host name or IPv4 address, got {value!r}")
    return host


def scenario_from_options(options) -> Scenario:
    """Validate the parsed options (with `--scenario`'s file applied) into a Scenario; raises
    ConfigError naming the option, or the file and key."""
    if options.scenario:
        options = apply_scenario_file(options, option_defaults())
    host = options.host or None
    deployment_name = options.deployment or (None if host else DEMO_DEPLOYMENT)
    deployment = load_deployment(deployment_name) if deployment_name else None
    if deployment is not None:
        require_backends(deployment.backends)
    if deployment is not None and host:
        deployment = with_endpoint(deployment, host)
    catalogue = load_catalogue()
    failure_name, failure = catalogue.resolve(options.failure or (DEMO_FAILURE if deployment else "none"))
    if deployment is None and failure.injections:
        raise ConfigError(f"--failure {failure_name}: needs --deployment; nothing was launched, so there is no process to fault")
    if options.fault_at not in (None, ""):
        failure = failure.shifted_to(_number("fault-at", options.fault_at, allow_zero=True))
    if options.fault_count not in (None, ""):
        failure = failure.with_count(_number("fault-count", options.fault_count, int))
    seed = _number("seed", options.seed, int, allow_zero=True)
    if seed:
        failure = failure.reseeded(seed)
    max_tokens = _number("max-tokens", options.max_tokens, int)
    rate_stages = _rate_stages(options)
    load = LoadSettings(
        clients=_number("clients", options.clients, int),
        ramp_up_s=_number("ramp-up", options.ramp_up, allow_zero=True),
        requests_per_client=_number("requests-per-client", options.requests_per_client, int),
        max_tokens=max_tokens,
        prompt=_prompt(options),
        stream=not options.no_stream,
        request_timeout_s=_number("request-timeout", options.request_timeout),
        retry_delay_s=_number("retry-delay", options.retry_delay, allow_zero=True),
        sla_latency_s=_number("sla-latency", options.sla_latency),
        max_run_time_s=_number("max-run-time", options.max_run_time),
        extra_body=deployment.request.body_for(max_tokens) if deployment is not None else {},
        headers=deployment.request.header_values(deployment_name or deployment.name) if deployment is not None else {},
        rate_stages=rate_stages,
        arrival=_arrival(options.arrival),
        max_concurrency=_number("max-concurrency", options.max_concurrency, int),
        seed=seed,
        integrity=deployment.request.integrity if deployment is not None else None,
        trace=str(options.trace or ""),
        trace_speedup=_number("trace-speedup", options.trace_speedup),
        open_loop_generators=_worker_processes(options),
    )
    if load.trace:
        if load.rate_stages:
            raise ConfigError("--trace: the trace sets the arrivals; drop --rate and --rate-stages")
        _ = load.trace_requests  # read and checked now: its errors are bad input, before launch
    results_dir = Path(options.results_dir) if options.results_dir else None
    _can_be_written(results_dir or DEFAULT_RESULTS_ROOT, f"--results-dir {results_dir}" if results_dir else "the results directory", is_directory=True)
    if results_dir is not None and results_dir.is_dir() and any(results_dir.iterdir()):
        # Records are appended as they come: a second run here would mix with the first.
        raise ConfigError(f"--results-dir {results_dir}: already holds files; give an empty or new directory")
    junit = Path(options.junit) if options.junit else None
    if junit is not None:
        if junit.is_dir():
            raise ConfigError(f"--junit {junit}: is a directory; give a file to write")
        _can_be_written(junit, f"--junit {junit}", is_directory=False)
    trials = _number("trials", options.trials, int)
    expectations = tuple(parse_expectations(options.expect or ""))
    over_trials = [e.text for e in expectations if e.statistic is not None]
    if over_trials and trials < 2 and not in_a_trial():
        raise ConfigError(f"--expect {over_trials[0]}: a statistic over trials needs --trials 2 or more")
    dry_run_failures = None
    if options.dry_run:
        if deployment is None:
            raise ConfigError("--dry-run: needs --deployment; nothing is launched with --host alone")
        dry_run_failures = {failure_name: failure} if options.failure else dict(catalogue.failures)
    return Scenario(
        dry_run_failures=dry_run_failures,
        deployment=deployment,
        host=host,
        failure_name=failure_name,
        failure=failure,
        load=load,
        results_dir=results_dir,
        model=options.model or (deployment.model if deployment else "default"),
        expectations=expectations,
        trials=trials,
        abort_rule=parse_abort_rule(options.abort_if) if options.abort_if else None,
        junit=junit,
        deployment_host=_deployment_host(options.deployment_host),
        deployment_source=deployment_name or "",
    )
