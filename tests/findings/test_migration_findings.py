"""Stream migration on agg-dp4 × decode_worker, checked for content: without migration the
in-flight streams fail; `resume` loses nothing and corrupts nothing; `restart` loses nothing
but every stream it moved after its first token is corrupt_output (its tokens start again at
tok0; one moved before any token was delivered is whole)."""

import pytest

from tests.findings.test_reference_findings import run

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_without_migration_the_streams_in_flight_fail(tmp_path):
    summary = run(tmp_path, "--deployment", "agg-dp4", "--failure", "decode_worker").summary

    assert summary["Failed"] >= 1 and summary["Migrated Requests"] == 0


def test_resumed_migration_loses_nothing_and_corrupts_nothing(tmp_path):
    summary = run(tmp_path, "--deployment", "agg-dp4-migration", "--failure", "decode_worker").summary

    assert (summary["Failed"], summary["Corrupt Outputs"]) == (0, 0)
    assert summary["Migrated Requests"] >= 1


def test_restarted_migration_loses_nothing_but_corrupts_every_migrated_stream(tmp_path):
    result = run(tmp_path, "--deployment", "agg-dp4-migration-naive", "--failure", "decode_worker")
    summary = result.summary
    failed = [r for r in result.records if r["status"] == "failure"]

    assert 1 <= summary["Corrupt Outputs"] == summary["Failed"] <= summary["Migrated Requests"]
    assert all(r["error_kind"] == "corrupt_output" and "restarted at token" in r["error"] and r["migrations"] for r in failed)
