"""Trials: `--trials N` runs the same scenario N times, each a run of its own.

Each trial is a child `locust` process with the same command line, writing into
`<group>/trial-<k>/` with `--seed` plus k - 1 (a fresh deployment and its own seed each time).
The group directory is `--results-dir`, or `results/<deployment>/<failure>-trials-<stamp>`.
When the trials are done the group is rendered (`group_summary.*`, `group_report.html`) with
the trials summary (`trials_summary.*`: mean, min, max, p95 and 95% interval of Failed,
Recovery Time and Client Recovery), and expectations over the trials
(`recovery_time_s.p95 <= 10`) are checked. SIGINT or SIGTERM ends the trial under way cleanly
(it is forwarded) and starts no other.

The exit code is that of a single run: 130 or 143 when interrupted, 2 when a trial found bad
input, 1 when a trial or an expectation over the trials failed, else 0.
"""

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import gevent

from faultsuite.layout import TrialsLayout
from gate.ci_outputs import write_junit
from gate.expectations import Outcome, evaluate_trials
from locustfiles.scenario import DEFAULT_RESULTS_ROOT, TRIAL_VARIABLE, Scenario
from reports.render import render_group

__all__ = ["run_trials", "without_options"]

#: Options each trial gets anew (its own directory and seed; no trials of its own; JUnit is the group's).
REPLACED_OPTIONS = ("--results-dir", "--seed", "--trials", "--junit")


def without_options(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`argv` without `options`, written `--name value` or `--name=value`."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in options)):
            kept.append(arg)
    return kept


def group_directory(scenario: Scenario) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return scenario.results_dir or DEFAULT_RESULTS_ROOT / scenario.deployment_name / f"{scenario.failure_name}-trials-{stamp}"


def run_trials(scenario: Scenario, argv: list[str]) -> int:
    """Run `scenario.trials` trials of the command line `argv` (Locust's arguments), then
    render their group; returns the exit code."""
    layout = TrialsLayout(group_directory(scenario))
    layout.root.mkdir(parents=True, exist_ok=True)
    base = without_options(argv, REPLACED_OPTIONS)
    interrupted: list[signal.Signals] = []
    current: list[subprocess.Popen] = []

    def forward(sig: signal.Signals) -> None:
        interrupted.append(sig)
        for child in current:
            child.send_signal(sig)

    handlers = [gevent.signal_handler(sig, forward, sig) for sig in (signal.SIGINT, signal.SIGTERM)]
    codes = []
    try:
        for k in range(1, scenario.trials + 1):
            if interrupted:
                break
            command = [sys.executable, "-m", "locust", *base, "--results-dir", str(layout.trial(k)), "--seed", str(scenario.load.seed + k - 1)]
            print(f"trial {k} of {scenario.trials}: {layout.trial(k)}", flush=True)
            child = subprocess.Popen(command, env={**os.environ, TRIAL_VARIABLE: str(k)}, stdin=subprocess.DEVNULL)
            current[:] = [child]
            codes.append(child.wait())
            current.clear()
            if codes[-1] == 2:
                break  # bad input: every other trial would say the same
    finally:
        for handler in handlers:
            handler.cancel()
    runs = render_group(layout.root, trials=True)
    outcomes = evaluate_trials(list(scenario.expectations), [run.summary for run in runs])
    outcomes += [Outcome(f"trial {k}", code == 0, f"trial {k}: exit code {code}") for k, code in enumerate(codes, start=1)]
    for outcome in outcomes:
        if not outcome.passed:
            sys.stderr.write(f"expectation failed: {outcome.reason}\n")
    if scenario.junit is not None:
        write_junit(outcomes, scenario.junit, f"{scenario.deployment_name}.{scenario.failure_name}.trials", None)
    print(f"\n{layout.trials_md.read_text(encoding='utf-8')}\nTrials: {layout.root}\nReport: {layout.report}\n", flush=True)
    if interrupted:
        return 128 + interrupted[0].value
    if 2 in codes:
        return 2
    return 1 if any(not o.passed for o in outcomes) else 0
