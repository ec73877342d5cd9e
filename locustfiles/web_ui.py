"""The suite in Locust's web UI (`locust -f locustfiles/fault_tolerance.py`, no --headless).

`install(environment)`, called from the locustfile's `init` listener, adds to the UI that
Locust serves (nothing when there is none: headless runs, workers):

- a **Chaos** tab (key `chaos`): one table, refreshed each time the UI polls
  `/stats/requests` (its JSON gains `extended_stats`). Columns `time_s`, `what`, `instance`,
  `pid`, `state`, `detail`; rows, top down: once the run is torn down its `summary` row, the
  `run` row (launching, running, stopping, done or failed), one `component` row per replica
  (state and restarts, from the launch on), then the run's events newest first (launch, ready,
  fault, exit, restart, ... with pid and offset). No rows before the first run. For `--trials
  N` (Start runs them in the background, each a headless child: `locustfiles.trials`), one
  `trials` row instead: which trial is under way, then the exit code and the group directory.
- a Start whose options the suite cannot run (an unknown failure, a results directory that is
  not empty, ...) is answered at once, as Locust answers a bad field of its own (`{"success":
  false, "message": ...}`); the Chaos tab then shows that one `refused` row, not the run before.
- the form, by `suite.css` and the template arguments: the suite's fields first and always
  open (Deployment, Failure, Clients, Requests Per Client, Fault At, then the rest), each
  labelled with its name and a short hint (`locustfiles.options.FORM_HINTS`) where Locust
  would put the whole `--help` text; Locust's user count and spawn rate hidden, with a note
  (the suite's Clients and Ramp Up replace them); no "provide a host" banner (the suite needs
  no host: it launches its deployment, or attaches with Host); no field for the options that
  only print and exit (`locustfiles.options.CLI_ONLY`).
- the Chaos tab's rows in their kind's colour and a timeline of the run above them
  (`suite.js`, from the table's own rows).
- `GET /fault-tolerance/faults`: the delivered faults of the run shown, as JSON `[{"time":
  epoch seconds, "label": "decode_worker_3 SIGKILL pid 4242"}]`, which `suite.js` draws as
  dashed lines on Locust's charts.
- `GET /fault-tolerance/report`: the report.html of the last run whose teardown and reports
  are done (for trials, their group_report.html), linked from the Download Data tab as
  "Fault-tolerance report (HTML)"; 404 with one line of text before any.

Locust's UI polls `/stats/requests` only while the state it reads is `spawning` or `running`,
and takes any other state as final until the page is reloaded. Two of Locust's states would
freeze it too early: `ready` (Locust's initial state, in which its UI shows the start form
again), kept while the deployment launches inside test_start, and `cleanup`/`stopped`, which
Locust reports before its test_stop listeners tear the deployment down and write the report.
So the state in that JSON reads `spawning` while a run launches, and `running` until the
run's own test_stop work is done; the poll that first reads `stopped` carries the summary
row. Every other response is Locust's own.
"""

from argparse import Namespace
from pathlib import Path

from flask import Response, jsonify, request, send_file, send_from_directory

from faultsuite.errors import ConfigError
from faultsuite.layout import RunLayout
from faultsuite.secrets import redact_text
from locustfiles.options import CLI_ONLY, FORM_HINTS, option_defaults
from locustfiles.run import FaultToleranceRun, RunController, controller_of
from locustfiles.scenario import scenario_from_options
from locustfiles.trials import Trials
from reports.results import MISSING
from reports.charts import fault_label
from reports.summary import SUMMARY_COLUMNS, delivered_faults

__all__ = ["CHAOS_TAB", "COLUMNS", "REPORT_ROUTE", "REPORT_TITLE", "ChaosView", "install"]

CHAOS_TAB = "chaos"
REPORT_ROUTE = "/fault-tolerance/report"
FAULTS_ROUTE = "/fault-tolerance/faults"
ASSETS_ROUTE = "/fault-tolerance/assets"
ASSETS_DIR = Path(__file__).parent / "web_ui_assets"
#: Linked from the head of Locust's page.
PAGE_ASSETS = f'<link rel="stylesheet" href=".{ASSETS_ROUTE}/suite.css"><script defer src=".{ASSETS_ROUTE}/suite.js"></script>'
REPORT_TITLE = "Fault-tolerance report (HTML)"
COLUMNS = (
    ("time_s", "Time (s)"),
    ("what", "What"),
    ("instance", "Instance"),
    ("pid", "PID"),
    ("state", "State"),
    ("detail", "Detail"),
)
LOCUST_ICON = "favicon-light.png"  # in the assets of Locust's UI build
NO_REPORT = "no fault-tolerance run has finished in this Locust process yet\n"

_SECONDS = {"Startup Time", "Latency Before", "Latency After", "Recovery Time"}

# Locust's runner states (locust.runners.STATE_*; its STATE_INIT reads "ready"), spelled out:
# importing locust here would monkey-patch any process that imports this module.
STATE_INIT, STATE_SPAWNING, STATE_RUNNING = "ready", "spawning", "running"
STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED = "cleanup", "stopping", "stopped"


class ChaosView:
    """What the Chaos tab and the report route show for one Locust environment."""

    def __init__(self, controller: RunController) -> None:
        self.controller = controller
        self.tearing_down = False  # from test_stopping until our test_stop listener ran
        self.finished: FaultToleranceRun | None = None  # the last run whose reports are written

    # Registered after the locustfile's own listeners (at init, theirs at import), so this
    # test_stop runs once the run has been torn down and its reports written.
    def on_test_stopping(self, **_kwargs) -> None:
        self.tearing_down = True

    def on_test_stop(self, **_kwargs) -> None:
        self.tearing_down = False
        self.finished = self.controller.last

    def ui_state(self, locust_state: str) -> str:
        """The state Locust's UI is told: see the module docstring."""
        if locust_state == STATE_INIT and self.controller.current is not None:
            return STATE_SPAWNING  # the deployment is launching
        if self.tearing_down and locust_state in (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED):
            return STATE_RUNNING
        return locust_state

    def shown_run(self) -> FaultToleranceRun | None:
        return self.controller.current or self.controller.last

    def shown_trials(self) -> Trials | None:
        return self.controller.trials or self.controller.last_trials

    def rows(self) -> list[dict[str, str]]:
        if self.controller.config_error is not None:
            # The last Start was refused: that, not the run before it, is what to read now.
            return [_row("run", "", state="refused", detail=self.controller.config_error)]
        trials = self.shown_trials()
        if trials is not None:
            return [self._trials_row(trials)]
        run = self.shown_run()
        if run is None:
            return []
        rows = []
        if run is self.finished and run.summary is not None:
            rows.append(_row("summary", run.title, state="done", detail=summary_text(run.summary.row())))
        rows.append(self._run_row(run))
        deployment = run.deployment
        for replica in deployment.replicas if deployment is not None else []:
            rows.append(
                _row(
                    "component",
                    f"{replica.role}_{replica.index}",
                    pid=replica.pid,
                    state=replica.state,
                    detail=f"restarts {replica.restarts}",
                )
            )
        for event in reversed(run.events.events):
            rows.append(
                _row(
                    event.kind,
                    event.instance,
                    time_s=f"{event.offset_s:.2f}",
                    pid=event.pid,
                    state=" ".join(part for part in (event.signal, event.outcome) if part),
                    detail=event.detail,
                )
            )
        return rows

    def _run_row(self, run: FaultToleranceRun) -> dict[str, str]:
        if run.error is not None:
            state, detail = "failed", run.error
        elif run is self.finished:
            state, detail = "done", str(run.run_dir)
        elif run is not self.controller.current or run.stopped:
            state, detail = "stopping", "tearing the deployment down, writing the report"
        elif run.ready:
            state, detail = "running", run.progress()
        else:
            state, detail = "launching", f"into {run.run_dir}"
        now = "" if run is self.finished else f"{run.clock.offset():.2f}"
        return _row("run", run.title, time_s=now, state=state, detail=detail)

    @staticmethod
    def _trials_row(trials: Trials) -> dict[str, str]:
        name = f"{trials.scenario.deployment_name} × {trials.scenario.failure_name}, {trials.scenario.trials} trials"
        if trials.done:
            return _row("trials", name, state="done", detail=f"exit code {trials.exit_code}: {trials.layout.root}")
        state = "stopping" if trials.interrupted else "running"
        return _row("trials", name, state=state, detail=f"trial {trials.started} of {trials.scenario.trials}: {trials.layout.root}")

    def fault_marks(self) -> list[dict]:
        run = self.shown_run()
        if run is None or self.controller.config_error is not None:
            return []
        return [{"time": e.time, "label": fault_label(e)} for e in delivered_faults(run.events.events)]

    def report_path(self) -> Path | None:
        trials = self.shown_trials()
        if trials is not None and trials.done:
            return trials.layout.report
        run = self.finished
        return None if run is None else RunLayout(run.run_dir).report


def _row(what: str, instance: str, *, time_s: str = "", pid: int | None = None, state: str = "", detail: str = "") -> dict[str, str]:
    return {"time_s": time_s, "what": what, "instance": instance, "pid": "" if pid is None else str(pid), "state": state, "detail": detail}


def summary_text(row: dict) -> str:
    """The summary row as one line: `Startup Time 3.42 s, Success 158, Failed 2, ...`."""
    parts = []
    for column in SUMMARY_COLUMNS:
        if column == "Failure":
            continue
        value = row.get(column)
        if value is None:
            parts.append(f"{column} {MISSING}")
        elif isinstance(value, float):
            parts.append(f"{column} {value:.2f}" + (" s" if column in _SECONDS else ""))
        else:
            parts.append(f"{column} {value}")
    return ", ".join(parts)


def options_with_form(parsed: Namespace, form) -> Namespace:
    """The options a Start would run with: those parsed, with the suite's own fields of the
    form over them, as text (the scenario reads numbers from text; Locust posts a flag as
    "true" or "false")."""
    ours = {**option_defaults(), "host": ""}  # Locust's own host field says where load goes too
    merged = dict(vars(parsed))
    for key, value in form.items():
        if key in ours:
            merged[key] = value == "true" if isinstance(ours[key], bool) else value
    return Namespace(**merged)


def _suite_form(template_args: dict) -> None:
    """Locust's template arguments made the suite's form (see the module docstring)."""
    template_args["missing_host_warning"] = False
    extra = template_args.get("extra_options") or {}
    for name in CLI_ONLY:
        extra.pop(name, None)
    for name, hint in FORM_HINTS.items():
        if name in extra:
            extra[name]["help_text"] = hint


def install(environment) -> ChaosView | None:
    """Add the Chaos tab, its rows and the report route to the environment's web UI."""
    web_ui = environment.web_ui
    if web_ui is None:
        return None
    view = ChaosView(controller_of(environment))
    environment.events.test_stopping.add_listener(view.on_test_stopping)
    environment.events.test_stop.add_listener(view.on_test_stop)

    web_ui.template_args["extended_tabs"] = [{"title": "Chaos", "key": CHAOS_TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": CHAOS_TAB, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]
    web_ui.template_args["extended_csv_files"] = [{"href": "." + REPORT_ROUTE, "title": REPORT_TITLE}]

    locust_template_args = web_ui.update_template_args

    def update_template_args() -> None:  # Locust's, called for each page, then ours
        locust_template_args()
        _suite_form(web_ui.template_args)

    web_ui.update_template_args = update_template_args

    app = web_ui.app

    @app.after_request
    def _link_page_assets(response: Response) -> Response:
        if request.endpoint != "locust.index" or response.status_code != 200 or response.mimetype != "text/html":
            return response
        page = response.get_data(as_text=True)
        response.set_data(page.replace("</head>", PAGE_ASSETS + "</head>", 1))
        return response

    @app.route(ASSETS_ROUTE + "/<any('suite.css', 'suite.js'):name>")
    @web_ui.auth_required_if_enabled
    def fault_tolerance_assets(name: str) -> Response:
        return send_from_directory(ASSETS_DIR.resolve(), name, max_age=0)

    @app.after_request
    def _add_chaos_rows(response: Response) -> Response:
        if request.endpoint != "locust.request_stats" or response.status_code != 200 or not response.is_json:
            return response
        # A new response: Locust caches the one it returned (memoize) and serves it again.
        report = dict(response.get_json())
        report["extended_stats"] = [{"key": CHAOS_TAB, "data": view.rows()}]
        runner = environment.runner
        if runner is not None and "state" in report:
            report["state"] = view.ui_state(runner.state)
        return jsonify(report)

    @app.before_request
    def _refuse_a_bad_start() -> Response | None:
        """A Start whose options the suite cannot run is answered at once, as Locust answers
        its own bad fields ({"success": false, "message": ...}), and shown in the Chaos tab;
        the UI stays up for the next try."""
        if request.endpoint != "locust.swarm" or request.method != "POST":
            return None
        try:
            scenario_from_options(options_with_form(environment.parsed_options, request.form))
        except ConfigError as exc:
            view.controller.config_error = str(exc)
            return jsonify({"success": False, "message": redact_text(str(exc)), "host": environment.host})
        view.controller.config_error = None
        return None

    @app.route(FAULTS_ROUTE)
    @web_ui.auth_required_if_enabled
    def fault_tolerance_faults() -> Response:
        response = jsonify(view.fault_marks())
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.route(REPORT_ROUTE)
    @web_ui.auth_required_if_enabled
    def fault_tolerance_report() -> Response:
        path = view.report_path()
        if path is None or not path.is_file():
            text = NO_REPORT if path is None else f"{path}: the run wrote no report\n"
            return Response(text, status=404, mimetype="text/plain")
        # Absolute: Flask reads a relative path from its package, not the working directory.
        response = send_file(path.resolve(), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"  # the same URL serves each new run's
        return response

    if not any(rule.rule == "/favicon.ico" for rule in app.url_map.iter_rules()):
        # Browsers ask the origin of every page for /favicon.ico. The report has no icon of
        # its own, and Locust's UI answers 404, a console error on the report's page.
        @app.route("/favicon.ico")
        def favicon() -> Response:
            return send_from_directory(Path(app.template_folder) / "assets", LOCUST_ICON)

    return view
