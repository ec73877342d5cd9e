"""Expectations, the early-abort rule and the CI outputs, on hand-made summaries and records."""

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from faultsuite.errors import ConfigError
from faultsuite.records import RequestRecord
from gate.abort import AbortWatch, parse_abort_rule
from gate.ci_outputs import append_step_summary, checks_markdown, write_junit
from gate.expectations import evaluate, evaluate_trials, parse_expectations
from reports.summary import compute_summary


def record(start: float, ok: bool, latency: float = 0.5) -> RequestRecord:
    return RequestRecord(
        client=0, seq=0, start_time=1000 + start, end_time=1000 + start + latency, start_offset_s=start,
        latency_s=latency, status="success" if ok else "failure", error_kind=None if ok else "timeout",
    )  # fmt: skip


def summary(ok: int, failed: int):
    records = [record(i, True) for i in range(ok)] + [record(ok + i, False) for i in range(failed)]
    return compute_summary(failure="f", records=records, events=[], samples=[], startup_time_s=1.0, sla_latency_s=1.0)


def verdicts(text: str, of) -> list[bool]:
    return [o.passed for o in evaluate(parse_expectations(text), of)]


def test_each_expectation_is_checked_against_the_summary():
    four_of_eighty = summary(ok=76, failed=4)
    assert verdicts("failed <= 4; failed < 4; failed_pct <= 5; success_rate_pct >= 95.5; no_errors", four_of_eighty) == [True, False, True, False, False]
    assert verdicts("no_errors", summary(ok=3, failed=0)) == [True]


def test_a_run_that_made_no_request_meets_no_expectation_and_says_so():
    outcomes = evaluate(parse_expectations("no_errors; failed <= 0; failed_pct <= 5"), summary(ok=0, failed=0))

    assert [o.passed for o in outcomes] == [False, False, False]
    assert all("made no request" in o.reason for o in outcomes)


def test_a_metric_with_no_value_fails_and_says_not_measured():
    (outcome,) = evaluate(parse_expectations("recovery_time_s <= 10"), summary(ok=3, failed=0))
    assert not outcome.passed
    assert outcome.reason == "recovery_time_s <= 10: failed (Recovery Time (s): not measured)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("failures <= 2", "unknown metric 'failures'"),
        ("failed =< 2", "cannot read 'failed =< 2'"),
        ("failed <= two", "cannot read"),
    ],
)
def test_a_bad_expectation_is_one_line_naming_it(text, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_expectations(text)
    assert str(caught.value).startswith("--expect: ") and "\n" not in str(caught.value)


def test_the_abort_rule_fires_only_after_its_window_and_above_its_rate():
    watch = AbortWatch(parse_abort_rule("failed_pct > 50 over 3 s"))
    for start in (0.0, 0.5, 1.0):
        watch.observe(record(start, ok=False))
    assert watch.check(now_s=2.0, load_started_s=0.0) is None, "the window has not run its length yet"
    watch.observe(record(2.0, ok=True))
    assert watch.check(now_s=3.2, load_started_s=0.0) is not None  # 3 of 4 failed in (0.2, 3.2]
    assert "3 of 4 requests" in watch.triggered and not watch.outcome().passed


def test_the_abort_rule_forgets_failures_older_than_its_window():
    watch = AbortWatch(parse_abort_rule("failed_pct > 50 over 2 s"))
    watch.observe(record(0.0, ok=False))
    for start in (2.0, 2.5, 3.0):
        watch.observe(record(start, ok=True))
    assert watch.check(now_s=4.0, load_started_s=0.0) is None
    assert watch.outcome().passed


def test_a_bad_abort_rule_is_one_line():
    with pytest.raises(ConfigError, match=r"^--abort-if: cannot read 'errors > 5'"):
        parse_abort_rule("errors > 5")


def test_junit_has_one_case_per_check_and_a_failure_naming_the_unmet_one(tmp_path):
    outcomes = evaluate(parse_expectations("failed <= 10; no_errors"), summary(ok=8, failed=2))
    path = tmp_path / "ci" / "junit.xml"
    write_junit(outcomes, path, "agg-dp1.decode_worker", duration_s=12.5)
    suite = ET.parse(path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("2", "1", "12.500")
    cases = {case.get("name"): case.find("failure") for case in suite.findall("testcase")}
    assert cases["failed <= 10"] is None
    assert "no_errors: failed (requests that failed: 2)" in cases["no_errors"].get("message")


def test_the_step_summary_is_appended_only_when_github_asks_for_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert append_step_summary("| table |") is None
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    outcomes = evaluate(parse_expectations("no_errors"), summary(ok=1, failed=1))
    append_step_summary("| table |\n\n" + checks_markdown(outcomes))
    assert target.read_text() == "earlier step\n| table |\n\n- ❌ no_errors: failed (requests that failed: 1)\n\n"


def test_a_statistic_over_trials_is_checked_once_against_every_trial():
    trials = [summary(ok=10, failed=f) for f in (1, 2, 6)]
    expectations = parse_expectations("failed.mean <= 3; failed.max <= 5; failed <= 100")

    outcomes = evaluate_trials(expectations, trials)

    assert [(o.name, o.passed) for o in outcomes] == [("failed.mean <= 3", True), ("failed.max <= 5", False)]
    assert "over 3 trials" in outcomes[1].reason
    assert [o.name for o in evaluate(expectations, trials[0])] == ["failed <= 100"]


def test_an_unknown_statistic_is_one_line():
    with pytest.raises(ConfigError, match="unknown statistic 'p42'"):
        parse_expectations("recovery_time_s.p42 <= 10")


def test_bad_request_expectations_read_the_bad_request_columns():
    half_rejected = replace(summary(ok=5, failed=0), bad_requests=4, bad_requests_rejected_pct=50.0, bad_request_max_reject_s=0.2)
    assert verdicts("bad_rejected_pct >= 100; bad_rejected_pct >= 50; bad_reject_max_s <= 0.1; bad_reject_max_s <= 0.5", half_rejected) == [False, True, False, True]
    assert verdicts("bad_rejected_pct >= 0", summary(ok=5, failed=0)) == [False], "no bad request was sent: nothing to meet"


def test_no_log_reads_every_components_logs(tmp_path):
    (tmp_path / "decode_worker_1").mkdir()
    (tmp_path / "decode_worker_1" / "error.log").write_text("ok\nthread 'main' panicked at src/lib.rs:1\n", encoding="utf-8")
    (tmp_path / "frontend").mkdir()
    (tmp_path / "frontend" / "output.log").write_text("Traceback (most recent call last):\n", encoding="utf-8")
    (tmp_path / "notes.log").write_text("panicked at nothing of ours\n", encoding="utf-8")
    outcomes = evaluate(parse_expectations("""no_log "panicked at"; no_log 'Trace.ack'; no_log "OOM" """), summary(ok=1, failed=0), tmp_path)
    assert [o.passed for o in outcomes] == [False, False, True]
    assert outcomes[0].reason == "no_log \"panicked at\": failed (1 lines; the first in decode_worker_1/error.log: thread 'main' panicked at src/lib.rs:1)"
    assert evaluate(parse_expectations('no_log "x"'), summary(ok=1, failed=0))[0].passed is False, "without a run directory nothing is met"


@pytest.mark.parametrize(("line", "message"), [
    ("no_log Traceback", "expected no_log \"PATTERN\""),
    ('no_log "("', "not a regular expression"),
])  # fmt: skip
def test_a_bad_no_log_line_is_refused_in_one_line(line, message):
    with pytest.raises(ConfigError, match=message):
        parse_expectations(line)


def test_client_outage_is_also_read_by_its_former_name():
    late = replace(summary(ok=5, failed=1), client_outage_s=4.0)
    assert verdicts("client_outage_s <= 5; client_recovery_s <= 5; client_recovery_s <= 3", late) == [True, True, False]
    assert parse_expectations("client_recovery_s <= 3")[0].text == "client_outage_s <= 3", "reported under its name now"
