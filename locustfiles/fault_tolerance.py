"""Fault-tolerance run: `locust -f locustfiles/fault_tolerance.py --headless`.

With no options it launches the embedded `agg-dp4` graph, runs 8 clients × 20 streaming
chat requests, SIGKILLs one decode worker 5 s in, and prints the summary table. See the
README for the options; they also appear in Locust's web UI.
"""

import logging
import signal
import sys

import gevent
from locust import events
from locust.runners import WorkerRunner

from deployments.factory import check_before_launch
from deployments.probes import check_answers
from faultsuite.errors import ConfigError
from faultsuite.secrets import RedactingFilter, redact_text, redact_url
from locustfiles.chat_user import ChatUser
from locustfiles.open_loop_user import OpenLoopUser
from locustfiles.discovery import deployment_lines, failure_lines, validation_lines
from locustfiles.distributed import drain_workers
from locustfiles.fault_agent import registry_of
from locustfiles.options import add_options
from locustfiles.run import FaultToleranceRun, controller_of, controllers
from locustfiles.scenario import Scenario, in_a_trial, scenario_from_options
from locustfiles.shape import ClientsShape
from locustfiles.trials import Trials, headless_argv, run_trials
from locustfiles.web_ui import install as install_web_ui

__all__ = ["ChatUser", "ClientsShape", "OpenLoopUser"]

log = logging.getLogger("fault_tolerance")

PROGRESS_INTERVAL_S = 2.0

UNUSED_HOST = "http://127.0.0.1:9"  # the discard port: a placeholder that is never contacted


def check_endpoint(scenario: Scenario) -> None:
    """Before any load is sent: an endpoint given alone (`--host`) must answer, and so must an
    attached deployment, whose selectors must match too."""
    if scenario.deployment is not None:
        check_before_launch(scenario.deployment, scenario.deployment_source)
    elif scenario.host is not None:
        check_answers(scenario.host, f"--host {redact_url(scenario.host)}: endpoint")


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    add_options(parser)
    # Its Start launches processes and kills them, and it has no login of its own: loopback
    # unless another address is asked for (then put --web-login or a proxy in front).
    parser.set_defaults(web_host="127.0.0.1")


@events.init.add_listener
def _list_or_validate(environment, **_kwargs) -> None:
    """`--list-deployments`, `--list-failures` and `--validate` print and exit, headless or
    not, before anything starts: 0, or 2 with one line for bad input. (`--suite-help` does so
    earlier, as the command line is read: `locustfiles.options`.)"""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    if not (options.list_deployments or options.list_failures or options.validate):
        return
    try:
        lines = deployment_lines() if options.list_deployments else []
        lines += failure_lines() if options.list_failures else []
        lines += validation_lines(scenario_from_options(options)) if options.validate else []
    except ConfigError as exc:
        sys.stderr.write(f"error: {redact_text(str(exc))}\n")
        sys.stderr.flush()
        sys.exit(2)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    sys.exit(0)


@events.init.add_listener
def _validate_headless(environment, **_kwargs) -> None:
    """Bad input stops a headless run before anything starts: one line, exit code 2. Locust's
    stats tables every 2 s are off unless `--print-stats` asks for them: the suite's progress
    line says what they would, and its summary table comes at the end."""
    options = environment.parsed_options
    if options is None or not options.headless or isinstance(environment.runner, WorkerRunner):
        return
    controller_of(environment).headless = True
    if not options.print_stats:
        options.only_summary = True
    try:
        scenario = scenario_from_options(options)
        check_endpoint(scenario)
    except ConfigError as exc:
        sys.stderr.write(f"error: {redact_text(str(exc))}\n")
        sys.stderr.flush()
        sys.exit(2)
    if scenario.trials > 1 and not in_a_trial():
        # This process runs no load itself: each trial is a run of its own (locustfiles.trials).
        sys.exit(run_trials(scenario, sys.argv[1:]))


@events.init.add_listener
def _redact_logs(**_kwargs) -> None:
    """Nothing that looks like a key reaches a log line (see faultsuite.secrets)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())


@events.init.add_listener
def _end_cleanly_on_signals(environment, **_kwargs) -> None:
    """SIGINT and SIGTERM end a run as its own end does: load stopped, deployment torn down,
    reports written; then exit 128 + the signal (130, 143), as shells expect. Installed here,
    before Locust starts the load: its own SIGTERM handler comes only after a headless run."""
    if isinstance(environment.runner, WorkerRunner):
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, _interrupted, environment, sig)


def _interrupted(environment, sig: signal.Signals) -> None:
    controller = controller_of(environment)
    if controller.interrupted is not None:
        log.warning("%s again: still stopping; the reports come next (SIGKILL ends at once, leaving them unwritten)", sig.name)
        return
    controller.interrupted = sig.name
    environment.process_exit_code = 128 + sig.value
    if controller.current is not None:
        controller.current.interrupt(sig.name)
    else:
        log.warning("interrupted by %s", sig.name)
    gevent.spawn(environment.runner.quit)


@events.init.add_listener
def _extend_web_ui(environment, **_kwargs) -> None:
    """The Chaos tab and the report link (see locustfiles/web_ui.py); nothing when headless."""
    install_web_ui(environment)


@events.test_start.add_listener
def _start_run(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    controller = controller_of(environment)
    controller.last_trials = None
    try:
        scenario = scenario_from_options(environment.parsed_options)
        check_endpoint(scenario)
        if scenario.trials > 1 and not in_a_trial():
            # The web UI's Start (headless trials never get here, see _validate_headless): each
            # trial a headless child with the form's options, while the UI shows them.
            controller.config_error = None
            controller.trials = Trials(scenario, headless_argv(environment.parsed_options))
            gevent.spawn(controller.trials.run)
            return
        run = FaultToleranceRun(scenario, fault_agents=registry_of(environment.runner))
    except ConfigError as exc:
        log.error("%s", exc)
        controller.config_error = str(exc)
        if controller.headless:
            environment.process_exit_code = 2
            gevent.spawn(environment.runner.quit)
        else:  # the web UI stays up for the next Start; its Chaos tab says why this one failed
            gevent.spawn(environment.runner.stop)
        return
    controller.config_error = None
    controller.current = run
    if controller.interrupted is not None:  # the signal came before the run existed
        run.interrupt(controller.interrupted)
    run.start()
    if run.error is not None:
        environment.process_exit_code = 1
        # Locust spawns the users right after this hook whatever happened, and a FastHttpUser
        # cannot be built without a host; they stop in on_start without sending anything.
        environment.host = environment.host or UNUSED_HOST
        return
    environment.host = run.endpoint
    if environment.parsed_options.headless and not run.dry_run_done:
        gevent.spawn(_report_progress, run)


def _report_progress(run: FaultToleranceRun, interval_s: float = PROGRESS_INTERVAL_S) -> None:
    """Log the run's progress line every `interval_s` while the load runs (headless only)."""
    while not run.stopped:
        if run.ready:
            log.info("%s", run.progress())
        gevent.sleep(interval_s)


@events.test_stop.add_listener
def _stop_run(environment, **_kwargs) -> None:
    controller = controller_of(environment)
    if controller.trials is not None:
        trials, controller.trials, controller.last_trials = controller.trials, None, controller.trials
        if not trials.done:
            # Stop in the UI, or a signal: the trial under way ends cleanly and the group is
            # rendered before this process may exit.
            trials.interrupt(signal.SIGINT)
            trials.finished.wait()
        return
    run = controller.current
    if run is None:
        if controller.last is not None:
            # A stop already under way (a signal's, while Locust's own SIGTERM handler shuts
            # down too): the process must not exit before its reports are written.
            controller.last.finished.wait()
        return
    # Distributed load: the workers' last records are written before the run closes its files.
    drain_workers(environment)
    controller.current, controller.last = None, run
    run.stop()
    if not controller.headless and run.closing_text is not None:
        print(run.closing_text, flush=True)  # the web UI runs on: each run's table as it ends
    if environment.process_exit_code is None:
        # Failed requests are what a fault-tolerance run measures, not a failure of the run;
        # an unmet expectation is, and so is output that never reached the disk.
        lost = run.records_lost is not None or bool(run.write_errors)
        environment.process_exit_code = 1 if lost or any(not o.passed for o in run.outcomes) else 0


@events.quit.add_listener
def _report_run_error(**_kwargs) -> None:
    """A run that could not start, or missed an expectation, ends with one line per reason,
    after Locust's stats; a headless run's summary table and paths come last of all."""
    for controller in controllers():
        if controller.config_error is not None:
            sys.stderr.write(f"error: {redact_text(controller.config_error)}\n")
        run = controller.last
        if run is None:
            continue
        if run.error is not None:
            sys.stderr.write(f"error: {redact_text(run.error)}\n")
        if run.records_lost is not None:
            sys.stderr.write(f"error: {run.records_lost}\n")
        for line in run.write_errors:
            sys.stderr.write(f"error: {line}\n")
        if run.interrupted is not None and run.summary is not None:
            sys.stderr.write(f"interrupted by {run.interrupted}: the reports of what ran are in {run.run_dir}\n")
        for outcome in run.outcomes:
            if not outcome.passed:
                sys.stderr.write(f"expectation failed: {outcome.reason}\n")
        sys.stderr.flush()
        if run.closing_text is not None and controller.headless:
            print(run.closing_text, flush=True)
