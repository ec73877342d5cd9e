"""How the client judges a chat completion from its text: streamed (SSE) or whole."""

import json

import pytest

from locustfiles.sse import StreamReader, read_completion


def event(payload: object) -> str:
    """One SSE `data:` event carrying `payload` as JSON."""
    return f"data: {json.dumps(payload)}\n\n"


def content_chunk(text: str | None) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


ROLE_CHUNK = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
FINISH_CHUNK = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
DONE = "data: [DONE]\n\n"
SERVICE_UNAVAILABLE = {"error": {"message": "Service temporarily unavailable", "code": 503}}


def usage_chunk(completion_tokens: int) -> dict:
    return {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": completion_tokens, "total_tokens": 9 + completion_tokens}}


def read_stream(*pieces: tuple[str, float]):
    """Feed (text, arrival time) pieces to a fresh reader and judge the stream."""
    reader = StreamReader()
    for text, at in pieces:
        reader.feed(text, at)
    return reader.finish()


# A complete, well-formed stream of three tokens, one piece per event, arriving 0.1 s apart.
GOOD_STREAM = (
    (event(ROLE_CHUNK), 0.05),
    (event(content_chunk("Hel")), 0.1),
    (event(content_chunk("lo")), 0.2),
    (event(content_chunk("!")), 0.3),
    (event(FINISH_CHUNK), 0.35),
    (DONE, 0.4),
)


# --- success ---------------------------------------------------------------------------------


def test_a_stream_with_a_finish_reason_and_done_is_a_success():
    result = read_stream(*GOOD_STREAM)

    assert (result.error_kind, result.finish_reason, result.done) == (None, "stop", True)


def test_a_stream_with_done_but_no_finish_reason_is_a_success():
    result = read_stream((event(content_chunk("hi")), 0.1), (DONE, 0.2))

    assert (result.error_kind, result.finish_reason, result.done) == (None, None, True)


def test_a_stream_with_a_finish_reason_but_no_done_is_a_success():
    result = read_stream((event(content_chunk("hi")), 0.1), (event(FINISH_CHUNK), 0.2))

    assert (result.error_kind, result.finish_reason, result.done) == (None, "stop", False)


def test_null_and_empty_content_deltas_are_never_a_failure():
    result = read_stream(
        (event(ROLE_CHUNK), 0.1),
        (event(content_chunk(None)), 0.2),
        (event(content_chunk("")), 0.3),
        (event(content_chunk(None)), 0.4),
        (event(FINISH_CHUNK), 0.5),
        (event(usage_chunk(5)), 0.6),
    )

    assert (result.error_kind, result.output_tokens, result.first_token_at) == (None, 5, None)


def test_a_usage_chunk_alone_without_a_finish_reason_or_done_is_still_incomplete():
    result = read_stream((event(content_chunk(None)), 0.1), (event(usage_chunk(5)), 0.2))

    assert result.error_kind == "incomplete_stream"


# --- output tokens ---------------------------------------------------------------------------


def test_output_tokens_come_from_usage_when_the_stream_reports_it():
    result = read_stream(*GOOD_STREAM[:-1], (event(usage_chunk(17)), 0.38), GOOD_STREAM[-1])

    assert result.output_tokens == 17


def test_output_tokens_are_the_counted_content_chunks_without_usage():
    result = read_stream(*GOOD_STREAM)

    assert result.output_tokens == 3


def test_reasoning_content_counts_as_a_token():
    reasoning = {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}, "finish_reason": None}]}

    result = read_stream((event(reasoning), 0.1), (event(FINISH_CHUNK), 0.2))

    assert (result.output_tokens, result.first_token_at) == (1, 0.1)


# --- timing ----------------------------------------------------------------------------------


def test_time_to_first_token_is_when_the_first_non_empty_content_arrived():
    result = read_stream(
        (event(ROLE_CHUNK), 0.05),
        (event(content_chunk("")), 0.1),
        (event(content_chunk(None)), 0.15),
        (event(content_chunk("Hi")), 0.25),
        (event(content_chunk("!")), 0.3),
        (event(FINISH_CHUNK), 0.35),
    )

    assert result.first_token_at == 0.25


def test_inter_token_gaps_are_between_the_arrivals_of_content_chunks():
    result = read_stream(
        (event(content_chunk("a")), 0.1),
        (event(content_chunk(None)), 0.15),
        (event(content_chunk("b")), 0.25),
        (event(content_chunk("c")), 0.45),
        (event(FINISH_CHUNK), 0.5),
    )

    assert result.inter_token_s == pytest.approx([0.15, 0.2])


def test_an_event_is_timed_when_its_closing_blank_line_arrives():
    text = event(content_chunk("hi"))

    result = read_stream((text[:-1], 0.1), (text[-1:], 0.4), (DONE, 0.5))

    assert result.first_token_at == 0.4


def test_a_last_event_without_its_blank_line_is_timed_when_its_text_arrived():
    last = json.dumps({"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]})

    result = read_stream((event(content_chunk("Hi")), 0.1), (f"data: {last}\n", 0.3))

    assert result.token_times == [0.1, 0.3]


# --- framing ---------------------------------------------------------------------------------


def test_an_event_split_mid_line_across_feeds_is_read_whole():
    text = event(content_chunk("Hello"))
    middle = len(text) // 2

    result = read_stream((text[:middle], 0.1), (text[middle:], 0.2), (DONE, 0.3))

    assert (result.error_kind, result.output_tokens, result.first_token_at) == (None, 1, 0.2)


def test_crlf_line_endings_are_read_like_lf():
    crlf_stream = tuple((text.replace("\n", "\r\n"), at) for text, at in GOOD_STREAM)

    result = read_stream(*crlf_stream)

    assert (result.error_kind, result.output_tokens, result.done) == (None, 3, True)


def test_a_crlf_split_between_feeds_is_one_line_ending():
    text = event(content_chunk("hi")).replace("\n", "\r\n")

    result = read_stream((text[:-1], 0.1), (text[-1:], 0.2), (DONE.replace("\n", "\r\n"), 0.3))

    assert (result.error_kind, result.output_tokens) == (None, 1)


def test_keep_alive_comments_are_ignored():
    result = read_stream(
        (": keep-alive\n\n", 0.05),
        (event(content_chunk("hi")), 0.1),
        (":keep-alive\n", 0.15),
        (event(FINISH_CHUNK), 0.2),
    )

    assert (result.error_kind, result.output_tokens, result.first_token_at) == (None, 1, 0.1)


def test_a_stream_of_only_keep_alive_comments_is_incomplete():
    result = read_stream((": keep-alive\n\n", 0.1), (": keep-alive\n\n", 0.2))

    assert result.error_kind == "incomplete_stream"


def test_multi_line_data_is_joined_into_one_payload():
    multi_line = 'data: {"choices": [{"index": 0,\ndata: "delta": {"content": "hi"},\ndata: "finish_reason": "stop"}]}\n\n'

    result = read_stream((multi_line, 0.1))

    assert (result.error_kind, result.output_tokens, result.finish_reason) == (None, 1, "stop")


def test_a_last_event_without_its_blank_line_still_counts():
    result = read_stream((event(content_chunk("hi")), 0.1), ("data: [DONE]", 0.2))

    assert (result.error_kind, result.done) == (None, True)


# --- failures --------------------------------------------------------------------------------


def test_an_error_object_inside_a_stream_is_a_stream_error():
    result = read_stream((event(content_chunk("hi")), 0.1), (event(SERVICE_UNAVAILABLE), 0.2))

    assert result.error_kind == "stream_error"


def test_a_stream_error_carries_the_server_message_and_code():
    result = read_stream((event(SERVICE_UNAVAILABLE), 0.1))

    assert result.error == "Service temporarily unavailable (code 503)"


def test_a_stream_error_stays_the_verdict_when_done_follows():
    result = read_stream((event(SERVICE_UNAVAILABLE), 0.1), (event(FINISH_CHUNK), 0.2), (DONE, 0.3))

    assert result.error_kind == "stream_error"


def test_an_error_event_is_a_stream_error():
    result = read_stream((event(content_chunk("hi")), 0.1), ('event: error\ndata: {"message": "engine overloaded"}\n\n', 0.2))

    assert (result.error_kind, result.error) == ("stream_error", "engine overloaded")


def test_an_error_event_without_data_is_a_stream_error():
    result = read_stream((event(content_chunk("hi")), 0.1), ("event: error\n\n", 0.2), (DONE, 0.3))

    assert result.error_kind == "stream_error"


def test_an_error_event_with_plain_text_data_is_a_stream_error():
    result = read_stream((event(content_chunk("hi")), 0.1), ("event: error\ndata: engine overloaded\n\n", 0.2))

    assert result.error_kind == "stream_error"


def test_a_stream_ending_with_neither_finish_reason_nor_done_is_incomplete():
    result = read_stream((event(ROLE_CHUNK), 0.1), (event(content_chunk("Hel")), 0.2), (event(content_chunk("lo")), 0.3))

    assert result.error_kind == "incomplete_stream"


def test_an_empty_stream_is_incomplete():
    assert read_stream().error_kind == "incomplete_stream"


@pytest.mark.parametrize(
    "fed, between",
    [
        ("", True),
        (event(ROLE_CHUNK), True),
        (event(ROLE_CHUNK) + "data: {\"choi", False),  # a line cut in half
        (event(ROLE_CHUNK) + "data: {}\n", False),  # a whole line, but not its event's blank line
        ("event: error\n", False),  # an event type waiting for its data
    ],
)
def test_a_reader_is_between_events_only_when_no_event_is_half_read(fed: str, between: bool):
    reader = StreamReader()
    reader.feed(fed, 0.1)

    assert reader.between_events is between


def test_unparseable_event_data_is_an_invalid_response():
    result = read_stream(("data: {\"choices\": [\n\n", 0.1), (DONE, 0.2))

    assert result.error_kind == "invalid_response"


def test_event_data_that_is_not_an_object_is_an_invalid_response():
    result = read_stream(("data: [1, 2, 3]\n\n", 0.1), (DONE, 0.2))

    assert result.error_kind == "invalid_response"


# --- non-streaming bodies ---------------------------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


def completion_with(**changes: object) -> str:
    return json.dumps({**COMPLETION, **changes})


def test_a_completion_with_a_finish_reason_is_a_success():
    result = read_completion(json.dumps(COMPLETION), at=0.5)

    assert (result.error_kind, result.finish_reason) == (None, "stop")


def test_a_completion_takes_its_output_tokens_from_usage():
    assert read_completion(json.dumps(COMPLETION), at=0.5).output_tokens == 4


def test_a_completion_without_usage_counts_its_non_empty_messages():
    assert read_completion(completion_with(usage=None), at=0.5).output_tokens == 1


def test_a_completion_with_empty_content_is_not_a_failure():
    choices = [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}]

    assert read_completion(completion_with(choices=choices), at=0.5).error_kind is None


def test_an_error_body_is_a_stream_error_with_its_message():
    result = read_completion(json.dumps(SERVICE_UNAVAILABLE), at=0.5)

    assert (result.error_kind, result.error) == ("stream_error", "Service temporarily unavailable (code 503)")


def test_an_unparseable_body_is_an_invalid_response():
    assert read_completion('{"choices": [', at=0.5).error_kind == "invalid_response"


def test_a_body_that_is_not_an_object_is_an_invalid_response():
    assert read_completion("[]", at=0.5).error_kind == "invalid_response"


def test_a_completion_without_choices_is_an_invalid_response():
    assert read_completion(completion_with(choices=[]), at=0.5).error_kind == "invalid_response"


def test_a_completion_without_a_finish_reason_is_incomplete():
    choices = [{"index": 0, "message": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]

    assert read_completion(completion_with(choices=choices), at=0.5).error_kind == "incomplete_stream"


def test_a_stream_the_server_aborted_is_incomplete_even_with_done():
    aborted = {"choices": [{"index": 0, "delta": {}, "finish_reason": "abort"}]}
    result = read_stream((event(content_chunk("Hel")), 0.1), (event(aborted), 0.2), (DONE, 0.3))

    assert (result.error_kind, result.error) == ("incomplete_stream", "the server ended the answer with finish_reason 'abort'")


def test_a_stream_that_finished_with_an_error_reason_is_a_stream_error():
    errored = {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}
    assert read_stream((event(content_chunk("Hel")), 0.1), (event(errored), 0.2), (DONE, 0.3)).error_kind == "stream_error"


def test_a_whole_completion_the_server_aborted_is_incomplete():
    choices = [{"index": 0, "message": {"role": "assistant", "content": "Hel"}, "finish_reason": "abort"}]
    assert read_completion(completion_with(choices=choices), at=0.5).error_kind == "incomplete_stream"


# --- one event at a time, or many ---------------------------------------------------------


def mixed_stream() -> str:
    """Every shape of event the reader takes: plain data events (its fast path), a comment,
    an `event:` field, data over two lines, a blank line too many, CRLF line ends."""
    return (
        event(ROLE_CHUNK)
        + ": keep-alive\n\n"
        + event(content_chunk("Hel"))
        + "event: message\ndata: " + json.dumps(content_chunk("lo")) + "\n\n\n"
        + "data: {\"choices\": [{\"index\": 0,\ndata: \"delta\": {\"content\": \"!\"}}]}\n\n"
        + event(FINISH_CHUNK).replace("\n", "\r\n")
        + event(usage_chunk(3))
        + DONE
    )  # fmt: skip


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_a_stream_reads_the_same_whatever_the_reads_it_arrives_in(size: int):
    text = mixed_stream()
    whole = read_stream((text, 0.5))
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    reader = StreamReader()
    for k, piece in enumerate(pieces):
        reader.feed(piece, 0.5)
        assert reader.between_events == text[: (k + 1) * size].endswith(("\n\n", "\r\n\r\n", "\n\n\n")), (size, k)
    cut = reader.finish()
    assert (cut.error_kind, cut.contents, cut.content_chunks, cut.usage_tokens, cut.finish_reason, cut.done) == (
        None, ["Hel", "lo", "!"], 3, 3, "stop", True)  # fmt: skip
    assert (whole.error_kind, whole.contents, whole.usage_tokens) == (None, ["Hel", "lo", "!"], 3)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1" + "0" * 400])
def test_json_that_is_not_strict_json_is_an_invalid_response(value: str):
    result = read_stream(('data: {"choices": [], "x": ' + value + "}\n\n", 0.1), (DONE, 0.2))

    assert result.error_kind == "invalid_response" and "unparseable event data" in result.error
