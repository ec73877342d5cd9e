"""One chat completion request, timed and judged, on Locust's FastHttpSession.

`send_chat` sends the request, reads the response as it streams, and returns what the client
saw: end-to-end latency, time to first token, inter-token gaps, output tokens and a failure
kind. It fires Locust's `request` event itself, with the end-to-end latency as the response
time, so Locust's own stats, charts and `--csv` agree with our records.
"""

import socket
import time
from dataclasses import dataclass

import gevent
from geventhttpclient.response import HTTPParseError
from locust.contrib.fasthttp import FastHttpSession, LocustBadStatusCode

from faultsuite.records import FailureKind
from locustfiles.sse import StreamReader, StreamResult, read_completion

__all__ = ["ChatOutcome", "classify_exception", "send_chat"]

REQUEST_NAME = "chat/completions"


@dataclass(frozen=True)
class ChatOutcome:
    start_time: float
    latency_s: float
    result: StreamResult
    http_status: int | None

    @property
    def ok(self) -> bool:
        return self.result.error_kind is None


def classify_exception(exc: BaseException) -> tuple[FailureKind, str]:
    """(failure kind, one-line message) for an exception raised while requesting or reading."""
    # geventhttpclient wraps what ended its last attempt, our own deadline included.
    original = getattr(exc, "original", None)
    if isinstance(original, BaseException):
        return classify_exception(original)
    message = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    if isinstance(exc, LocustBadStatusCode):
        return FailureKind.HTTP_STATUS, message
    if isinstance(exc, ConnectionRefusedError):
        return FailureKind.CONNECTION_REFUSED, message
    if isinstance(exc, (gevent.Timeout, socket.timeout, TimeoutError)):
        return FailureKind.TIMEOUT, message
    # Resets, broken pipes, streams cut mid-chunk and other transport errors alike.
    return FailureKind.CONNECTION_RESET, message


def _status_failure(response, result: StreamResult) -> None:
    body = ""
    try:
        body = (response.text or "")[:300]
    except Exception:  # the body of an error response is a courtesy; its status is the fact
        body = ""
    result.fail(FailureKind.HTTP_STATUS, f"HTTP {response.status_code}: {body}".strip())


def send_chat(session: FastHttpSession, path: str, body: dict, timeout_s: float) -> ChatOutcome:
    """POST `body` to `path` and read the whole answer within `timeout_s` seconds.

    Times are relative to the send: `first_token_at` and `token_times` in the result are
    seconds after `start_time`.
    """
    start_time = time.time()
    started = time.perf_counter()
    result = StreamResult()
    http_status: int | None = None
    stream = bool(body.get("stream"))
    response = None
    headers = {"Accept": "text/event-stream" if stream else "application/json"}
    try:
        with gevent.Timeout(timeout_s):
            response = session.request("POST", path, json=body, stream=True, catch_response=True, name=REQUEST_NAME, headers=headers)
            with response:
                http_status = response.status_code or None
                error = getattr(response, "error", None)
                if isinstance(error, LocustBadStatusCode):
                    _status_failure(response, result)
                elif error is not None:
                    kind, message = classify_exception(error)
                    result.fail(kind, f"no complete answer within {timeout_s:g} s" if kind == FailureKind.TIMEOUT else message)
                elif stream:
                    result = _read_stream(response.stream, started)
                else:
                    result = read_completion(response.text or "", time.perf_counter() - started)
                _report(response, result, started)
    except gevent.Timeout as exc:
        result.fail(FailureKind.TIMEOUT, f"no complete answer within {timeout_s:g} s")
        _fire_unreported(session, path, start_time, started, exc)
    except (OSError, HTTPParseError) as exc:
        # The stream broke while being read: the response context has already closed.
        result.fail(*classify_exception(exc))
        _fire_unreported(session, path, start_time, started, exc)
    latency_s = time.perf_counter() - started
    return ChatOutcome(start_time, latency_s, result, http_status)


def _read_stream(source, started: float) -> StreamResult:
    """Feed the SSE reader line by line, each timed when it arrived.

    `readline` hands over a line as soon as it is in; Locust's `iter_content(n)` would wait
    for n bytes, stamping a whole burst of tokens with the time of the last one.
    """
    reader = StreamReader()
    while line := source.readline(b"\n"):
        reader.feed(line.decode("utf-8", errors="replace"), time.perf_counter() - started)
    rest = source.read()  # a last line without its newline
    if rest:
        reader.feed(rest.decode("utf-8", errors="replace"), time.perf_counter() - started)
    return reader.finish()


def _report(response, result: StreamResult, started: float) -> None:
    """Mark the Locust request with our judgement and the end-to-end time."""
    response.request_meta["response_time"] = (time.perf_counter() - started) * 1000
    response.request_meta["response_length"] = result.output_tokens
    if result.error_kind is None:
        response.success()
    else:
        response.failure(f"{result.error_kind}: {result.error}")


def _fire_unreported(session: FastHttpSession, path: str, start_time: float, started: float, exc: BaseException) -> None:
    """Fire Locust's request event for a request whose response context never reported."""
    session.request_event.fire(
        request_type="POST",
        name=REQUEST_NAME,
        response_time=(time.perf_counter() - started) * 1000,
        response_length=0,
        response=None,
        context={},
        exception=exc,
        start_time=start_time,
        url=path,
    )
