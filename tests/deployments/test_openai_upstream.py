"""The processor in front of real OpenAI-compatible servers (`--worker-api openai`, as
vllm-cpu-dp2 runs it), against a server here that streams as vLLM does: the processor is a
real process, and everything goes over loopback sockets."""

import json
import subprocess
import sys
import urllib.request

import pytest
from gevent.pywsgi import WSGIServer

from deployments.ports import free_port
from tests.live import eventually

CLIENT_REQUEST = {"model": "tiny", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 3, "ignore_eos": True}


def chunk(**fields) -> bytes:
    return f"data: {json.dumps({'id': 'chatcmpl-1', 'object': 'chat.completion.chunk', **fields})}\n\n".encode()


#: What vLLM streams for a request with stream_options.include_usage: a role chunk, a chunk a
#: token, the finish, the usage, then [DONE].
FINISHED = [
    chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
    *(chunk(choices=[{"index": 0, "delta": {"content": word}, "finish_reason": None}]) for word in ("a", " b", " c")),
    chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "length"}]),
    chunk(choices=[], usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}),
    b"data: [DONE]\n\n",
]
#: vLLM's answer when its EngineCore dies under a stream: an error event inside the 200.
ENGINE_DIED = [
    FINISHED[1],
    b'data: {"error": {"object": "error", "message": "EngineCore encountered an issue. See stack trace (above) for the root cause.", "type": "Internal Server Error", "code": 500}}\n\n',
    b"data: [DONE]\n\n",
]


class FakeServer:
    """An OpenAI-compatible server on loopback that answers every chat with `events` and
    keeps the requests it got; /health is 200 with an empty body, as vLLM's is."""

    def __init__(self, events: list[bytes]) -> None:
        self.events = events
        self.requests: list[dict] = []
        self.server = WSGIServer(("127.0.0.1", 0), self.app, log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def app(self, environ, start_response):
        if environ["PATH_INFO"] == "/health":
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        self.requests.append(json.loads(environ["wsgi.input"].read()))
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return iter(self.events)


def start_processor(*options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deployments.sim.processor", "--host", "127.0.0.1", "--port", str(port), *options],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


def get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.fixture
def processor_for(request):
    """A processor routing to the given fake server, once it reports that server live."""

    def start(server: FakeServer) -> str:
        proc, url = start_processor("--workers", server.url, "--worker-api", "openai")
        request.addfinalizer(lambda: (proc.kill(), proc.wait(), proc.stderr.close()))
        assert eventually(lambda: ((get(url + "/health") or {}).get("workers") or {}).get(server.url) is True), "the worker never became live"
        return url

    return start


def generate(processor: str) -> list[dict]:
    """The processor's message lines for the frontend's generation of CLIENT_REQUEST."""
    body = json.dumps({"prompt_tokens": 2, "max_tokens": 3, "request": CLIENT_REQUEST}).encode()
    call = urllib.request.Request(processor + "/generate", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(call, timeout=10) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def test_a_stream_is_relayed_as_tokens_and_a_finish_with_the_servers_usage(processor_for):
    server = FakeServer(FINISHED)
    messages = generate(processor_for(server))
    assert messages == [{"token": "a"}, {"token": " b"}, {"token": " c"}, {"finish_reason": "length", "prompt_tokens": 7, "completion_tokens": 3}]
    # The client's own request went on, streamed and with usage asked for.
    (sent,) = server.requests
    assert sent == {**CLIENT_REQUEST, "stream": True, "stream_options": {"include_usage": True}}


def test_an_error_event_inside_the_200_becomes_an_error_line(processor_for):
    messages = generate(processor_for(FakeServer(ENGINE_DIED)))
    assert messages[0] == {"token": "a"}
    assert messages[1:] == [{"error": "EngineCore encountered an issue. See stack trace (above) for the root cause."}]


def test_a_finish_without_a_usage_chunk_still_finishes(processor_for):
    without_usage = [event for event in FINISHED if b'"usage"' not in event]
    messages = generate(processor_for(FakeServer(without_usage)))
    assert messages[-1] == {"finish_reason": "length", "prompt_tokens": 0, "completion_tokens": 0}


def test_resuming_a_migrated_stream_is_refused_where_the_server_cannot_resume():
    proc, _ = start_processor("--workers", "http://127.0.0.1:1", "--worker-api", "openai", "--migration-limit", "1")
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--worker-api openai cannot resume a stream: use --migration-mode restart" in stderr
