"""A hostile server in a process of its own cannot freeze the client, fill its memory, or
raise out of it: each answer is a recorded verdict within the request timeout.

The server runs apart (`python -m tests.locustfiles.misbehaving_server`) so that, as against
a real server, the client's reads find bytes waiting and never have to yield on their own.
"""

import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Iterator

import gevent
import psutil
import pytest
from locust.env import Environment

from faultsuite.bounded_http import DEFAULT_LIMITS, Connection
from locustfiles.chat_client import ChatOutcome, send_chat
from tests.locustfiles.misbehaving_server import WRONG_SHAPES, WRONG_WHOLE_SHAPES

STREAM_REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 16}
WHOLE_REQUEST = {**STREAM_REQUEST, "stream": False}
TIMEOUT_S = 1.5
#: How far past its deadline a request may end (a loaded 2-core machine's scheduling).
SLACK_S = 1.0


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = subprocess.Popen([sys.executable, "-m", "tests.locustfiles.misbehaving_server"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


def chat(base_url: str, path: str, body: dict = STREAM_REQUEST, timeout_s: float = TIMEOUT_S) -> ChatOutcome:
    environment = Environment()
    return send_chat(Connection(base_url), path, body, timeout_s, environment.events.request)


class HubWatch:
    """The longest the hub went without running a ticking greenlet, while watched."""

    def __init__(self, tick_s: float = 0.02):
        self.tick_s = tick_s
        self.longest_gap_s = 0.0
        self._greenlet = gevent.spawn(self._tick)

    def _tick(self) -> None:
        last = time.monotonic()
        while True:
            gevent.sleep(self.tick_s)
            now = time.monotonic()
            self.longest_gap_s = max(self.longest_gap_s, now - last)
            last = now

    def stop(self) -> float:
        self._greenlet.kill()
        return self.longest_gap_s


def test_a_flood_of_valid_tokens_is_cut_off_at_the_request_timeout(base_url: str):
    outcome = chat(base_url, "/flood-tokens")

    assert (outcome.result.error_kind, outcome.latency_s < TIMEOUT_S + SLACK_S) == ("timeout", True)


def test_a_flood_of_tokens_leaves_the_other_greenlets_running(base_url: str):
    watch = HubWatch()
    chat(base_url, "/flood-tokens")

    assert watch.stop() < 0.5


def test_a_line_past_the_bound_is_an_invalid_response_that_names_it(base_url: str):
    result = chat(base_url, "/huge-line", timeout_s=10).result

    assert (result.error_kind, "line" in (result.error or "")) == ("invalid_response", True)


def test_a_stream_without_newlines_is_an_invalid_response(base_url: str):
    assert chat(base_url, "/no-newline", timeout_s=10).result.error_kind == "invalid_response"


def test_headers_that_never_end_are_an_invalid_response_that_names_them(base_url: str):
    result = chat(base_url, "/endless-headers").result

    assert (result.error_kind, "headers" in (result.error or "")) == ("invalid_response", True)


def test_headers_that_never_end_do_not_fill_the_memory(base_url: str):
    before = psutil.Process().memory_info().rss
    for _ in range(3):
        chat(base_url, "/endless-headers")

    assert psutil.Process().memory_info().rss - before < 64 << 20


def test_a_whole_answer_past_the_body_bound_is_an_invalid_response(base_url: str):
    result = chat(base_url, "/huge-completion", WHOLE_REQUEST, timeout_s=10).result

    assert (result.error_kind, "body" in (result.error or "")) == ("invalid_response", True)


def test_bytes_that_drip_are_given_up_on_at_the_request_timeout_not_per_read(base_url: str):
    outcome = chat(base_url, "/drip", WHOLE_REQUEST, timeout_s=1.0)

    assert (outcome.result.error_kind, outcome.latency_s < 1.0 + SLACK_S) == ("timeout", True)


def test_the_client_asks_for_no_compression_so_a_compressing_server_sends_a_readable_stream(base_url: str):
    assert chat(base_url, "/gzip-if-asked").ok


@pytest.mark.parametrize("shape", sorted(WRONG_SHAPES))
def test_a_streamed_chunk_of_the_wrong_shape_is_an_invalid_response(base_url: str, shape: str):
    assert chat(base_url, f"/shape/{shape}").result.error_kind == "invalid_response"


@pytest.mark.parametrize("shape", sorted(WRONG_WHOLE_SHAPES))
def test_a_whole_answer_of_the_wrong_shape_is_an_invalid_response(base_url: str, shape: str):
    assert chat(base_url, f"/whole-shape/{shape}", WHOLE_REQUEST).result.error_kind == "invalid_response"


def test_the_bounds_are_the_ones_the_readme_states():
    readme = Path("README.md").read_text(encoding="utf-8")

    assert all(text in readme for text in ("64 KiB", "1 MiB", "16 MiB")), (DEFAULT_LIMITS, "README: Limits and safety")
