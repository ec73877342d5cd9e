"""Bad input beside good load, end to end on agg-dp4: every kind of invalid request is
rejected with a 4xx at once, recorded in its own file, summed up in the summary, gated by
expectations; and the normal load does not suffer."""

import json

import pytest

from tests.e2e.harness import kill_tagged, run_locust

pytestmark = pytest.mark.e2e

GATE = "bad_rejected_pct >= 100; bad_reject_max_s <= 1; failed == 0"


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory):
    result = run_locust(
        tmp_path_factory.mktemp("bad-input"),
        "--deployment", "agg-dp4", "--failure", "bad_input", "--clients", "8", "--requests-per-client", "1000",
        "--fault-at", "2", "--max-run-time", "9", "--expect", GATE,
    )  # fmt: skip
    yield result
    kill_tagged(result.tag)


def test_every_bad_request_is_rejected_with_a_4xx_and_recorded(bad_input_run):
    assert bad_input_run.returncode == 0, bad_input_run.stdout[-2000:] + bad_input_run.stderr[-2000:]
    lines = (bad_input_run.run_dir / "bad_requests.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 40, "10 a second for 4 s"
    expected = {"overflow": 400, "malformed_json": 400, "negative_max_tokens": 400, "unknown_model": 404}
    assert {r["kind"] for r in records} == set(expected)
    for record in records:
        assert record["status"] == expected[record["kind"]] and record["error"] is None, record
        assert record["latency_s"] < 1.0
    (fault,) = [e for e in bad_input_run.events if e["kind"] == "fault"]
    assert all(float(fault["offset_s"]) <= r["offset_s"] for r in records)


def test_the_summary_says_how_bad_requests_were_answered_and_the_load_did_not_suffer(bad_input_run):
    summary = bad_input_run.summary
    assert summary["Bad Requests"] == 40 and summary["Bad Requests Rejected (%)"] == 100.0
    assert summary["Bad Request Statuses"] == "malformed_json: 400×10; negative_max_tokens: 400×10; overflow: 400×10; unknown_model: 404×10"
    assert summary["Failed"] == 0 and summary["Success"] > 0
    (proof,) = [e for e in bad_input_run.events if e["kind"] == "proof"]
    assert proof["outcome"] == "confirmed"
    assert "expectation failed" not in bad_input_run.stdout + bad_input_run.stderr
