"""Trace replay's input: Mooncake JSON lines and CSV read in arrival order, prompts made to
length with shared prefixes for shared hash ids, and the shipped trace made by the project."""

import pytest

from faultsuite.errors import ConfigError
from locustfiles.trace import BLOCK_TOKENS, SAMPLE_TRACE, TraceRequest, load_trace, prompt_for, write_sample_trace


def test_the_shipped_trace_is_the_one_the_project_makes(tmp_path):
    write_sample_trace(tmp_path / "sample.jsonl")

    assert (tmp_path / "sample.jsonl").read_text() == SAMPLE_TRACE.read_text()


def test_a_mooncake_trace_is_read_in_arrival_order_from_its_first_request_and_sped_up():
    normal, fast = load_trace(SAMPLE_TRACE), load_trace(SAMPLE_TRACE, speedup=2.0)

    assert (len(normal), normal[0].at_s) == (40, 0.0)
    assert [r.at_s for r in normal] == sorted(r.at_s for r in normal)
    assert [r.at_s / 2 for r in normal] == pytest.approx([r.at_s for r in fast])


def test_a_prompt_has_the_requested_length_in_words():
    requests = load_trace(SAMPLE_TRACE)

    assert all(len(prompt_for(r, i).split()) == r.input_tokens for i, r in enumerate(requests))


def test_requests_that_share_hash_ids_share_that_prefix_and_no_more():
    first = TraceRequest(0.0, BLOCK_TOKENS + 10, 8, (7, 8))
    second = TraceRequest(1.0, 2 * BLOCK_TOKENS + 10, 8, (7, 9, 10))
    a, b = prompt_for(first, 0).split(), prompt_for(second, 1).split()

    assert a[:BLOCK_TOKENS] == b[:BLOCK_TOKENS]
    assert a[BLOCK_TOKENS:BLOCK_TOKENS + 10] != b[BLOCK_TOKENS:BLOCK_TOKENS + 10]


def test_a_csv_trace_is_read_too(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("timestamp_ms,input_length,output_length\n2000,10,5\n1000,20,6\n")

    assert load_trace(path) == [TraceRequest(0.0, 20, 6), TraceRequest(1.0, 10, 5)]


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("t.jsonl", '{"timestamp": 0, "input_length": 5, "output_length": 3}\n{"timestamp": 1, "input_length": -1, "output_length": 3}\n', "line 2: input_length"),
        ("t.jsonl", "not json\n", "line 1: not a JSON object"),
        ("t.jsonl", '{"timestamp": "soon", "input_length": 5, "output_length": 3}\n', "line 1: timestamp"),
        ("t.csv", "when,in,out\n", "expected the header"),
        ("t.txt", "", r"expected a \.jsonl \(Mooncake\) or \.csv trace"),
        ("t.jsonl", "\n", "holds no request"),
    ],
)
def test_a_bad_trace_is_one_line_naming_the_file_and_line(tmp_path, name, text, says):
    path = tmp_path / name
    path.write_text(text)

    with pytest.raises(ConfigError, match=says):
        load_trace(path)
