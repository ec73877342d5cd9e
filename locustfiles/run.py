"""One fault-tolerance run, from test start to test stop, and the controller that holds it.

    test_start: results directory, run.json → Deployment.up() (startup time) → watcher,
                process and GPU samplers → fault timer
    clients:    register, send, record each request as it completes
    test_stop:  fault timer and samplers stop → Deployment.down() → summary and reports

The reports are written even when the run failed or was interrupted: whatever was recorded is
on disk, and they are built from it (`reports.render`, as `python -m reports` does).
"""

import logging
import shutil
import tempfile
import time
import weakref
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import gevent.event

from chaos.agents import FaultAgents
from chaos.injector import FaultScheduler
from chaos.plan import describe_plan
from deployments.factory import open_deployment
from deployments.interface import Deployment
from faultsuite.clock import RunClock
from faultsuite.errors import ConfigError, FaultSuiteError
from faultsuite.events import EventLog
from faultsuite.layout import RunLayout
from faultsuite.manifest import RunManifest, run_title, write_manifest
from faultsuite.records import RecordWriter, RequestRecord, describe_write_error
from faultsuite.secrets import REDACTED, RedactingFilter, redact
from gate.abort import AbortWatch
from gate.ci_outputs import append_step_summary, checks_markdown, write_junit
from gate.expectations import Outcome, evaluate
from locustfiles.scenario import DEFAULT_RESULTS_ROOT, LoadSettings, Scenario
from locustfiles.trials import Trials
from reports.render import render_run
from reports.results import GENERATOR_LAG_NOTE_S, run_notes, summary_markdown
from reports.summary import Summary
from samplers.gpu import GpuSampler
from samplers.processes import ProcessSampler
from samplers.replicas import ReplicaSampler, sampled_roles
from samplers.sampling import CsvSampler
from samplers.watcher import MetricNames, Watcher

__all__ = ["FaultToleranceRun", "RunController", "controller_of", "controllers"]

log = logging.getLogger(__name__)


def _as_written(load: LoadSettings) -> dict:
    """The load settings as run.json holds them: header values never, other credentials
    redacted."""
    settings = redact(asdict(load))
    settings["headers"] = dict.fromkeys(load.headers, REDACTED)
    return settings


def default_run_dir(scenario: Scenario) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return DEFAULT_RESULTS_ROOT / scenario.deployment_name / f"{scenario.failure_name}-{stamp}"


class FaultToleranceRun:
    """Owns one run's clock, results directory, manifest, deployment, chaos, samplers and records."""

    def __init__(self, scenario: Scenario, fault_agents: FaultAgents | None = None):
        """`fault_agents`: how faults reach the fault agents of other hosts (a master's)."""
        self.scenario = scenario
        self.fault_agents = fault_agents
        self.clock = RunClock()
        # A dry run leaves nothing behind unless a --results-dir asks for its events and logs;
        # one that failed to launch keeps them, for the error line to point at.
        self.scratch = scenario.dry_run_failures is not None and scenario.results_dir is None
        if self.scratch:
            self.run_dir = Path(tempfile.mkdtemp(prefix="faultsuite-dry-run-"))
        else:
            self.run_dir = scenario.results_dir or default_run_dir(scenario)
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"results directory {self.run_dir}: cannot be written ({describe_write_error(exc)})") from None
        self.layout = RunLayout(self.run_dir)
        self.events = EventLog(self.layout.events, self.clock)
        self.manifest = RunManifest(
            deployment=scenario.deployment_name,
            failure=scenario.failure_name,
            sla_latency_s=scenario.load.sla_latency_s,
            started_at=self.clock.wall_origin,
            load=_as_written(scenario.load),
        )
        write_manifest(self.manifest, self.run_dir)
        self.deployment: Deployment | None = None
        self.samplers: list[CsvSampler] = []
        self.scheduler: FaultScheduler | None = None
        self.endpoint = scenario.host
        self.load_started_at: float | None = None
        self.first_client_at_s: float | None = None
        self.error: str | None = None
        self.interrupted: str | None = None  # the signal that ended it early
        self.records_lost: str | None = None  # one line: from which request on, and why
        self.write_errors: list[str] = []  # outputs that could not be written, one line each
        self.dry_run_done = False
        self.stopped = False
        self.finished = gevent.event.Event()  # set once stop() has written what it could
        self.summary: Summary | None = None
        #: The summary table and where the results and report are, for the terminal, once written.
        self.closing_text: str | None = None
        self.abort_watch = AbortWatch(scenario.abort_rule) if scenario.abort_rule else None
        self.outcomes: list[Outcome] = []  # the expectations' and abort rule's, once stopped
        self._writers: dict[int, RecordWriter | None] = {}
        self._done = self._failed = 0
        self._finished: set[int] = set()
        self._log_handler = logging.FileHandler(self.layout.log, encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._log_handler.addFilter(RedactingFilter())
        logging.getLogger().addHandler(self._log_handler)

    @property
    def title(self) -> str:
        return run_title(self.scenario.deployment_name, self.scenario.failure_name)

    # -- start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Launch (or attach), then start the samplers and the fault timer. Never raises."""
        scenario = self.scenario
        log.info("run %s × %s into %s", scenario.deployment_name, scenario.failure_name, self.run_dir)
        startup_time_s = None
        try:
            spec = scenario.deployment
            if spec is not None:
                self.deployment = open_deployment(spec, self.run_dir, self.events, host=scenario.deployment_host, source=scenario.deployment_source)
                startup_time_s = self.deployment.up()
                self.endpoint = self.deployment.endpoint
                startup = "attached" if startup_time_s is None else f"ready in {startup_time_s:.2f} s"
                replicas = ", ".join(f"{r.name} pid {r.pid}" for r in self.deployment.replicas)
                log.info("deployment %s %s at %s: %s", spec.name, startup, self.endpoint, replicas)
        except FaultSuiteError as exc:
            self._launch_failed(str(exc))
            return
        except OSError as exc:  # no free port, or an address nothing can listen on
            self._launch_failed(f"deployment {scenario.deployment_name} on {scenario.deployment_host}: {exc.strerror or exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a launch that broke unforeseen is still a failed run, told in one line
            log.debug("launch failed", exc_info=True)
            self._launch_failed(f"unexpected {type(exc).__name__}: {exc}")
            return
        self._update_manifest(startup_time_s=startup_time_s)
        if self.stopped:  # the run was stopped while the deployment came up: start nothing
            return
        if scenario.dry_run_failures is not None and self.deployment is not None:
            plan = "\n".join(describe_plan(self.deployment, scenario.dry_run_failures))
            log.info("%s", plan)
            print(f"\n{plan}\n", flush=True)
            self.dry_run_done = True
            return
        self._start_samplers()
        self.load_started_at = self.clock.offset()
        self._update_manifest(load_started_offset_s=self.load_started_at)
        if self.deployment is not None:
            self.scheduler = FaultScheduler(scenario.failure_name, scenario.failure, self.deployment, self.clock, self.fault_agents)
            self.scheduler.start(self.load_started_at)

    def _launch_failed(self, error: str) -> None:
        self.error = error
        log.error("launch failed: %s", error)
        self._update_manifest(error=error)

    def _update_manifest(self, **changes) -> None:
        """Change the manifest and rewrite run.json; a write that fails is one line, once."""
        self.manifest = self.manifest.updated(**changes)
        try:
            write_manifest(self.manifest, self.run_dir)
        except OSError as exc:
            name = self.layout.manifest.name
            if not any(line.startswith(name) for line in self.write_errors):
                self._write_failed(f"{name} not brought up to date: {describe_write_error(exc)}")

    def _start_samplers(self) -> None:
        """The watcher (when the deployment has metrics), the replica sampler (when a role
        declares its replicas' metrics), and the process and GPU samplers."""
        deployment, layout = self.deployment, self.layout
        if deployment is not None and deployment.spec.metrics is not None and deployment.metrics_url is not None:
            metrics = deployment.spec.metrics
            names = MetricNames(pending=metrics.pending, active_workers=metrics.active_workers, migrations=metrics.migrations)
            self.samplers.append(Watcher(deployment.metrics_url, names, layout.watcher, self.clock))
        if deployment is not None:
            self.samplers.append(ProcessSampler(deployment, layout.processes, self.clock))
            if sampled_roles(deployment):
                self.samplers.append(ReplicaSampler(deployment, layout.replicas, self.clock, self.events))
        gpu = GpuSampler(layout.gpu, self.clock, deployment)
        self.samplers.append(gpu)
        for sampler in self.samplers:
            sampler.start()
        self._update_manifest(gpu_note=gpu.note)

    # -- clients ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.load_started_at is not None and self.error is None

    def register_client(self) -> int:
        """A new client's id, 0 first; the first one's registration is the offset open-loop
        arrivals count from (`first_client_at_s`), for every generator of the run."""
        if self.first_client_at_s is None:
            self.first_client_at_s = self.clock.offset()
        client_id = len(self._writers)
        try:
            self._writers[client_id] = RecordWriter(self.layout.client_records(client_id))
        except OSError as exc:
            self._writers[client_id] = None
            self._lose_records(exc)
        return client_id

    def record(self, record: RequestRecord) -> None:
        """Write one record; a write that fails stops the load (see `_lose_records`)."""
        writer = self._writers[record.client]
        if writer is None or self.records_lost is not None:
            return  # lost already, counted in the one line that said so
        try:
            writer.write(record)
        except OSError as exc:
            self._lose_records(exc)
            return
        self._done += 1
        self._failed += not record.ok
        if self.abort_watch is not None:
            self.abort_watch.observe(record)

    def _lose_records(self, exc: OSError) -> None:
        """Records no longer reach the disk: say from which request on, once, and stop the
        load, since requests whose records are lost would only be numbers nobody sees."""
        if self.records_lost is not None:
            return
        self.records_lost = f"records lost from request {self._done + 1} on: {describe_write_error(exc)}"
        log.error("%s; stopping the load", self.records_lost)
        self._update_manifest(records_lost=self.records_lost)

    def interrupt(self, signal_name: str) -> None:
        """A signal asked the run to end now: stop the load, then tear down and write the
        reports as at any other end."""
        if self.interrupted is not None:
            return
        self.interrupted = signal_name
        log.warning("interrupted by %s; stopping the run, then writing its reports", signal_name)
        self._update_manifest(interrupted=signal_name)

    def client_finished(self, client_id: int) -> None:
        self._finished.add(client_id)

    def all_clients_finished(self) -> bool:
        return len(self._finished) >= self.scenario.load.generators

    def note_generator_lag(self, lag_s: float) -> None:
        """The open-loop generator fell `lag_s` behind its schedule at worst: past
        GENERATOR_LAG_NOTE_S that is one line now, and a note in the summary and the report."""
        self._update_manifest(generator_lag_s=round(lag_s, 6))
        if lag_s > GENERATOR_LAG_NOTE_S:
            log.warning("the load generator fell behind its schedule by up to %.3f s: the offered rate was not met", lag_s)

    def progress(self) -> str:
        """One line for headless runs: requests done of the total, failures so far, before or
        after the first fault, and when the next fault comes."""
        line = f"progress: {self._done} of {self.scenario.load.total_requests} requests done, {self._failed} failed"
        if not self.scenario.failure.injections:
            return line + ", no fault planned"
        faulted = any(e.delivered_fault for e in self.events.events)
        line += ", after the fault" if faulted else ", before the fault"
        next_in = self.scheduler.next_fault_in_s() if self.scheduler is not None else None
        return line + ("" if next_in is None else f"; next fault in {next_in:.0f} s")

    def load_elapsed_s(self) -> float:
        return 0.0 if self.load_started_at is None else self.clock.offset() - self.load_started_at

    def should_stop(self) -> bool:
        """The load is over: launch failed, a dry run was described, every client is done,
        or max run time passed. Never while the deployment is still launching."""
        if self.error is not None or self.dry_run_done or self.all_clients_finished():
            return True
        if self.interrupted is not None or self.records_lost is not None:
            return True
        if self.abort_watch is not None and self.load_started_at is not None:
            was_triggered = self.abort_watch.triggered is not None
            reason = self.abort_watch.check(self.clock.offset(), self.load_started_at)
            if reason is not None:
                if not was_triggered:
                    log.warning("aborting the run: %s", reason)
                return True
        if self.load_elapsed_s() > self.scenario.load.max_run_time_s:
            log.warning("max run time %.0f s reached; stopping", self.scenario.load.max_run_time_s)
            return True
        return False

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> Summary | None:
        """Stop chaos and the samplers, tear down, then write the summary and reports; the
        summary, or None when it could not be written."""
        self.stopped = True
        try:
            if self.scheduler is not None:
                self.scheduler.stop()
            for sampler in self.samplers:
                sampler.stop()
            if self.deployment is not None:
                self.deployment.down()
        finally:
            for writer in self._writers.values():
                if writer is not None:
                    self._closing(writer)
            self.events.close()
            self._update_manifest(ended_at=self.clock.wall())
            if self.scenario.dry_run_failures is None:
                try:
                    self.summary = self._write_reports()
                except OSError as exc:
                    self._write_failed(f"reports not written to {self.run_dir}: {describe_write_error(exc)}; "
                                       f"rebuild them with `python -m reports {self.run_dir}` once it can be written")
                self.outcomes = self._check_expectations(self.summary)
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            if self.scratch and self.error is None:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self.finished.set()
        return self.summary

    def _closing(self, writer: RecordWriter) -> None:
        try:
            writer.close()
        except OSError as exc:  # the last buffered bytes did not make it
            self._lose_records(exc)

    def _write_failed(self, line: str) -> None:
        self.write_errors.append(line)
        log.error("%s", line)

    def _write_reports(self) -> Summary:
        summary = render_run(self.run_dir).summary
        log.info("summary and report written to %s", self.run_dir)
        table = summary_markdown([summary.row()], title=self.title)
        notes = "".join(f"{note}\n" for note in run_notes(self.manifest))
        self.closing_text = f"\n{table}\n{notes}Results: {self.run_dir}\nReport:  {self.layout.report}\n"
        return summary


    def _check_expectations(self, summary: Summary | None) -> list[Outcome]:
        """Evaluate the expectations and abort rule; print each, write JUnit and the step
        summary. Without a summary (it could not be written), no expectation is met."""
        scenario = self.scenario
        if summary is None:
            outcomes = [Outcome(e.text, False, f"{e.text}: failed (the run's summary could not be written)") for e in scenario.expectations]
        else:
            outcomes = evaluate(list(scenario.expectations), summary, self.run_dir)
        if self.abort_watch is not None:
            outcomes.append(self.abort_watch.outcome())
        for outcome in outcomes:
            log.log(logging.INFO if outcome.passed else logging.ERROR, "%s", outcome.reason)
        if scenario.junit is not None:
            duration = None if self.manifest.ended_at is None else self.manifest.ended_at - self.clock.wall_origin
            try:
                write_junit(outcomes, scenario.junit, f"{scenario.deployment_name}.{scenario.failure_name}", duration)
            except OSError as exc:
                self._write_failed(f"--junit {scenario.junit}: cannot write: {describe_write_error(exc)}")
        if summary is not None:
            try:
                append_step_summary(summary_markdown([summary.row()], title=self.title) + "\n" + checks_markdown(outcomes))
            except OSError as exc:
                self._write_failed(f"step summary not written: {describe_write_error(exc)}")
        return outcomes


class RunController:
    """The suite's state in one Locust process: the current run, if any, and the last one;
    or, for `--trials` started from the web UI, the trials under way, or the last ones."""

    def __init__(self) -> None:
        self.current: FaultToleranceRun | None = None
        self.last: FaultToleranceRun | None = None
        self.trials: Trials | None = None
        self.last_trials: Trials | None = None
        self.started_at = time.time()
        self.interrupted: str | None = None  # the signal (SIGINT, SIGTERM) that ends this process
        self.config_error: str | None = None  # why the last Start was refused (bad input)
        self.headless = False  # headless: one run, its summary printed after Locust's own at quit


_controllers: "weakref.WeakKeyDictionary[object, RunController]" = weakref.WeakKeyDictionary()


def controller_of(environment) -> RunController:
    """The controller of a Locust environment, created on first use."""
    controller = _controllers.get(environment)
    if controller is None:
        controller = _controllers[environment] = RunController()
    return controller


def controllers() -> list[RunController]:
    """Every live controller (one per Locust environment, in practice one)."""
    return list(_controllers.values())
