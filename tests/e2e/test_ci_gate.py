"""The CI load stage for real: expectations decide the exit code, JUnit and the step summary
say why, and an early-abort rule cuts a failing run short."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.e2e.harness import kill_tagged, run_locust

pytestmark = pytest.mark.e2e

#: No redundancy, one worker killed: some requests are certain to fail, and it recovers.
LOSES_REQUESTS = ("--deployment", "agg-dp1", "--failure", "decode_worker", "--clients", "2", "--requests-per-client", "8", "--fault-at", "1")
STRICT = "no_errors; recovery_time_s <= 60"
LOOSE = "failed_pct <= 100; recovery_time_s <= 60"
#: An engine that dies unnoticed: every later request times out, for as long as the run goes on.
PLANNED_S = 40.0
FAILS_FOR_GOOD = (
    "--deployment", "agg-dp1", "--failure", "engine", "--clients", "2", "--requests-per-client", "100000",
    "--fault-at", "1", "--request-timeout", "1", "--retry-delay", "0", "--max-run-time", str(PLANNED_S),
)  # fmt: skip


def gated_run(tmp_path, *options, step_summary=None):
    junit = tmp_path / "junit.xml"
    result = run_locust(tmp_path, *options, "--junit", str(junit), env_extra={"GITHUB_STEP_SUMMARY": str(step_summary)} if step_summary else None)
    kill_tagged(result.tag)
    return result, junit


def junit_cases(path) -> dict[str, ET.Element | None]:
    suite = ET.parse(path).getroot().find("testsuite")
    return {case.get("name"): case.find("failure") for case in suite.findall("testcase")}


def test_an_unmet_expectation_exits_1_and_its_junit_case_fails_naming_it(tmp_path):
    step_summary = tmp_path / "step_summary.md"
    result, junit = gated_run(tmp_path, *LOSES_REQUESTS, "--expect", STRICT, step_summary=step_summary)
    assert result.returncode == 1, result.stderr[-2000:]
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("expectation failed: ")]
    assert failed_lines == [f"expectation failed: no_errors: failed (requests that failed: {result.summary['Failed']})"]
    cases = junit_cases(junit)
    assert set(cases) == {"no_errors", "recovery_time_s <= 60"}
    assert cases["recovery_time_s <= 60"] is None
    assert "no_errors: failed" in cases["no_errors"].get("message")
    text = step_summary.read_text()
    assert "| decode_worker |" in text and "❌ no_errors" in text and "✅ recovery_time_s <= 60" in text


@pytest.fixture(scope="module")
def loose_run(tmp_path_factory):
    return gated_run(tmp_path_factory.mktemp("loose"), *LOSES_REQUESTS, "--expect", LOOSE)


def test_the_same_run_with_loose_expectations_exits_0(loose_run):
    result, junit = loose_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.summary["Failed"] > 0
    assert all(failure is None for failure in junit_cases(junit).values())
    assert "expectation failed" not in result.stderr


def test_an_abort_rule_stops_a_failing_run_in_under_half_its_planned_time(tmp_path):
    result, junit = gated_run(tmp_path, *FAILS_FOR_GOOD, "--abort-if", "failed_pct > 50 over 3 s")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "expectation failed: run aborted early: failed_pct > 50 over 3 s:" in result.stderr
    manifest = json.loads((result.run_dir / "run.json").read_text())
    load_s = manifest["ended_at"] - manifest["started_at"] - manifest["startup_time_s"]
    assert load_s < PLANNED_S / 2, f"{load_s:.1f} s of load for a planned {PLANNED_S} s"
    (abort_case,) = junit_cases(junit).values()
    assert "run aborted early" in abort_case.get("message")
    assert (result.run_dir / "report.html").exists() and result.summary["Failed"] > 0


def test_a_bad_expectation_is_one_line_and_exit_code_2(tmp_path):
    result = run_locust(tmp_path, "--expect", "failures <= 2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: --expect: unknown metric 'failures' in 'failures <= 2'; known: failed, failed_pct, success_rate_pct, recovery_time_s, latency_ratio, violations_after, client_outage_s, bad_rejected_pct, bad_reject_max_s, rss_growth_mib_per_min, cascade_ratio, silent_stall_s"


def test_a_headless_run_prints_its_progress_before_and_after_the_fault(loose_run):
    result, _ = loose_run
    lines = [line.split("progress: ", 1)[1] for line in result.stderr.splitlines() if "progress: " in line]
    assert re.fullmatch(r"0 of 16 requests done, 0 failed, before the fault; next fault in 1 s", lines[0]), lines
    assert any(re.fullmatch(r"\d+ of 16 requests done, \d+ failed, after the fault", line) for line in lines), lines
