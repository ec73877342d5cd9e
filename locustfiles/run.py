"""One fault-tolerance run, from test start to test stop, and the controller that holds it.

    test_start: results directory, run.json → Deployment.up() (startup time) → watcher,
                process and GPU samplers → fault timer
    clients:    register, send, record each request as it completes
    test_stop:  fault timer and samplers stop → Deployment.down() → summary and reports

The reports are written even when the run failed or was interrupted: whatever was recorded is
on disk, and they are built from it (`reports.render`, as `python -m reports` does).
"""

import logging
import time
import weakref
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from chaos.injector import FaultScheduler
from chaos.plan import describe_plan
from deployments.factory import open_deployment
from deployments.interface import Deployment
from faultsuite.clock import RunClock
from faultsuite.errors import FaultSuiteError
from faultsuite.events import EventLog
from faultsuite.layout import RunLayout
from faultsuite.manifest import RunManifest, run_title, write_manifest
from faultsuite.records import RecordWriter, RequestRecord
from gate.abort import AbortWatch
from gate.ci_outputs import append_step_summary, checks_markdown, write_junit
from gate.expectations import Outcome, evaluate
from locustfiles.scenario import Scenario
from reports.render import render_run
from reports.results import summary_markdown
from reports.summary import Summary
from samplers.gpu import GpuSampler
from samplers.processes import ProcessSampler
from samplers.sampling import CsvSampler
from samplers.watcher import MetricNames, Watcher

__all__ = ["FaultToleranceRun", "RunController", "controller_of", "controllers"]

log = logging.getLogger(__name__)


def default_run_dir(scenario: Scenario) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / scenario.deployment_name / f"{scenario.failure_name}-{stamp}"


class FaultToleranceRun:
    """Owns one run's clock, results directory, manifest, deployment, chaos, samplers and records."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.clock = RunClock()
        self.run_dir = scenario.results_dir or default_run_dir(scenario)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.layout = RunLayout(self.run_dir)
        self.events = EventLog(self.layout.events, self.clock)
        self.manifest = RunManifest(
            deployment=scenario.deployment_name,
            failure=scenario.failure_name,
            sla_latency_s=scenario.load.sla_latency_s,
            started_at=self.clock.wall_origin,
            load=asdict(scenario.load),
        )
        write_manifest(self.manifest, self.run_dir)
        self.deployment: Deployment | None = None
        self.samplers: list[CsvSampler] = []
        self.scheduler: FaultScheduler | None = None
        self.endpoint = scenario.host
        self.load_started_at: float | None = None
        self.error: str | None = None
        self.dry_run_done = False
        self.stopped = False
        self.summary: Summary | None = None
        self.abort_watch = AbortWatch(scenario.abort_rule) if scenario.abort_rule else None
        self.outcomes: list[Outcome] = []  # the expectations' and abort rule's, once stopped
        self._writers: dict[int, RecordWriter] = {}
        self._done = self._failed = 0
        self._finished: set[int] = set()
        self._log_handler = logging.FileHandler(self.layout.log, encoding="utf-8")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
            self.error = str(exc)
            log.error("launch failed: %s", exc)
            self._update_manifest(error=self.error)
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
        if self.deployment is not None:
            self.scheduler = FaultScheduler(scenario.failure_name, scenario.failure, self.deployment, self.clock)
            self.scheduler.start(self.load_started_at)

    def _update_manifest(self, **changes) -> None:
        self.manifest = self.manifest.updated(**changes)
        write_manifest(self.manifest, self.run_dir)

    def _start_samplers(self) -> None:
        """The watcher (when the deployment has metrics), and the process and GPU samplers."""
        deployment, layout = self.deployment, self.layout
        if deployment is not None and deployment.spec.metrics is not None and deployment.metrics_url is not None:
            metrics = deployment.spec.metrics
            names = MetricNames(pending=metrics.pending, active_workers=metrics.active_workers)
            self.samplers.append(Watcher(deployment.metrics_url, names, layout.watcher, self.clock))
        if deployment is not None:
            self.samplers.append(ProcessSampler(deployment, layout.processes, self.clock))
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
        client_id = len(self._writers)
        self._writers[client_id] = RecordWriter(self.layout.client_records(client_id))
        return client_id

    def record(self, record: RequestRecord) -> None:
        self._writers[record.client].write(record)
        self._done += 1
        self._failed += not record.ok
        if self.abort_watch is not None:
            self.abort_watch.observe(record)

    def client_finished(self, client_id: int) -> None:
        self._finished.add(client_id)

    def all_clients_finished(self) -> bool:
        return len(self._finished) >= self.scenario.load.clients

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

    def stop(self) -> Summary:
        """Stop chaos and the samplers, tear down, then write the summary and reports."""
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
                writer.close()
            self.events.close()
            self._update_manifest(ended_at=self.clock.wall())
            self.summary = self._write_reports()
            self.outcomes = self._check_expectations(self.summary)
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
        return self.summary

    def _write_reports(self) -> Summary:
        summary = render_run(self.run_dir).summary
        log.info("summary and report written to %s", self.run_dir)
        if not self.dry_run_done:
            table = summary_markdown([summary.row()], title=self.title)
            print(f"\n{table}\nResults: {self.run_dir}\nReport:  {self.layout.report}\n", flush=True)
        return summary


    def _check_expectations(self, summary: Summary) -> list[Outcome]:
        """Evaluate the expectations and abort rule; print each, write JUnit and the step summary."""
        scenario = self.scenario
        outcomes = evaluate(list(scenario.expectations), summary)
        if self.abort_watch is not None:
            outcomes.append(self.abort_watch.outcome())
        for outcome in outcomes:
            log.log(logging.INFO if outcome.passed else logging.ERROR, "%s", outcome.reason)
        if scenario.junit is not None:
            duration = None if self.manifest.ended_at is None else self.manifest.ended_at - self.clock.wall_origin
            write_junit(outcomes, scenario.junit, f"{scenario.deployment_name}.{scenario.failure_name}", duration)
        if not self.dry_run_done:
            append_step_summary(summary_markdown([summary.row()], title=self.title) + "\n" + checks_markdown(outcomes))
        return outcomes


class RunController:
    """The suite's state in one Locust process: the current run, if any, and the last one."""

    def __init__(self) -> None:
        self.current: FaultToleranceRun | None = None
        self.last: FaultToleranceRun | None = None
        self.started_at = time.time()


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
