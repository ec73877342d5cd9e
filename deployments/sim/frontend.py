"""The simulated frontend: an OpenAI-compatible HTTP server in front of the processors.

Serves `/v1/chat/completions` (streaming SSE, with a final usage chunk and `data: [DONE]`, or
one JSON body), `/v1/models`, `/health` (200 once some decode worker is reachable) and
`/metrics` in Prometheus text:

    llm_requests_pending   requests received that have not yet had their first token
    llm_requests_running   requests received and not yet finished
    llm_active_workers     decode workers that a live processor reports live
    llm_requests_total     finished requests, by status (success | error | cancelled: the
                           client went away first, and the request was abandoned all the way down)

Prompt tokens are counted as whitespace-separated words: the simulation needs a count, not a
vocabulary. Requests are checked as vLLM checks them: a body that is not JSON, no messages, a
`max_tokens` that is not a positive whole number, or prompt plus `max_tokens` beyond
`--max-model-len` is a 400; a `model` other than the one `--model` names is a 404 (without
`--model`, any name is served). A request that breaks after the stream began ends with an OpenAI-style error
event, `data: {"error": {...}}`, and no `[DONE]`, as real servers do.
"""

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from typing import Iterator  # noqa: E402

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest  # noqa: E402

from deployments.sim.wire import (  # noqa: E402
    ClientGone,
    HealthPoller,
    PeerUnavailable,
    RoundRobin,
    abandon_if_client_goes,
    base_arguments,
    json_response,
    open_generation,
    read_json_lines,
    serve,
)

__all__ = ["main"]

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 16
#: What /v1/models lists when no `--model` is given, and any model name is served.
ANY_MODEL_LISTED_AS = "sim-model"
#: Prompt plus completion tokens a request may ask for, unless `--max-model-len` says otherwise.
DEFAULT_MAX_MODEL_LEN = 8192


class UpstreamError(Exception):
    """A generation failed after it was routed."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.pending = Gauge("llm_requests_pending", "Requests without a first token yet", registry=self.registry)
        self.running = Gauge("llm_requests_running", "Requests in flight", registry=self.registry)
        self.active_workers = Gauge("llm_active_workers", "Decode workers reachable", registry=self.registry)
        self.finished = Counter("llm_requests", "Finished requests", ["status"], registry=self.registry)


def prompt_tokens(messages: list) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages if isinstance(m, dict))


class Frontend:
    def __init__(self, processors: HealthPoller, model: str, max_model_len: int = DEFAULT_MAX_MODEL_LEN, strict_model: bool = True):
        """`strict_model`: a request naming a model other than `model` is a 404."""
        self.processors = processors
        self.router = RoundRobin(processors)
        self.model = model
        self.max_model_len = max_model_len
        self.strict_model = strict_model
        self.metrics = Metrics()
        self._ids = itertools.count()

    def active_workers(self) -> int:
        live: set[str] = set()
        for processor in self.processors.live:
            health = self.processors.health.get(processor, {})
            live.update(w for w, up in health.get("workers", {}).items() if up)
        return len(live)

    def generate(self, body: dict) -> Iterator[dict]:
        """Messages of one generation through the first processor that takes it.

        Raises UpstreamError before the first message when no processor takes it, and
        during the stream when the stream breaks or carries an error.
        """
        for processor in self.router.candidates():
            try:
                conn, response = open_generation(processor + "/generate", body)
            except PeerUnavailable as exc:
                log.warning("%s", exc)
                if exc.status is None:  # no answer at all; one that answered is alive, only its route failed
                    self.processors.mark_dead(processor)
                continue
            try:
                for message in read_json_lines(response):
                    if "error" in message:
                        raise UpstreamError(message["error"])
                    yield message
                    if "finish_reason" in message:
                        return
                raise UpstreamError("generation ended without a finish")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise UpstreamError(f"processor {processor} connection lost: {exc}") from exc
            finally:
                conn.close()
        raise UpstreamError("no live processor with a live decode worker")

    def tracked(self, messages: Iterator[dict]) -> Iterator[dict]:
        """Count the request as pending until its first token, running until it ends."""
        self.metrics.pending.inc()
        self.metrics.running.inc()
        first = True
        status = "error"
        try:
            for message in messages:
                if first and "migrated" not in message:
                    self.metrics.pending.dec()
                    first = False
                if "finish_reason" in message:
                    status = "success"
                yield message
        except (ClientGone, GeneratorExit):
            # Closed unfinished, the client went: noticed by its connection's watcher, or by a
            # write that failed first (the server then closes the stream, and this generator).
            # A non-streaming answer is read up to its finish, and this closed after it.
            if status != "success":
                status = "cancelled"
            raise
        finally:
            if first:
                self.metrics.pending.dec()
            self.metrics.running.dec()
            self.metrics.finished.labels(status=status).inc()

    def chunk(self, request_id: str, created: int, **fields) -> bytes:
        payload = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": self.model}
        payload.update(fields)
        return f"data: {json.dumps(payload)}\n\n".encode()

    def stream(self, request_id: str, messages: Iterator[dict]) -> Iterator[bytes]:
        created = int(time.time())
        yield self.chunk(request_id, created, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        migrations = 0
        try:
            for message in messages:
                if "migrated" in message:
                    migrations += 1
                    continue
                if "token" in message:
                    delta = {"content": message["token"]}
                    yield self.chunk(request_id, created, choices=[{"index": 0, "delta": delta, "finish_reason": None}])
                    continue
                yield self.chunk(request_id, created, choices=[{"index": 0, "delta": {}, "finish_reason": message["finish_reason"]}])
                usage = usage_of(message)
                # How often the stream moved to another worker: what a client cannot see otherwise.
                yield self.chunk(request_id, created, choices=[], usage=usage, **({"migrations": migrations} if migrations else {}))
                yield b"data: [DONE]\n\n"
        except UpstreamError as exc:
            log.warning("request %s failed mid-stream: %s", request_id, exc)
            error = {"error": {"message": f"Service temporarily unavailable: {exc}", "type": "upstream_error", "code": 503}}
            yield f"data: {json.dumps(error)}\n\n".encode()

    def complete(self, request_id: str, messages: Iterator[dict]) -> dict:
        text = []
        migrations = 0
        for message in messages:
            if "migrated" in message:
                migrations += 1
            elif "token" in message:
                text.append(message["token"])
            else:
                return {
                    **({"migrations": migrations} if migrations else {}),
                    "id": request_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": self.model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "".join(text)}, "finish_reason": message["finish_reason"]}
                    ],
                    "usage": usage_of(message),
                }
        raise UpstreamError("generation ended without a finish")

    def chat_completions(self, environ, start_response):
        try:
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
            max_tokens = body.get("max_tokens")
            max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise ValueError(f"max_tokens must be at least 1, got {max_tokens!r}")
        except (ValueError, KeyError, TypeError) as exc:
            return json_response(start_response, "400 Bad Request", error_body(f"invalid request: {exc}", 400))
        if self.strict_model and body.get("model", self.model) != self.model:
            return json_response(start_response, "404 Not Found", error_body(f"The model `{body['model']}` does not exist.", 404))
        prompt = prompt_tokens(messages)
        if prompt + max_tokens > self.max_model_len:
            message = (
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} in the completion)."
            )
            return json_response(start_response, "400 Bad Request", error_body(message, 400))
        request_id = f"chatcmpl-{next(self._ids)}"
        abandon_if_client_goes(environ)
        # The counts for embedded workers; the request itself for real ones (upstream.py).
        upstream = {"prompt_tokens": prompt, "max_tokens": max_tokens, "request": body}
        generation = self.tracked(self.generate(upstream))
        try:
            first = next(generation)
        except UpstreamError as exc:
            generation.close()
            return json_response(start_response, "503 Service Unavailable", error_body(str(exc), 503))
        generation = itertools.chain([first], generation)
        if body.get("stream"):
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
            return self.stream(request_id, generation)
        try:
            return json_response(start_response, "200 OK", self.complete(request_id, generation))
        except UpstreamError as exc:
            return json_response(start_response, "503 Service Unavailable", error_body(str(exc), 503))

    def app(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/v1/chat/completions" and environ["REQUEST_METHOD"] == "POST":
            return self.chat_completions(environ, start_response)
        if path == "/v1/models":
            model = {"id": self.model, "object": "model", "owned_by": "embedded-simulation"}
            return json_response(start_response, "200 OK", {"object": "list", "data": [model]})
        if path == "/health":
            workers = self.active_workers()
            status = "200 OK" if workers else "503 Service Unavailable"
            return json_response(start_response, status, {"status": "ok" if workers else "no workers", "active_workers": workers})
        if path == "/metrics":
            self.metrics.active_workers.set(self.active_workers())
            payload = generate_latest(self.metrics.registry)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(payload)))])
            return [payload]
        return json_response(start_response, "404 Not Found", error_body(f"no route {path}", 404))


def usage_of(finish: dict) -> dict:
    prompt, completion = finish.get("prompt_tokens", 0), finish.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def error_body(message: str, code: int) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error" if code == 400 else "upstream_error", "code": code}}


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments("simulated OpenAI-compatible frontend")
    parser.add_argument("--processors", required=True, help="comma-separated processor base URLs")
    parser.add_argument("--model", default=None, help="the one model served: a request for another is a 404 (default: any name, listed as sim-model)")
    parser.add_argument("--max-model-len", type=int, default=DEFAULT_MAX_MODEL_LEN, help="prompt plus completion tokens a request may ask for")
    args = parser.parse_args(argv)
    processors = HealthPoller(args.processors.split(","))
    processors.start()
    frontend = Frontend(processors, args.model or ANY_MODEL_LISTED_AS, args.max_model_len, strict_model=args.model is not None)
    serve(frontend.app, args.host, args.port, f"frontend:{args.port}", args.startup_delay_s)


if __name__ == "__main__":
    main()
