"""Proof that a fault took effect, end to end: a fault that does nothing is reported as
`no_effect` (an event, a warning, the verdict, a red line in the report) and fails the
matrix's check; one that works is `confirmed`."""

import pytest
import yaml

from deployments.models import DEPLOYMENTS_DIR
from tests.e2e.harness import kill_tagged, run_locust
from tests.fault_tolerance.test_runner import check_faults_took_effect

pytestmark = pytest.mark.e2e

#: The simulated worker, with SIGTERM ignored; its engine child inherits the disposition.
IGNORING_SIGTERM = (
    "import runpy, signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "runpy.run_module('deployments.sim.worker', run_name='__main__', alter_sys=True)"
)


def deaf_worker_deployment(tmp_path):
    document = yaml.safe_load((DEPLOYMENTS_DIR / "agg-dp1.yaml").read_text(encoding="utf-8"))
    document["name"] = "agg-dp1-deaf"
    (worker,) = [c for c in document["components"] if c["name"] == "decode_worker"]
    assert worker["command"][1:3] == ["-m", "deployments.sim.worker"]
    worker["command"][1:3] = ["-c", IGNORING_SIGTERM]
    path = tmp_path / "agg-dp1-deaf.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_a_sigterm_the_process_ignores_is_no_effect_and_fails_the_matrix_check(tmp_path):
    options = ("--failure", "decode_worker_sigterm", "--clients", "2", "--requests-per-client", "1000", "--fault-at", "1", "--max-run-time", "4")
    result = run_locust(tmp_path, "--deployment", str(deaf_worker_deployment(tmp_path)), *options)
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    (fault,) = [e for e in result.events if e["kind"] == "fault"]
    (proof,) = [e for e in result.events if e["kind"] == "proof"]
    assert (fault["signal"], fault["outcome"]) == ("SIGTERM", "delivered")
    assert (proof["outcome"], proof["pid"], proof["component"]) == ("no_effect", fault["pid"], "decode_worker")
    assert proof["detail"].startswith(f"pid {fault['pid']} still runs")
    assert f"failure decode_worker_sigterm had no effect on decode_worker_0 (pid {fault['pid']})" in result.stderr
    report = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "The fault on decode_worker_0 had no effect: pid" in report
    assert 'class="no-effect"' in report
    with pytest.raises(AssertionError, match="had no effect: pid .* still runs"):
        check_faults_took_effect(result.events)


def test_a_sigterm_that_ends_the_process_is_confirmed(tmp_path):
    options = ("--failure", "decode_worker_sigterm", "--clients", "2", "--requests-per-client", "1000", "--fault-at", "1", "--max-run-time", "4")
    result = run_locust(tmp_path, "--deployment", "agg-dp1", *options)
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    (proof,) = [e for e in result.events if e["kind"] == "proof"]
    assert proof["outcome"] == "confirmed" and " ended " in proof["detail"]
    check_faults_took_effect(result.events)
