"""The same run started from Locust's web UI: options in the form, Start launches the deployment.

Also the suite's additions to the UI (locustfiles/web_ui.py): the Deployment and Failure
dropdowns, the Chaos tab's rows in `/stats/requests`, the report route, and repeat runs from
one UI process.
"""

import argparse
import csv
import json
import re
import time
import urllib.parse
import urllib.request

import psutil
import pytest
from locust import runners

from chaos.models import load_catalogue
from deployments.models import available_deployments
from locustfiles import web_ui as suite_ui
from locustfiles.options import add_options
from deployments.ports import free_port
from tests.e2e.harness import (
    page_text,
    web_ui_running,
    tagged_processes,
)

pytestmark = pytest.mark.e2e

SUITE_OPTIONS = ("deployment", "failure", "fault_at", "clients", "requests_per_client", "request_timeout", "sla_latency", "results_dir")


def wait_for(check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return None


@pytest.fixture
def web_ui(tmp_path):
    """(base URL, the UI's page, tag, the UI's pid)."""
    with web_ui_running(tmp_path) as (proc, base, tag):
        yield base, page_text(base + "/"), tag, proc.pid


def test_the_suite_options_appear_in_the_web_ui_form(web_ui):
    _, html, _, _ = web_ui
    assert html is not None
    for option in SUITE_OPTIONS:
        assert f'"{option}": {{' in html, option


def test_start_in_the_web_ui_launches_runs_and_tears_down(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    run_dir = tmp_path / "ui-run"
    form = {
        "user_count": "1",
        "spawn_rate": "1",
        "host": "",
        "deployment": "agg-dp1",
        "failure": "decode_worker",
        "clients": "2",
        "requests_per_client": "8",
        "fault_at": "1",
        "results_dir": str(run_dir),
    }
    request = urllib.request.Request(base + "/swarm", data=urllib.parse.urlencode(form).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["success"] is True
    summary_file = wait_for(lambda: (run_dir / "summary.json").is_file() and run_dir / "summary.json", 90)
    assert summary_file, "the run never wrote its summary"
    summary = json.loads(summary_file.read_text())
    assert summary["Failure"] == "decode_worker"
    assert summary["Success"] + summary["Failed"] == 16
    # The UI process stays up between runs; everything it launched must be gone.
    assert wait_for(lambda: not [p for p in tagged_processes(tag) if p.pid != ui_pid], 10)


# -- the suite's additions ------------------------------------------------------------------


def template_args(html: str) -> dict:
    """The `window.templateArgs` Locust's index page hands its UI."""
    found = re.search(r"window\.templateArgs = (\{.*\})\s*$", html, re.MULTILINE)
    assert found, "no templateArgs in the page"
    return json.loads(found.group(1))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def chaos_rows(base: str) -> list[dict]:
    status, body = get(base + "/stats/requests")
    assert status == 200
    tables = {table["key"]: table["data"] for table in json.loads(body)["extended_stats"]}
    return tables[suite_ui.CHAOS_TAB]


def served_report(base: str) -> str | None:
    status, text = get(base + suite_ui.REPORT_ROUTE)
    return text if status == 200 else None


def post(base: str, path: str, form: dict | None = None) -> dict:
    data = urllib.parse.urlencode(form or {}).encode()
    with urllib.request.urlopen(urllib.request.Request(base + path, data=data, method="POST"), timeout=60) as response:
        return json.load(response)


def swarm_form(failure: str, clients: int, requests_per_client: int) -> dict[str, str]:
    """What Locust's form posts (keys back in snake_case), with the results dir left empty."""
    return {
        "user_count": "0",
        "spawn_rate": "0",
        "host": "",
        "deployment": "agg-dp1",
        "failure": failure,
        "clients": str(clients),
        "requests_per_client": str(requests_per_client),
        "fault_at": "1",
        "results_dir": "",
    }


def run_processes(tag: str, ui_pid: int) -> set[tuple[int, float]]:
    """The tagged processes but the UI's, as (pid, start time): a reused pid is another process."""
    found = set()
    for proc in tagged_processes(tag):
        if proc.pid == ui_pid:
            continue
        try:
            found.add((proc.pid, proc.create_time()))
        except psutil.Error:
            continue
    return found


def one_run_dir(root, failure: str):
    dirs = list((root / "results" / "agg-dp1").glob(f"{failure}-*"))
    return dirs[0] if len(dirs) == 1 and (dirs[0] / "summary.json").is_file() else None


def events_of(run_dir) -> list[dict]:
    with (run_dir / "events.csv").open(newline="") as src:
        return list(csv.DictReader(src))


def test_the_deployment_and_failure_options_are_dropdowns(web_ui):
    _, html, _, _ = web_ui
    options = template_args(html)["extra_options"]
    assert options["deployment"]["choices"] == ["", *available_deployments()]
    assert options["failure"]["choices"] == ["", *load_catalogue().names()]
    assert {"agg-dp4", "agg-dp1"} <= set(options["deployment"]["choices"])
    assert {"decode_worker", "none"} <= set(options["failure"]["choices"])
    assert options["clients"]["choices"] is None  # the others stay fields


def test_the_command_line_still_takes_any_deployment_path_and_failure_alias():
    parser = argparse.ArgumentParser()
    add_options(parser)
    parsed = parser.parse_args(["--deployment", "elsewhere/graph.yaml", "--failure", "vllm_worker"])
    assert (parsed.deployment, parsed.failure) == ("elsewhere/graph.yaml", "vllm_worker")
    # Unknown names pass argparse too: scenario.py reports them in its own one line.
    assert parser.parse_args(["--deployment", "no-such", "--failure", "no-such"]).failure == "no-such"


def test_the_chaos_tab_is_declared_and_empty_before_any_run(web_ui):
    base, html, _, _ = web_ui
    args = template_args(html)
    assert args["extended_tabs"] == [{"title": "Chaos", "key": "chaos"}]
    (table,) = args["extended_tables"]
    assert table["key"] == "chaos"
    assert [column["key"] for column in table["structure"]] == ["time_s", "what", "instance", "pid", "state", "detail"]
    assert args["extended_csv_files"] == [{"href": "./fault-tolerance/report", "title": "Fault-tolerance report (HTML)"}]
    assert chaos_rows(base) == []
    status, text = get(base + suite_ui.REPORT_ROUTE)
    assert status == 404 and text.count("\n") == 1, text


def test_the_state_the_ui_reads_keeps_it_polling_while_the_run_launches_and_tears_down():
    # Locust's own names, which web_ui.py spells out.
    assert (suite_ui.STATE_INIT, suite_ui.STATE_SPAWNING, suite_ui.STATE_RUNNING) == (
        runners.STATE_INIT,
        runners.STATE_SPAWNING,
        runners.STATE_RUNNING,
    )
    assert (suite_ui.STATE_CLEANUP, suite_ui.STATE_STOPPING, suite_ui.STATE_STOPPED) == (
        runners.STATE_CLEANUP,
        runners.STATE_STOPPING,
        runners.STATE_STOPPED,
    )

    class Controller:
        current = last = None

    controller = Controller()
    view = suite_ui.ChaosView(controller)  # type: ignore[arg-type]
    assert view.ui_state(runners.STATE_INIT) == runners.STATE_INIT  # the start form
    controller.current = object()  # test_start is launching the deployment
    assert view.ui_state(runners.STATE_INIT) == runners.STATE_SPAWNING
    assert view.ui_state(runners.STATE_RUNNING) == runners.STATE_RUNNING
    view.on_test_stopping()
    for state in (runners.STATE_CLEANUP, runners.STATE_STOPPED):
        assert view.ui_state(state) == runners.STATE_RUNNING  # teardown and reports under way
    controller.current, controller.last = None, "the run"
    view.on_test_stop()
    assert view.ui_state(runners.STATE_STOPPED) == runners.STATE_STOPPED
    assert view.finished == "the run"


def test_a_second_run_from_the_same_ui_leaves_nothing_of_the_first(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui

    # First run: decode_worker, stopped from the UI once the killed worker is back.
    assert post(base, "/swarm", swarm_form("decode_worker", clients=2, requests_per_client=40))["success"] is True
    run_dir = wait_for(lambda: next(iter((tmp_path / "results" / "agg-dp1").glob("decode_worker-*")), None), 30)
    assert run_dir, "the first run made no run directory"

    def restarted() -> bool:
        events = events_of(run_dir)
        faults = [i for i, e in enumerate(events) if e["kind"] == "fault"]
        return bool(faults) and any(e["kind"] == "ready" and e["component"] == "decode_worker" for e in events[faults[0] :])

    assert wait_for(restarted, 40), events_of(run_dir)
    first_processes = run_processes(tag, ui_pid)
    assert first_processes
    assert post(base, "/stop")["success"] is True
    first = wait_for(lambda: one_run_dir(tmp_path, "decode_worker"), 30)
    assert first, "the first run wrote no summary"
    assert wait_for(lambda: not run_processes(tag, ui_pid), 10), "the first run left processes"
    assert "<h1>agg-dp1 × decode_worker</h1>" in (served_report(base) or "")
    rows = wait_for(lambda: [r for r in chaos_rows(base) if r["what"] == "summary"], 10)
    assert rows and rows[0]["instance"] == "agg-dp1 × decode_worker", chaos_rows(base)

    # Second run: the form changed to `none`, ended by the shape once the clients are done.
    assert post(base, "/swarm", swarm_form("none", clients=2, requests_per_client=4))["success"] is True
    second = wait_for(lambda: one_run_dir(tmp_path, "none"), 60)
    assert second, "the second run wrote no summary"
    summary = json.loads((second / "summary.json").read_text())
    assert summary["Failure"] == "none" and summary["Success"] + summary["Failed"] == 8

    assert wait_for(lambda: "<h1>agg-dp1 × none</h1>" in (served_report(base) or ""), 15), served_report(base)
    rows = wait_for(lambda: (r := chaos_rows(base)) and r[0]["what"] == "summary" and r, 10)
    assert rows, chaos_rows(base)
    assert rows[0]["instance"] == "agg-dp1 × none"
    assert f"Success {summary['Success']}, Failed {summary['Failed']}" in rows[0]["detail"]
    run_row = next(r for r in rows if r["what"] == "run")
    assert (run_row["state"], run_row["detail"]) == ("done", str(second.relative_to(tmp_path)))
    assert not first_processes & run_processes(tag, ui_pid), "a process of the first run outlived it"
    assert wait_for(lambda: not run_processes(tag, ui_pid), 10), "the second run left processes"


def test_start_with_trials_runs_them_in_the_background_and_serves_their_group_report(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    group = tmp_path / "ui-trials"
    form = {**swarm_form("none", clients=1, requests_per_client=3), "trials": "2", "results_dir": str(group)}
    assert post(base, "/swarm", form)["success"] is True

    running = wait_for(lambda: [r for r in chaos_rows(base) if r["what"] == "trials" and r["state"] == "running"], 30)
    assert running and running[0]["detail"].startswith(("trial 1 of 2: ", "trial 2 of 2: ")), running
    done = wait_for(lambda: [r for r in chaos_rows(base) if r["what"] == "trials" and r["state"] == "done"], 180)
    assert done and done[0]["detail"] == f"exit code 0: {group}", done
    for k in (1, 2):
        summary = json.loads((group / f"trial-{k}" / "summary.json").read_text())
        assert summary["Success"] == 3, summary
    assert "2 trials" in (group / "trials_summary.md").read_text()
    assert "Spread over 2 trials" in (served_report(base) or "")
    assert wait_for(lambda: not run_processes(tag, ui_pid), 10)


def test_stop_during_trials_ends_the_trial_under_way_and_starts_no_other(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    group = tmp_path / "ui-trials-stopped"
    form = {**swarm_form("none", clients=1, requests_per_client=1000), "trials": "2", "results_dir": str(group)}
    assert post(base, "/swarm", form)["success"] is True
    assert wait_for(lambda: (group / "trial-1" / "client_0.jsonl").is_file(), 60), "trial 1 never sent load"

    assert post(base, "/stop")["success"] is True
    done = wait_for(lambda: [r for r in chaos_rows(base) if r["what"] == "trials" and r["state"] == "done"], 60)

    assert done and done[0]["detail"] == f"exit code 130: {group}", done  # SIGINT's, as from a terminal
    assert (group / "trial-1" / "summary.json").is_file() and not (group / "trial-2").exists()
    assert (group / "trials_summary.md").is_file()
    assert wait_for(lambda: not run_processes(tag, ui_pid), 10)


def test_open_loop_load_from_the_form_sends_its_schedule(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    run_dir = tmp_path / "ui-open-loop"
    rate, duration = 4, 2
    form = {**swarm_form("none", clients=1, requests_per_client=1), "rate": str(rate), "duration": str(duration),
            "arrival": "constant", "results_dir": str(run_dir)}  # fmt: skip
    assert post(base, "/swarm", form)["success"] is True
    summary_file = wait_for(lambda: (run_dir / "summary.json").is_file() and run_dir / "summary.json", 90)
    assert summary_file, "the run never wrote its summary"

    records = sorted((json.loads(line) for line in (run_dir / "client_0.jsonl").read_text().splitlines()), key=lambda r: r["seq"])
    origin = records[0]["scheduled_offset_s"]
    assert [r["scheduled_offset_s"] - origin for r in records] == pytest.approx([k / rate for k in range(rate * duration)], abs=1e-6)
    assert json.loads(summary_file.read_text())["Max Send Lag (s)"] is not None  # open-loop columns
    assert wait_for(lambda: not run_processes(tag, ui_pid), 10)


def test_a_start_with_a_bad_failure_is_refused_at_once_and_shown_in_the_chaos_tab(web_ui, tmp_path):
    base, _, tag, ui_pid = web_ui
    answer = post(base, "/swarm", swarm_form("decode_wroker", clients=2, requests_per_client=2))
    assert answer["success"] is False
    assert answer["message"].startswith("--failure: unknown failure 'decode_wroker' (did you mean 'decode_worker'")
    rows = chaos_rows(base)
    assert [(r["what"], r["state"]) for r in rows] == [("run", "refused")] and rows[0]["detail"] == answer["message"]
    # Nothing was launched, and the UI is still there for the next try.
    assert run_processes(tag, ui_pid) == set()
    assert psutil.pid_exists(ui_pid) and page_text(base + "/") is not None
    assert not (tmp_path / "results").exists()
    # So is a results directory that already holds a run's files.
    used = tmp_path / "used"
    used.mkdir()
    (used / "events.csv").write_text("time\n")
    answer = post(base, "/swarm", {**swarm_form("none", clients=1, requests_per_client=1), "results_dir": str(used)})
    assert answer["success"] is False and "already holds files" in answer["message"]
    assert chaos_rows(base)[0]["detail"] == answer["message"]


def test_a_start_that_fails_its_checks_after_the_form_leaves_the_ui_up_and_says_why(web_ui, tmp_path):
    base, _, _, ui_pid = web_ui
    closed = free_port()  # nothing listens there
    form = {**swarm_form("none", clients=1, requests_per_client=1), "deployment": "", "host": f"http://127.0.0.1:{closed}"}
    assert post(base, "/swarm", form)["success"] is True  # the form itself is fine
    refused = wait_for(lambda: [r for r in chaos_rows(base) if r["state"] == "refused"], 30)
    assert refused and refused[0]["detail"].startswith(f"--host http://127.0.0.1:{closed}: endpoint unreachable")
    time.sleep(1.0)
    assert psutil.pid_exists(ui_pid) and page_text(base + "/") is not None
    # And the next Start runs.
    run_dir = tmp_path / "next"
    assert post(base, "/swarm", {**swarm_form("none", clients=1, requests_per_client=2), "results_dir": str(run_dir)})["success"] is True
    assert wait_for(lambda: (run_dir / "summary.json").is_file(), 90), "the next Start did not run"
    assert [r["state"] for r in chaos_rows(base) if r["what"] == "run"] != ["refused"]
