"""Expectations: what a CI load stage requires of a run, checked against its summary.

An expectation is one line, `METRIC OP NUMBER` or `no_errors`, for example:

    failed <= 2              failed_pct <= 5            success_rate_pct >= 95
    recovery_time_s <= 10    latency_ratio <= 1.5       violations_after <= 0

`no_log "PATTERN"` requires that no line of any component's `output.log` or `error.log`
matches the regular expression PATTERN (`no_log "panicked at"`, `no_log 'Traceback'`); it
cannot hold a `;`, which separates expectations.

`OP` is one of `<=`, `<`, `>=`, `>`, `==`. `--expect` takes several, separated by `;`; a
scenario file lists them under `expect:`. Each is evaluated once the run has ended; a metric
that has no value (no recovery, no latency after the fault) fails its expectation, with the
reason.

With `--trials N`, a metric may name a statistic over the trials (`reports.summary`'s
`trial_stats`): `recovery_time_s.p95 <= 10`, `failed.mean <= 2`, `recovery_time_s.ci_high <= 8`
(`mean`, `min`, `max`, `p95`, `ci_low`, `ci_high`). Such a line is checked once, over every
trial (`evaluate_trials`); a line without one is checked in each trial.
"""

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faultsuite.errors import ConfigError
from reports.summary import Summary, trial_stats

__all__ = ["METRICS", "TRIAL_STATISTICS", "Expectation", "LogExpectation", "Outcome", "evaluate", "evaluate_trials", "parse_expectation", "parse_expectations"]

#: What a trials expectation may take of a metric's values over the trials.
TRIAL_STATISTICS = ("mean", "min", "max", "p95", "ci_low", "ci_high")


def _total(s: Summary) -> int:
    return s.success + s.failed


def _failed_pct(s: Summary) -> float | None:
    return 100.0 * s.failed / _total(s) if _total(s) else None


def _success_rate_pct(s: Summary) -> float | None:
    return 100.0 * s.success / _total(s) if _total(s) else None


def _latency_ratio(s: Summary) -> float | None:
    if s.latency_before is None or s.latency_after is None or s.latency_before <= 0:
        return None
    return s.latency_after / s.latency_before


def _cascade_ratio(s: Summary) -> float | None:
    before, during = s.in_flight_unfaulted_before, s.in_flight_unfaulted_during
    if before is None or during is None or before <= 0:
        return None
    return during / before


#: Metric name → (what it is, how to read it from a summary; None: not measured).
METRICS: dict[str, tuple[str, Callable[[Summary], float | None]]] = {
    "failed": ("requests that failed", lambda s: s.failed),
    "failed_pct": ("percent of requests that failed", _failed_pct),
    "success_rate_pct": ("percent of requests that succeeded", _success_rate_pct),
    "recovery_time_s": ("Recovery Time (s)", lambda s: s.recovery_time),
    "latency_ratio": ("Latency After / Latency Before", _latency_ratio),
    "violations_after": ("SLA violations after the fault", lambda s: s.violations_after),
    "client_outage_s": ("client-visible outage (s)", lambda s: s.client_outage_s),
    "bad_rejected_pct": ("percent of bad requests answered with a 4xx", lambda s: s.bad_requests_rejected_pct),
    "bad_reject_max_s": ("slowest rejection of a bad request (s)", lambda s: s.bad_request_max_reject_s),
    "rss_growth_mib_per_min": ("largest memory growth of a component (MiB/min)", lambda s: s.max_rss_growth_mib_per_min),
    "cascade_ratio": ("In Flight Unfaulted During / Before", _cascade_ratio),
    "silent_stall_s": ("longest time health said ok while nothing was served (s)", lambda s: s.silent_stall_s),
}

#: Former metric names, still read: Client Outage was called Client Recovery.
ALIASES = {"client_recovery_s": "client_outage_s"}

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}

_LINE = re.compile(r"^\s*([a-z_]+)(?:\.([a-z_0-9]+))?\s*(<=|>=|==|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Expectation:
    metric: str
    op: str
    threshold: float
    statistic: str | None = None  # over trials: one of TRIAL_STATISTICS

    @property
    def text(self) -> str:
        if (self.metric, self.op, self.threshold, self.statistic) == ("failed", "==", 0, None):
            return "no_errors"
        name = self.metric if self.statistic is None else f"{self.metric}.{self.statistic}"
        return f"{name} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class LogExpectation:
    """`no_log "PATTERN"`: no line of any component's `output.log` or `error.log` in the run
    matches the regular expression PATTERN (e.g. `no_log "panicked at"`)."""

    pattern: str
    statistic = None  # always about one run's own logs

    @property
    def text(self) -> str:
        return f"no_log {json.dumps(self.pattern)}"


@dataclass(frozen=True)
class Outcome:
    """One check's verdict, for the console, JUnit and the step summary. `reason` is one line:
    what was expected and what was measured."""

    name: str
    passed: bool
    reason: str


#: A component's log is read no further than this for a `no_log` check.
LOG_BYTES = 256 * 1024 * 1024


def _log_matches(pattern: str, run_dir: Path) -> list[tuple[str, str]]:
    """(log file relative to the run, line) for every line matching `pattern`."""
    regex = re.compile(pattern)
    found = []
    for log in sorted(run_dir.glob("*/*.log")):
        if log.name not in ("output.log", "error.log"):
            continue
        with log.open("r", encoding="utf-8", errors="replace") as lines:
            read = 0
            for line in lines:
                read += len(line)
                if read > LOG_BYTES:
                    break
                if regex.search(line):
                    found.append((str(log.relative_to(run_dir)), line.strip()))
    return found


def _check_logs(expectation: LogExpectation, run_dir: Path | None) -> Outcome:
    if run_dir is None:
        return Outcome(expectation.text, False, f"{expectation.text}: failed (no run directory to read the logs of)")
    found = _log_matches(expectation.pattern, run_dir)
    if not found:
        return Outcome(expectation.text, True, f"{expectation.text}: met (no component's log has it)")
    where, line = found[0]
    return Outcome(expectation.text, False, f"{expectation.text}: failed ({len(found)} lines; the first in {where}: {line[:200]})")


_NO_LOG = re.compile(r"""^\s*no_log\s+(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')\s*$""")


def parse_expectation(line: str, source: str = "--expect") -> "Expectation | LogExpectation":
    """One expectation from its line; ConfigError naming `source` and the line otherwise."""
    if line.strip() == "no_errors":
        return Expectation("failed", "==", 0)
    if line.strip().startswith("no_log"):
        log_match = _NO_LOG.match(line)
        if log_match is None:
            raise ConfigError(f"{source}: cannot read {line.strip()!r}; expected no_log \"PATTERN\" (a regular expression in quotes)")
        pattern = log_match["double"] if log_match["double"] is not None else log_match["single"]
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{source}: {line.strip()!r}: not a regular expression ({exc})") from None
        return LogExpectation(pattern)
    match = _LINE.match(line)
    if match is None:
        raise ConfigError(f"{source}: cannot read {line.strip()!r}; expected METRIC OP NUMBER (e.g. 'failed <= 2') or no_errors")
    metric, statistic, op, number = match.groups()
    metric = ALIASES.get(metric, metric)
    if metric not in METRICS:
        raise ConfigError(f"{source}: unknown metric {metric!r} in {line.strip()!r}; known: {', '.join(METRICS)}")
    if statistic is not None and statistic not in TRIAL_STATISTICS:
        raise ConfigError(f"{source}: unknown statistic {statistic!r} in {line.strip()!r}; known: {', '.join(TRIAL_STATISTICS)}")
    return Expectation(metric, op, float(number), statistic)


def parse_expectations(text: str, source: str = "--expect") -> list["Expectation | LogExpectation"]:
    """Expectations separated by `;` (blank parts ignored)."""
    return [parse_expectation(part, source) for part in text.split(";") if part.strip()]


def evaluate(expectations: list, summary: Summary, run_dir: Path | None = None) -> list[Outcome]:
    """Each expectation without a statistic checked against the run's summary (a `no_log`
    one, against the component logs in `run_dir`), in order. A run that made no request
    meets no metric: its zeros measure nothing."""
    outcomes = []
    for expectation in expectations:
        if isinstance(expectation, LogExpectation):
            outcomes.append(_check_logs(expectation, run_dir))
            continue
        if expectation.statistic is not None:
            continue  # over trials: evaluate_trials
        if _total(summary) == 0:
            outcomes.append(Outcome(expectation.text, False, f"{expectation.text}: failed (the run made no request, so nothing was measured)"))
            continue
        description, read = METRICS[expectation.metric]
        actual = read(summary)
        passed = actual is not None and math.isfinite(actual) and OPERATORS[expectation.op](actual, expectation.threshold)
        measured = "not measured" if actual is None else f"{actual:.4g}"
        reason = f"{expectation.text}: {'met' if passed else 'failed'} ({description}: {measured})"
        outcomes.append(Outcome(expectation.text, passed, reason))
    return outcomes


def evaluate_trials(expectations: list[Expectation], summaries: list[Summary]) -> list[Outcome]:
    """Each expectation with a statistic checked against that statistic of its metric over
    the trials' summaries (trials that made no request give the metric no value)."""
    outcomes = []
    for expectation in expectations:
        if expectation.statistic is None or isinstance(expectation, LogExpectation):
            continue
        description, read = METRICS[expectation.metric]
        stats = trial_stats(read(s) if _total(s) else None for s in summaries)
        actual = getattr(stats, expectation.statistic)
        passed = actual is not None and math.isfinite(actual) and OPERATORS[expectation.op](actual, expectation.threshold)
        measured = "not measured" if actual is None else f"{actual:.4g}"
        reason = f"{expectation.text}: {'met' if passed else 'failed'} ({expectation.statistic} of {description} over {len(summaries)} trials: {measured})"
        outcomes.append(Outcome(expectation.text, passed, reason))
    return outcomes
