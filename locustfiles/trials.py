"""Trials: `--trials N` runs the same scenario N times, each a run of its own.

Each trial is a child `locust` process with the same command line, writing into
`<group>/trial-<k>/` with `--seed` plus k - 1 (a fresh deployment and its own seed each time).
The group directory is `--results-dir`, or `results/<deployment>/<failure>-trials-<stamp>`.
When the trials are done the group is rendered (`group_summary.*`, `group_report.html`) with
the trials summary (`trials_summary.*`: mean, min, max, p95 and 95% interval of Failed,
Recovery Time and Client Outage), and expectations over the trials
(`recovery_time_s.p95 <= 10`) are checked. SIGINT or SIGTERM ends the trial under way cleanly
(it is forwarded) and starts no other.

The exit code is that of a single run: 130 or 143 when interrupted, 2 when a trial found bad
input, 1 when a trial or an expectation over the trials failed, else 0.

From the web UI's form, Start runs the same trials in the background of the UI's process, with
the form's options (`headless_argv`); the Chaos tab shows them and Stop interrupts them.
"""

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import gevent
import gevent.event

from faultsuite.layout import TrialsLayout
from gate.ci_outputs import write_junit
from gate.expectations import Outcome, evaluate_trials
from locustfiles.options import option_defaults
from locustfiles.scenario import DEFAULT_RESULTS_ROOT, TRIAL_VARIABLE, Scenario
from reports.render import render_group

__all__ = ["Trials", "headless_argv", "run_trials", "without_options"]

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


def headless_argv(options) -> list[str]:
    """A headless command line with the suite options of `options` (parsed, or filled in by the
    web UI's form): the locustfile, `--host` when given, and every suite option that differs
    from its default, as `--name value` (or the bare flag of a true switch)."""
    argv = ["-f", str(options.locustfile), "--headless"]
    if options.host:
        argv += ["--host", str(options.host)]
    for dest, default in option_defaults().items():
        value = getattr(options, dest, default)
        if value == default or value is None:
            continue
        flag = "--" + dest.replace("_", "-")
        if isinstance(default, bool):
            argv += [flag] if value else []
        else:
            argv += [flag, str(value)]
    return argv


class Trials:
    """The trials of one scenario, run one after another by `run()` (see the module docstring);
    `interrupt(sig)` forwards a signal to the trial under way and starts no other. `done` (and
    the event `finished`) once `run()` returned, with its exit code in `exit_code`."""

    def __init__(self, scenario: Scenario, argv: list[str]) -> None:
        self.scenario = scenario
        self.layout = TrialsLayout(group_directory(scenario))
        self.base = without_options(argv, REPLACED_OPTIONS)
        self.interrupted: list[signal.Signals] = []
        self.started = 0  # trials begun so far
        self.exit_code: int | None = None
        self._child: subprocess.Popen | None = None
        self.finished = gevent.event.Event()

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def interrupt(self, sig: signal.Signals) -> None:
        self.interrupted.append(sig)
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(sig)

    def run(self) -> int:
        """Run the trials and render their group; returns the exit code, also kept."""
        try:
            self.exit_code = self._run()
        except BaseException:
            self.exit_code = 1
            raise
        finally:
            self.finished.set()
        return self.exit_code

    def _run(self) -> int:
        scenario, layout = self.scenario, self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        codes = []
        for k in range(1, scenario.trials + 1):
            if self.interrupted:
                break
            command = [sys.executable, "-m", "locust", *self.base, "--results-dir", str(layout.trial(k)), "--seed", str(scenario.load.seed + k - 1)]
            print(f"trial {k} of {scenario.trials}: {layout.trial(k)}", flush=True)
            self.started = k
            self._child = subprocess.Popen(command, env={**os.environ, TRIAL_VARIABLE: str(k)}, stdin=subprocess.DEVNULL)
            codes.append(self._child.wait())
            self._child = None
            if codes[-1] == 2:
                break  # bad input: every other trial would say the same
        runs = render_group(layout.root, trials=True)
        outcomes = evaluate_trials(list(scenario.expectations), [run.summary for run in runs])
        outcomes += [Outcome(f"trial {k}", code == 0, f"trial {k}: exit code {code}") for k, code in enumerate(codes, start=1)]
        for outcome in outcomes:
            if not outcome.passed:
                sys.stderr.write(f"expectation failed: {outcome.reason}\n")
        if scenario.junit is not None:
            write_junit(outcomes, scenario.junit, f"{scenario.deployment_name}.{scenario.failure_name}.trials", None)
        print(f"\n{layout.trials_md.read_text(encoding='utf-8')}\nTrials: {layout.root}\nReport: {layout.report}\n", flush=True)
        if self.interrupted:
            return 128 + self.interrupted[0].value
        if 2 in codes:
            return 2
        return 1 if any(not o.passed for o in outcomes) else 0


def run_trials(scenario: Scenario, argv: list[str]) -> int:
    """Run `scenario.trials` trials of the command line `argv` (Locust's arguments) in this
    process, SIGINT and SIGTERM forwarded to the trial under way; returns the exit code."""
    trials = Trials(scenario, argv)
    handlers = [gevent.signal_handler(sig, trials.interrupt, sig) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        return trials.run()
    finally:
        for handler in handlers:
            handler.cancel()
