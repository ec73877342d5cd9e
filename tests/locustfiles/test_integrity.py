"""The content check of `request.integrity: deterministic`: tok0, tok1, ... and nothing else."""

import pytest

from locustfiles.integrity import deterministic_problem
from locustfiles.sse import StreamReader


def pieces(*indices: int) -> list[str]:
    return [f"tok{i} " for i in indices]


def test_the_tokens_in_order_are_whole():
    assert deterministic_problem(pieces(0, 1, 2, 3)) is None


def test_the_words_may_be_separated_by_leading_spaces_as_dynamos_detokenizer_sends_them():
    assert deterministic_problem(["tok0", " tok1", " tok2"]) is None
    assert "tokens 1 to 1 missing" in deterministic_problem(["tok0", " tok2"]).message


def test_tokens_run_together_are_not_the_engines_tokens():
    assert "not the engine's tokens" in deterministic_problem(["tok0tok1"]).message


@pytest.mark.parametrize(
    ("stream", "says"),
    [
        (pieces(0, 1, 2, 0, 1, 2, 3), "the output restarted at token 3"),
        (pieces(0, 1, 1, 2), "token 1 repeated at position 2"),
        (pieces(0, 1, 4, 5), "tokens 2 to 3 missing"),
        (["tok0 ", "hello "], "not the engine's tokens"),
    ],
)
def test_a_stream_that_restarts_repeats_skips_or_says_something_else_is_named(stream, says):
    assert says in deterministic_problem(stream).message


def test_only_a_restart_counts_as_a_migration_the_deployment_did_not_report():
    assert deterministic_problem(pieces(0, 1, 0, 1, 2)).restarted
    assert not deterministic_problem(pieces(0, 1, 1, 2)).restarted


def test_the_reader_keeps_each_content_piece_and_the_migrations_the_deployment_reported():
    reader = StreamReader()
    reader.feed('data: {"choices": [{"index": 0, "delta": {"content": "tok0 "}}]}\n\n', 0.1)
    reader.feed('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}\n\n', 0.2)
    reader.feed('data: {"choices": [], "usage": {"completion_tokens": 1}, "migrations": 1}\n\ndata: [DONE]\n\n', 0.3)
    result = reader.finish()

    assert (result.contents, result.migrations, result.error_kind) == (["tok0 "], 1, None)


def test_a_migration_count_that_is_not_a_count_is_an_invalid_response():
    reader = StreamReader()
    reader.feed('data: {"choices": [], "migrations": "twice"}\n\ndata: [DONE]\n\n', 0.1)

    assert reader.finish().error_kind == "invalid_response"
