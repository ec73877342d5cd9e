"""The simulated decode worker: an HTTP server in front of its engine child process.

The worker starts its engine (`deployments.sim.engine`) as a child in its own process group,
so killing the worker's group kills both, and the engine dies with the worker (PDEATHSIG).
It is ready (`/health` 200) once the engine reports that its model is loaded. `/metrics` says
how many requests it holds (`llm_worker_requests_running`) and how old the oldest of them is
(`llm_worker_oldest_request_age_seconds`), for choosing fault targets by state, and how many
tokens it has streamed (`llm_worker_generated_tokens_total`), to check its health against.

When the engine dies, what happens depends on `--engine-death`:
- `undetected` (the default, like a worker waiting on a socket that never answers): the worker
  stays healthy and keeps accepting requests, which then hang until their clients give up;
- `detected`: the worker fails every request in flight with an error and exits, so that its
  supervisor restarts it with a fresh engine.

With `--prefill-queue`, each prompt is first handed to the prefill workers through the remote
prefill queue (disaggregated serving); a prefill that does not come back within
`--prefill-timeout-s` (default 30 s) fails the request.

Arguments it does not know are passed to the engine (timing knobs, startup delay).
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Iterator, Literal  # noqa: E402

import gevent  # noqa: E402
from gevent.queue import Queue  # noqa: E402
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest  # noqa: E402
from prometheus_client.core import CounterMetricFamily  # noqa: E402

from deployments.lifetime import die_with_parent  # noqa: E402
from deployments.sim.wire import (  # noqa: E402
    NDJSON_HEADERS,
    PeerUnavailable,
    abandon_if_client_goes,
    base_arguments,
    json_response,
    post_json,
    serve,
)

__all__ = ["main"]

log = logging.getLogger(__name__)

ENGINE_LOST = {"error": "engine connection lost"}


class EngineClient:
    """Owns the engine child and multiplexes requests over the channel to it."""

    def __init__(self, engine_args: list[str], engine_death: Literal["detected", "undetected"]):
        self.engine_death = engine_death
        self.ready = False
        self.alive = True
        self.streams: dict[str, Queue] = {}
        self.started: dict[str, float] = {}  # when each stream in `streams` began (monotonic)
        self.tokens_streamed = 0  # every token handed on, across all streams
        self._ids = itertools.count()
        ours, theirs = socket.socketpair()
        self.channel = ours
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deployments.sim.engine", "--fd", str(theirs.fileno()), *engine_args],
            pass_fds=[theirs.fileno()],
            preexec_fn=die_with_parent(),
        )
        theirs.close()
        log.info("engine started, pid %d", self.process.pid)
        # One greenlet writes to the engine: a request abandoned by its client (ClientGone) is
        # stopped wherever it waits, and must never be stopped halfway through a line.
        self.outbox: Queue = Queue()
        gevent.spawn(self._write)
        gevent.spawn(self._receive)

    def _write(self) -> None:
        for message in self.outbox:
            try:
                self.channel.sendall((json.dumps(message) + "\n").encode())
            except OSError:
                # A dead engine: the message is dropped. The undetected mode hangs the request,
                # as the reader never answers; the detected mode has already failed it and is exiting.
                continue

    def _receive(self) -> None:
        for line in self.channel.makefile("rb"):
            message = json.loads(line)
            if message.get("ready"):
                self.ready = True
                log.info("engine ready")
                continue
            stream = self.streams.get(message["id"])
            if stream is not None:
                stream.put(message)
        self.alive = False
        self._engine_lost()

    def _engine_lost(self) -> None:
        if self.engine_death == "undetected":
            # Nothing tells a worker like this one that its engine is gone: requests already
            # sent, and every request after, wait for tokens that never come.
            return
        log.error("engine connection lost; failing %d requests and exiting", len(self.streams))
        for stream in self.streams.values():
            stream.put(ENGINE_LOST)
        gevent.sleep(0.2)  # let the error lines reach the callers before the sockets close
        os._exit(3)

    def generate(self, prompt_tokens: int, max_tokens: int, prefilled: bool = False, start: int = 0) -> Iterator[dict]:
        """Messages of one generation, ending with its finish (or error) message; from token
        `start` on, when `start` tokens were delivered elsewhere (a migrated stream)."""
        request_id = f"r{next(self._ids)}"
        stream: Queue = Queue()
        self.streams[request_id] = stream
        self.started[request_id] = time.monotonic()
        finished = False
        try:
            self._send(
                {"op": "submit", "id": request_id, "prompt_tokens": prompt_tokens, "max_tokens": max_tokens, "prefilled": prefilled, "start": start}
            )
            while True:
                message = stream.get()
                self.tokens_streamed += "token" in message
                yield message
                if "token" not in message:
                    finished = True
                    return
        finally:
            del self.streams[request_id]
            del self.started[request_id]
            if not finished:
                self._send({"op": "cancel", "id": request_id})

    def _send(self, message: dict) -> None:
        self.outbox.put(message)  # never blocks, so never switches


class RemotePrefill:
    """Hands prompts to prefill workers through the remote prefill queue, and waits."""

    def __init__(self, queue_url: str, timeout_s: float):
        self.queue_url = queue_url
        self.timeout_s = timeout_s

    def __call__(self, prompt_tokens: int) -> str | None:
        """None once the prompt is prefilled; the reason when it was not."""
        body = {"prompt_tokens": prompt_tokens, "timeout_s": self.timeout_s}
        try:
            post_json(f"{self.queue_url}/prefill", body, timeout_s=self.timeout_s + 5)
            return None
        except PeerUnavailable as exc:
            status = "" if exc.status is None else f"HTTP {exc.status} from "
            return f"remote prefill failed: {status}{exc}"


def generation(engine: EngineClient, prefill: RemotePrefill | None, prompt_tokens: int, max_tokens: int, start: int = 0) -> Iterator[dict]:
    """A generation, its prompt first prefilled remotely when the worker has a prefill queue."""
    if prefill is not None:
        failure = prefill(prompt_tokens)
        if failure is not None:
            log.warning("%s", failure)
            yield {"error": failure}
            return
    yield from engine.generate(prompt_tokens, max_tokens, prefilled=prefill is not None, start=start)


def worker_metrics(engine: EngineClient) -> CollectorRegistry:
    """The worker's own gauges, read at each scrape."""
    registry = CollectorRegistry()
    running = Gauge("llm_worker_requests_running", "requests the worker holds now", registry=registry)
    running.set_function(lambda: len(engine.streams))
    oldest = Gauge("llm_worker_oldest_request_age_seconds", "age of the oldest request the worker holds (0 with none)", registry=registry)
    oldest.set_function(lambda: time.monotonic() - min(engine.started.values(), default=time.monotonic()))
    registry.register(StreamedTokens(engine))
    return registry


class StreamedTokens:
    """`llm_worker_generated_tokens_total`: the engine client's own count, read at each scrape."""

    def __init__(self, engine: EngineClient):
        self.engine = engine

    def collect(self):
        yield CounterMetricFamily("llm_worker_generated_tokens", "tokens the worker has streamed", value=self.engine.tokens_streamed)


def make_app(engine: EngineClient, prefill: RemotePrefill | None = None):
    registry = worker_metrics(engine)

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/health":
            if engine.ready:
                return json_response(start_response, "200 OK", {"status": "ready", "inflight": len(engine.streams)})
            return json_response(start_response, "503 Service Unavailable", {"status": "loading"})
        if path == "/metrics":
            page = generate_latest(registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(page)))])
            return [page]
        if path == "/generate" and environ["REQUEST_METHOD"] == "POST":
            if not engine.ready:
                return json_response(start_response, "503 Service Unavailable", {"error": "engine not ready"})
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            abandon_if_client_goes(environ)
            start_response("200 OK", NDJSON_HEADERS)
            messages = generation(engine, prefill, int(body["prompt_tokens"]), int(body["max_tokens"]), int(body.get("start", 0)))
            return ((json.dumps(m) + "\n").encode() for m in messages)
        return json_response(start_response, "404 Not Found", {"error": f"no route {path}"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments("simulated decode worker")
    parser.add_argument("--engine-death", choices=["detected", "undetected"], default="undetected")
    parser.add_argument("--prefill-queue", default="", help="remote prefill queue URL (disaggregated serving)")
    parser.add_argument("--prefill-timeout-s", type=float, default=30.0, help="how long to wait for a remote prefill")
    args, engine_args = parser.parse_known_args(argv)
    # The worker itself starts at once; its engine does the loading.
    engine = EngineClient([*engine_args, "--startup-delay-s", str(args.startup_delay_s)], args.engine_death)
    prefill = RemotePrefill(args.prefill_queue, args.prefill_timeout_s) if args.prefill_queue else None
    serve(make_app(engine, prefill), args.host, args.port, f"decode_worker:{args.port}")


if __name__ == "__main__":
    main()
