"""One chat completion request, timed and judged, on a bounded HTTP connection.

`send_chat` sends the request, reads the response as it streams, and returns what the client
saw: end-to-end latency, time to first token, inter-token gaps, output tokens and a failure
kind. It never raises for anything the server sends: every answer that is not a valid one is
a failure of some kind, `invalid_response` when nothing more precise fits. The exchange is
bounded in time and bytes (`faultsuite.bounded_http`).

It fires Locust's `request` event itself, once per request, with the end-to-end latency as
the response time, so Locust's own stats, charts and `--csv` agree with our records.
"""

import codecs
import json
import socket
import time
from dataclasses import dataclass

from locust.event import EventHook
from locust.exception import CatchResponseError

from faultsuite.bounded_http import ClosedMidResponse, Connection, DeadlineExceeded, HttpError
from faultsuite.records import FailureKind
from locustfiles.integrity import INTEGRITY_CHECKS
from locustfiles.sse import StreamReader, StreamResult, read_completion

__all__ = ["REQUEST_NAME", "ChatOutcome", "classify_exception", "send_chat"]

REQUEST_NAME = "chat/completions"
#: How much of an error response's body goes into the record's message.
ERROR_BODY_BYTES = 64 * 1024


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
    message = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    if isinstance(exc, ConnectionRefusedError):
        return FailureKind.CONNECTION_REFUSED, message
    if isinstance(exc, (DeadlineExceeded, socket.timeout, TimeoutError)):
        return FailureKind.TIMEOUT, message
    if isinstance(exc, HttpError):
        return FailureKind.INVALID_RESPONSE, str(exc)
    # Resets, broken pipes, streams cut mid-chunk and other transport errors alike.
    return FailureKind.CONNECTION_RESET, message


def send_chat(
    connection: Connection,
    path: str,
    body: dict,
    timeout_s: float,
    request_event: EventHook,
    headers: dict[str, str] | None = None,
    integrity: str | None = None,
) -> ChatOutcome:
    """POST `body` to `path` and read the whole answer within `timeout_s` seconds, connect
    included; fire `request_event` once with the verdict. With `integrity` (a name of
    `locustfiles.integrity.INTEGRITY_CHECKS`) an answer whose content fails it is
    `corrupt_output`, and one whose tokens restarted counts at least one migration.

    Times are relative to the send: `first_token_at` and `token_times` in the result are
    seconds after `start_time`.
    """
    start_time = time.time()
    started = time.perf_counter()
    stream = bool(body.get("stream"))
    http_status: int | None = None
    request_headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        **(headers or {}),
    }
    try:
        response = connection.request("POST", path, json.dumps(body).encode(), request_headers, time.monotonic() + timeout_s)
        http_status = response.status
        if response.status != 200:
            result = StreamResult()
            text = response.read(ERROR_BODY_BYTES).decode("utf-8", errors="replace")
            result.fail(FailureKind.HTTP_STATUS, f"HTTP {response.status}: {text[:300]}".strip())
        elif stream:
            result = _read_stream(connection, response, started)
        else:
            result = read_completion(response.read().decode("utf-8", errors="replace"), time.perf_counter() - started)
    except (OSError, HttpError) as exc:  # DeadlineExceeded is a TimeoutError, an OSError
        connection.close()
        kind, message = classify_exception(exc)
        result = StreamResult()
        result.fail(kind, f"no complete answer within {timeout_s:g} s" if kind == FailureKind.TIMEOUT else message)
    except Exception as exc:  # noqa: BLE001 - not the network's doing: bytes the reader could not take
        connection.close()
        result = StreamResult()
        result.fail(FailureKind.INVALID_RESPONSE, f"unreadable response ({type(exc).__name__}: {exc})")
    if integrity is not None and result.error_kind is None:
        problem = INTEGRITY_CHECKS[integrity](result.contents)
        if problem is not None:
            result.fail(FailureKind.CORRUPT_OUTPUT, problem.message)
            if problem.restarted:
                result.migrations = max(result.migrations or 0, 1)
    latency_s = time.perf_counter() - started
    _fire(request_event, path, start_time, latency_s, result)
    return ChatOutcome(start_time, latency_s, result, http_status)


def _read_stream(connection: Connection, response, started: float) -> StreamResult:
    """Feed the SSE reader each read as it arrives, stamped with its arrival time.

    A server that closes the connection (FIN) between two events ended the stream, as a
    server or proxy that gives up on it does: the reader judges what came, `incomplete_stream`
    without a finish reason. A close that cuts an event in half is a broken connection."""
    reader = StreamReader()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    ending = "stream ended"
    try:
        for data, arrived_at in response.chunks():
            reader.feed(decoder.decode(data), arrived_at - started)
    except ClosedMidResponse:
        if not reader.between_events or decoder.decode(b"", final=True):
            raise
        connection.close()
        ending = "the connection closed between two events,"
    rest = decoder.decode(b"", final=True)
    if rest:
        reader.feed(rest, time.perf_counter() - started)
    return reader.finish(ending)


def _fire(request_event: EventHook, path: str, start_time: float, latency_s: float, result: StreamResult) -> None:
    """Tell Locust of the request: its end-to-end time, output tokens, and failure if any."""
    failure = None if result.error_kind is None else CatchResponseError(f"{result.error_kind}: {result.error}")
    request_event.fire(
        request_type="POST",
        name=REQUEST_NAME,
        response_time=latency_s * 1000,
        response_length=result.output_tokens,
        response=None,
        context={},
        exception=failure,
        start_time=start_time,
        url=path,
    )
