"""How `send_chat` judges what a real (misbehaving) server sends over a real socket.

Importing `locustfiles.chat_client` imports locust, which monkey-patches the process for
gevent, so the server's greenlets and the client's requests take turns on one hub.
"""

from collections.abc import Iterator

import pytest
from locust.env import Environment

from faultsuite.bounded_http import Connection
from locustfiles.chat_client import REQUEST_NAME, ChatOutcome, send_chat
from tests.locustfiles.misbehaving_server import (
    SLOW_REST_S,
    TOKEN_GAP_S,
    MisbehavingServer,
    closed_port,
)

CHAT_PATH = "/v1/chat/completions"
STREAM_REQUEST = {"model": "test-model", "messages": [{"role": "user", "content": "Say hello."}], "stream": True, "max_tokens": 16}
WHOLE_REQUEST = {**STREAM_REQUEST, "stream": False}
#: Long enough that no route but a stalling one comes near it.
TIMEOUT_S = 10.0
#: The deadline given for routes that never finish answering.
SHORT_TIMEOUT_S = 0.5


class Client:
    """A connection on its own Locust environment, recording every `request` event."""

    def __init__(self, base_url: str) -> None:
        self.environment = Environment()
        self.events: list[dict] = []
        self.environment.events.request.add_listener(lambda **event: self.events.append(event))
        self.connection = Connection(base_url)

    def chat(self, path: str, body: dict = STREAM_REQUEST, timeout_s: float = TIMEOUT_S) -> ChatOutcome:
        return send_chat(self.connection, path, body, timeout_s, self.environment.events.request)


@pytest.fixture(scope="module")
def server() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server: MisbehavingServer) -> Client:
    return Client(server.base_url)


# --- one misbehaviour, one verdict ----------------------------------------------------------


def test_a_good_stream_is_a_success(client: Client):
    outcome = client.chat("/good")

    assert (outcome.ok, outcome.http_status) == (True, 200)


def test_a_good_stream_counts_its_output_tokens(client: Client):
    assert client.chat("/good").result.output_tokens == 3


def test_a_good_stream_has_a_time_to_first_token_within_its_latency(client: Client):
    outcome = client.chat("/good")

    assert outcome.result.first_token_at is not None and 0 < outcome.result.first_token_at <= outcome.latency_s


def test_a_good_stream_has_a_gap_between_each_pair_of_its_three_tokens(client: Client):
    assert len(client.chat("/good").result.inter_token_s) == 2


def test_time_to_first_token_is_when_the_first_token_arrives_not_when_the_stream_ends(client: Client):
    outcome = client.chat("/slow-after-first-token")

    assert outcome.result.first_token_at < SLOW_REST_S / 2


def test_inter_token_gaps_follow_the_pace_of_the_server(client: Client):
    gaps = client.chat("/good").result.inter_token_s

    assert min(gaps) >= TOKEN_GAP_S / 2


def test_an_http_503_is_an_http_status_failure(client: Client):
    outcome = client.chat("/http-503")

    assert (outcome.result.error_kind, outcome.http_status) == ("http_status", 503)


def test_an_error_object_inside_a_200_stream_is_a_stream_error(client: Client):
    outcome = client.chat("/stream-error")

    assert (outcome.result.error_kind, outcome.http_status) == ("stream_error", 200)


def test_a_stream_error_carries_the_server_message(client: Client):
    assert "Service temporarily unavailable" in client.chat("/stream-error").result.error


def test_a_stream_that_ends_cleanly_without_finish_reason_or_done_is_incomplete(client: Client):
    assert client.chat("/incomplete").result.error_kind == "incomplete_stream"


def test_a_connection_closed_mid_chunk_is_a_connection_reset(client: Client):
    assert client.chat("/cut-mid-chunk").result.error_kind == "connection_reset"


def test_a_connection_closed_between_two_events_is_an_incomplete_stream(client: Client):
    outcome = client.chat("/cut-between-events")

    assert (outcome.result.error_kind, outcome.http_status) == ("incomplete_stream", 200)
    assert outcome.result.error.startswith("the connection closed between two events")


def test_a_stream_closed_between_two_events_keeps_the_tokens_it_had(client: Client):
    assert client.chat("/cut-between-events").result.output_tokens == 1


def test_a_connection_closed_after_a_whole_answer_is_a_success(client: Client):
    assert client.chat("/cut-after-done").ok


def test_a_connection_reset_mid_chunk_is_a_connection_reset(client: Client):
    assert client.chat("/reset-mid-chunk").result.error_kind == "connection_reset"


def test_a_server_that_never_answers_is_a_timeout(client: Client):
    assert client.chat("/never-answers", timeout_s=SHORT_TIMEOUT_S).result.error_kind == "timeout"


def test_a_server_that_never_answers_is_given_up_on_at_the_deadline(client: Client):
    outcome = client.chat("/never-answers", timeout_s=SHORT_TIMEOUT_S)

    assert 0.4 <= outcome.latency_s <= 3


def test_a_stream_that_stalls_after_its_headers_is_a_timeout(client: Client):
    assert client.chat("/headers-then-stall", timeout_s=SHORT_TIMEOUT_S).result.error_kind == "timeout"


def test_a_stream_that_stalls_after_its_headers_is_given_up_on_at_the_deadline(client: Client):
    outcome = client.chat("/headers-then-stall", timeout_s=SHORT_TIMEOUT_S)

    assert 0.4 <= outcome.latency_s <= 3


def test_nothing_listening_is_a_connection_refused():
    outcome = Client(f"http://127.0.0.1:{closed_port()}").chat(CHAT_PATH)

    assert outcome.result.error_kind == "connection_refused"


def test_a_whole_completion_is_a_success(client: Client):
    outcome = client.chat("/completion", WHOLE_REQUEST)

    assert (outcome.ok, outcome.result.output_tokens) == (True, 3)


def test_a_whole_200_body_with_an_error_object_is_a_stream_error(client: Client):
    assert client.chat("/completion-error", WHOLE_REQUEST).result.error_kind == "stream_error"


# --- what Locust hears ------------------------------------------------------------------------

#: (path, request body, deadline, whether Locust should count a success)
ROUTES = [
    ("/good", STREAM_REQUEST, TIMEOUT_S, True),
    ("/http-503", STREAM_REQUEST, TIMEOUT_S, False),
    ("/stream-error", STREAM_REQUEST, TIMEOUT_S, False),
    ("/incomplete", STREAM_REQUEST, TIMEOUT_S, False),
    ("/cut-mid-chunk", STREAM_REQUEST, TIMEOUT_S, False),
    ("/reset-mid-chunk", STREAM_REQUEST, TIMEOUT_S, False),
    ("/never-answers", STREAM_REQUEST, SHORT_TIMEOUT_S, False),
    ("/headers-then-stall", STREAM_REQUEST, SHORT_TIMEOUT_S, False),
    ("/completion", WHOLE_REQUEST, TIMEOUT_S, True),
    ("/completion-error", WHOLE_REQUEST, TIMEOUT_S, False),
]
ROUTE_IDS = [path.strip("/") for path, *_ in ROUTES]


@pytest.mark.parametrize(("path", "body", "timeout_s", "success"), ROUTES, ids=ROUTE_IDS)
def test_locust_hears_of_each_request_exactly_once(client: Client, path: str, body: dict, timeout_s: float, success: bool):
    client.chat(path, body, timeout_s)

    assert [event["name"] for event in client.events] == [REQUEST_NAME]


@pytest.mark.parametrize(("path", "body", "timeout_s", "success"), ROUTES, ids=ROUTE_IDS)
def test_locust_hears_the_same_verdict_as_the_outcome(client: Client, path: str, body: dict, timeout_s: float, success: bool):
    outcome = client.chat(path, body, timeout_s)

    assert (outcome.ok, client.events[0]["exception"] is None) == (success, success)


@pytest.mark.parametrize(("path", "body", "timeout_s", "success"), ROUTES, ids=ROUTE_IDS)
def test_locust_hears_the_end_to_end_latency_as_the_response_time(client: Client, path: str, body: dict, timeout_s: float, success: bool):
    outcome = client.chat(path, body, timeout_s)

    assert client.events[0]["response_time"] / 1000 == pytest.approx(outcome.latency_s, abs=0.05)


def test_locust_hears_of_a_refused_connection_once_as_a_failure():
    client = Client(f"http://127.0.0.1:{closed_port()}")

    client.chat(CHAT_PATH)

    assert [event["exception"] is None for event in client.events] == [False]


@pytest.mark.parametrize(("path", "body", "timeout_s", "success"), [r for r in ROUTES if not r[3]], ids=[i for i, r in zip(ROUTE_IDS, ROUTES) if not r[3]])
def test_locusts_error_report_has_one_row_for_a_failure_however_often_it_happens(client: Client, path: str, body: dict, timeout_s: float, success: bool):
    # Locust's error report groups by the exception's text: that text must be the record's
    # own stable message, never an object's repr with its address or the moment it happened.
    for _ in range(3):
        outcome = client.chat(path, body, timeout_s)
        client.environment.stats.log_error("POST", REQUEST_NAME, client.events[-1]["exception"])
    assert [error.occurrences for error in client.environment.stats.errors.values()] == [3]
    assert str(client.events[-1]["exception"]) == f"{outcome.result.error_kind}: {outcome.result.error}"
