"""Dynamo with `--migration-limit 3` × decode_worker, with every answer's content checked
(`dynamo-agg-migration-checked`): what integrity checking says about migrated streams.

As found on Dynamo 1.6.1 with its mocker engine: every stream the frontend moved after its
first token came back as HTTP 200 with its tokens started again at tok0 on the new worker,
all 32 of them after the k already delivered. No request is lost, as the plain
`dynamo-agg-migration` run shows (tests/dynamo/test_dynamo_runs.py), yet each of those answers
is corrupt. The mocker replays its trace from the start whatever it is given; Dynamo passes
the replayed tokens on unchecked.
"""

import pytest

from tests.dynamo.test_dynamo_runs import LOAD, MAX_TOKENS, run_dynamo

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.dynamo]


def test_dynamo_migration_replays_each_moved_stream_from_its_first_token(dynamo, tmp_path_factory):
    result = run_dynamo(tmp_path_factory, "dynamo-agg-migration-checked", "--failure", "decode_worker", *LOAD)
    summary = result.summary
    failed = [r for r in result.records if r["status"] == "failure"]

    assert failed, "no stream was in flight on the killed worker"
    for record in failed:
        assert record["error_kind"] == "corrupt_output" and record["http_status"] == 200, record
        restarted_at = int(record["error"].split("restarted at token ")[1].split(":")[0])
        # The k tokens delivered, then the whole trace again: nothing lost, k repeated.
        assert record["output_tokens"] == restarted_at + MAX_TOKENS, record
        assert record["migrations"] == 1
    assert summary["Corrupt Outputs"] == summary["Failed"] == summary["Migrated Requests"]
    # The frontend's own counter saw every one, and those moved before their first token too,
    # which arrive whole.
    assert summary["Migrations Counted"] >= summary["Migrated Requests"]
