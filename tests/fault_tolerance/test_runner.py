"""The fault-tolerance matrix: every deployment × failure, run for real, asserting what was measured.

    pytest tests/fault_tolerance/test_runner.py --ft-failure decode_worker
    pytest tests/fault_tolerance/test_runner.py --ft-deployment agg-dp1 --ft-full --ft-results results/today
    pytest tests/fault_tolerance/test_runner.py --ft-deployment agg-dp1 --ft-failure decode_worker --ft-trials 5
    pytest tests/fault_tolerance/test_runner.py --ft-deployment agg-dp4 --ft-parallel 1

Each run's results directory is `<results>/<deployment>/<failure>/`; each deployment gets
`group_summary.md`, `group_summary.csv` and `group_report.html` beside its runs. With
`--ft-trials N` that directory is the trials' group instead: `trial-<k>/` each, every one
checked as a run of its own, and `trials_summary.md` with their spread. CI runs the reduced
sizes, once each, two at a time (`--ft-parallel`, tests/fault_tolerance/scheduler.py).
"""

from dataclasses import replace

import pytest

from chaos.models import load_catalogue
from deployments.models import load_deployment
from tests.e2e.harness import kill_tagged, wait_for_no_tagged_processes
from faultsuite.layout import TrialsLayout
from tests.fault_tolerance.matrix import matrix_pairs

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ON_TIME_S = 0.050
NO_ORPHANS_WITHIN_S = 10.0
PAIRS = matrix_pairs()


def check_counts_add_up(result) -> None:
    summary = result.summary
    records = result.records
    assert summary["Success"] + summary["Failed"] == len(records)
    assert summary["Success"] == sum(1 for r in records if r["status"] == "success")
    assert len({(r["client"], r["seq"]) for r in records}) == len(records), "a request was recorded twice"
    assert len((result.run_dir / "requests.csv").read_text().splitlines()) == len(records) + 1


def check_faults_on_time(events: list[dict]) -> None:
    """Every fault fired within ON_TIME_S of its schedule; a rolling restart's later steps are
    due when the step before is done, not at the schedule, and only its first is held to it."""
    steps = {e["pid"] for e in events if e["kind"] == "rollout" and e["pid"]}
    faults = [e for e in events if e["kind"] == "fault"]
    for fault in faults:
        first_of_rollout = min((float(f["offset_s"]) for f in faults if f["pid"] in steps and f["scheduled_offset_s"] == fault["scheduled_offset_s"]), default=None)
        if fault["pid"] in steps and float(fault["offset_s"]) != first_of_rollout:
            continue
        lateness = float(fault["offset_s"]) - float(fault["scheduled_offset_s"])
        assert -0.001 <= lateness <= ON_TIME_S, f"fault at {fault['offset_s']} was due at {fault['scheduled_offset_s']}"


def exited_0(events: list[dict], pid: str) -> bool:
    return any(e["kind"] == "exit" and e["pid"] == pid and e["outcome"] == "exit code 0" for e in events)


def check_restart_policy(events: list[dict], deployment: str) -> None:
    """A faulted replica that died came back iff its policy is `always`, or `on-failure` and it
    did not exit 0 (always, when a rolling restart stopped it); a hung one resumed; a faulted
    link was healed."""
    spec = load_deployment(deployment)
    for fault in (e for e in events if e["kind"] == "fault" and e["outcome"] == "delivered"):
        after = [e for e in events if float(e["offset_s"]) > float(fault["offset_s"]) and e["detail"] != "teardown"]
        same = [e for e in after if (e["component"], e["replica"]) == (fault["component"], fault["replica"])]
        if fault["scope"] == "link":
            assert any(e["kind"] == "heal" and e["link_from"] == fault["link_from"] for e in same), f"link {fault['link_from']} -> {fault['component']} was never healed"
            continue
        if fault["signal"] == "SIGSTOP":
            assert any(e["kind"] == "resume" for e in same), f"{fault['component']} was never continued"
            continue
        died = any(e["kind"] == "exit" and e["pid"] == fault["pid"] for e in same)
        if not died:
            continue  # a child killed under a worker that did not notice: nothing to restart
        policy = spec.component(fault["component"]).restart.policy
        came_back = any(e["kind"] == "ready" and e["pid"] != fault["pid"] for e in same)
        rolled = [e for e in same if e["kind"] == "rollout" and e["pid"] == fault["pid"]]
        if rolled:  # a rolling restart's step: replaced whatever the policy
            assert rolled[0]["outcome"] == "replaced" and came_back, f"{fault['component']}_{fault['replica']} was not replaced"
        elif policy == "always" or (policy == "on-failure" and not exited_0(same, fault["pid"])):
            assert came_back, f"{fault['component']}_{fault['replica']} (restart: {policy}) was not back before the run ended"
        else:
            assert not any(e["kind"] == "restart" for e in same), f"{fault['component']} (restart: {policy}) was restarted"


def check_faults_took_effect(events: list[dict]) -> None:
    """Every fault delivered on schedule was proven to take effect: its `proof` event says
    `confirmed`. A fault with no effect leaves numbers that say nothing about it."""
    def key(e: dict) -> tuple:
        return e["component"], e["replica"], e["pid"], e["scheduled_offset_s"], e["link_from"]

    proofs = {key(e): e for e in events if e["kind"] == "proof"}
    for fault in (e for e in events if e["kind"] == "fault" and e["outcome"] == "delivered" and e["teardown"] == "0"):
        proof = proofs.get(key(fault))
        assert proof is not None, f"the fault on {fault['component']}_{fault['replica']} at {fault['offset_s']} has no proof"
        assert proof["outcome"] == "confirmed", f"the fault on {fault['component']}_{fault['replica']} had no effect: {proof['detail']}"


def check_applicability(events: list[dict], deployment: str, failure: str) -> list[str]:
    """A failure whose role the deployment lacks is recorded as not applicable; others fire,
    and one that asks for more processes than the deployment has says so (`fewer targets`).
    Returns those notices, for the matrix to show."""
    spec = load_deployment(deployment)
    injections = load_catalogue().failures[failure].injections
    missing = [i for i in injections if i.target.role not in spec.roles]
    if missing:
        assert any(e["kind"] == "not_applicable" for e in events)
        assert not [e for e in events if e["kind"] == "fault" and e["component"] in {i.target.role for i in missing}]
    elif injections:
        assert any(e["kind"] == "fault" and e["outcome"] == "delivered" for e in events), "the failure never fired"
    short = [e["detail"] for e in events if e["outcome"] == "fewer targets"]
    asks_too_much = [
        i for i in injections
        if i.target.role in spec.roles and i.count > spec.component(i.target.role).replicas and not i.count_is_a_ceiling
    ]  # fmt: skip
    if asks_too_much:
        assert short, f"{failure} asks for more than {deployment} has, and no event says so"
    return short


@pytest.mark.parametrize(("deployment", "failure"), PAIRS, ids=[f"{d}-{f}" for d, f in PAIRS])
def test_fault_tolerance(deployment, failure, trials, matrix_runs, group_tables, progress, report_line):
    result = matrix_runs.result((deployment, failure))
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        layout = TrialsLayout(result.run_dir)
        runs = [replace(result, run_dir=layout.trial(k)) for k in range(1, trials + 1)] if trials > 1 else [result]
        for run in runs:
            group_tables.add(deployment, run.run_dir)
            events = run.events
            check_counts_add_up(run)
            check_faults_on_time(events)
            check_faults_took_effect(events)
            for notice in check_applicability(events, deployment, failure):
                report_line(f"[matrix] {deployment}-{failure}: not in full: {notice}")
            check_restart_policy(events, deployment)
        if trials > 1:
            report_line(layout.trials_md.read_text(encoding="utf-8"))
        assert wait_for_no_tagged_processes(result.tag, NO_ORPHANS_WITHIN_S) == []
    finally:
        kill_tagged(result.tag)
        report_line(progress.line(f"{deployment}-{failure}"))
