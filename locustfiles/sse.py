"""Read an OpenAI-style chat completion, streamed (SSE) or not, into what a client observed.

The reader is fed raw text as it arrives and is told when each piece arrived, so it is
independent of the HTTP client and testable on its own. It decides success or a failure kind:

- an `error` object anywhere in the stream (`data: {"error": {...}}`, or an `event: error`)
  is `stream_error`, even inside a 200 response;
- a stream that ends with neither a finish reason nor `data: [DONE]` is `incomplete_stream`,
  whether the response ended or the connection closed between two events (`between_events`);
- a finish reason that says the server gave up on the answer is a failure, whatever followed:
  `abort` (vLLM's, for a request it aborted, as at shutdown) is `incomplete_stream`, and
  `error` is `stream_error`;
- empty or null `content` is never a failure by itself: some engines stream token ids that
  decode to nothing, and count them only in `usage`;
- JSON of the wrong shape (a choice that is not an object, a `delta` that is a string, a
  token count that is not a count) is `invalid_response`: nothing the server sends can raise
  out of the reader.

The JSON is parsed by orjson, three times as fast as the standard library's here, where the
reader is most of a client's CPU. It is strict JSON: integers past 64 bits are read as floats
(so a token count past them is not a count), and `NaN`, `Infinity` and numbers past a
double's range, which Python's `json` would take, make an event unparseable
(`invalid_response`).
"""

import json
from dataclasses import dataclass, field

import orjson

from faultsuite.records import FailureKind

__all__ = ["StreamReader", "StreamResult", "read_completion"]

#: A token count past this is not a count (and would overflow whatever sums it).
MAX_TOKEN_COUNT = 10**9
#: Finish reasons that end an answer the server gave up on, and the failure each is.
FAILED_FINISH_REASONS = {"abort": FailureKind.INCOMPLETE_STREAM, "error": FailureKind.STREAM_ERROR}


def _judge_finish_reason(result: "StreamResult") -> None:
    kind = FAILED_FINISH_REASONS.get(result.finish_reason or "")
    if kind is not None:
        result.fail(kind, f"the server ended the answer with finish_reason {result.finish_reason!r}")


class WrongShape(ValueError):
    """Well-formed JSON that is not what the API sends."""


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise WrongShape(f"{what} is not an object: {json.dumps(value)[:100]}")
    return value


def _optional_object(value: object, what: str) -> dict:
    return {} if value is None else _object(value, what)


def _optional_text(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise WrongShape(f"{what} is not a string: {json.dumps(value)[:100]}")
    return value


def _choices(payload: dict) -> list[dict]:
    choices = payload.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list):
        raise WrongShape(f"choices is not a list: {json.dumps(choices)[:100]}")
    return [_object(choice, "a choice") for choice in choices]


def _migrations(payload: dict) -> int:
    count = payload["migrations"]
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_TOKEN_COUNT:
        raise WrongShape(f"migrations is not a count: {json.dumps(count)[:100]}")
    return count


def _completion_tokens(payload: dict) -> int | None:
    """`usage.completion_tokens`, when the payload has one: a whole number of tokens."""
    usage = _optional_object(payload.get("usage"), "usage")
    count = usage.get("completion_tokens")
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_TOKEN_COUNT:
        raise WrongShape(f"usage.completion_tokens is not a token count: {json.dumps(count)[:100]}")
    return count


@dataclass
class StreamResult:
    """What one response held. `error_kind` is None for a success."""

    first_token_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    content_chunks: int = 0
    usage_tokens: int | None = None
    finish_reason: str | None = None
    done: bool = False
    error_kind: FailureKind | None = None
    error: str | None = None
    contents: list[str] = field(default_factory=list)  # each content piece, in order
    migrations: int | None = None  # what the deployment said of moving the stream, if anything

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.content_chunks

    @property
    def inter_token_s(self) -> list[float]:
        return [b - a for a, b in zip(self.token_times, self.token_times[1:])]

    def fail(self, kind: FailureKind, message: str) -> None:
        if self.error_kind is None:
            self.error_kind, self.error = kind, message


def _error_message(error: object) -> str:
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or json.dumps(error)
        return f"{message} (code {code})" if code is not None else str(message)
    return str(error)


class StreamReader:
    """Incremental SSE parser: `feed(text, at)` as bytes arrive, then `finish()`.

    Events are cut at their blank lines, one split per feed; an event of one `data:` line,
    what every LLM server sends, goes straight to its JSON, and any other (comments,
    `event:` fields, data over several lines, CRLF line ends) through the field-by-field
    parse. The text after the last blank line waits for the next feed."""

    def __init__(self) -> None:
        self.result = StreamResult()
        self._buffer = ""  # the text of the event under way: after the last blank line
        self._event_type = "message"
        self._data: list[str] = []
        self._last_at = 0.0

    def feed(self, text: str, at: float) -> None:
        self._last_at = at
        buffer = self._buffer + text
        if "\r" in buffer:
            # CRLF line ends: LF from here on. A CR last may be the first half of a CRLF
            # split between two reads; it stays until the next one.
            buffer = buffer.replace("\r\n", "\n")
        # A blank line that opens no event (one too many) dispatches nothing: dropped.
        if "\n\n" not in buffer:
            self._buffer = buffer.lstrip("\n")
            return
        events = buffer.split("\n\n")
        self._buffer = events.pop().lstrip("\n")
        for event in events:
            if event.startswith("data: ") and "\n" not in event:
                self._event(event[6:], "message", at)
            else:
                self._fields(event, at)

    def _fields(self, event: str, at: float) -> None:
        """An event, field by field, then dispatched as its blank line does."""
        for line in event.split("\n"):
            self._line(line.rstrip("\r"), at)
        self._dispatch(at)

    def _line(self, line: str, at: float) -> None:
        if not line:
            self._dispatch(at)
        elif line.startswith(":"):
            return  # comment / keep-alive
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event_type = value

    def _dispatch(self, at: float) -> None:
        data, event_type = "\n".join(self._data), self._event_type
        self._data, self._event_type = [], "message"
        self._event(data, event_type, at)

    def _event(self, data: str, event_type: str, at: float) -> None:
        """Judge one whole event: its data and its type."""
        if not data and event_type == "message":
            return
        result = self.result
        if data.strip() == "[DONE]":
            result.done = True
            return
        try:
            payload = orjson.loads(data) if data else {}
        except (ValueError, RecursionError):  # a JSONDecodeError, an integer too long, nesting too deep
            if event_type == "error":  # an error event may carry plain text
                result.fail(FailureKind.STREAM_ERROR, data[:300])
            else:
                result.fail(FailureKind.INVALID_RESPONSE, f"unparseable event data: {data[:200]!r}")
            return
        if event_type == "error" or (isinstance(payload, dict) and payload.get("error") is not None):
            detail = payload.get("error", payload) if isinstance(payload, dict) else payload
            result.fail(FailureKind.STREAM_ERROR, _error_message(detail))
            return
        if not isinstance(payload, dict):
            result.fail(FailureKind.INVALID_RESPONSE, f"event data is not an object: {data[:200]!r}")
            return
        try:
            self._chunk(payload, at)
        except WrongShape as exc:
            result.fail(FailureKind.INVALID_RESPONSE, f"chunk of the wrong shape: {exc}")

    def _chunk(self, payload: dict, at: float) -> None:
        result = self.result
        if "usage" in payload:
            tokens = _completion_tokens(payload)
            if tokens is not None:
                result.usage_tokens = tokens
        if "migrations" in payload:
            result.migrations = _migrations(payload)
        # The checks of each field inline: they run for every token of every stream.
        for choice in _choices(payload):
            delta = choice.get("delta")
            if type(delta) is not dict:
                delta = _optional_object(delta, "delta")
            content = delta.get("content")
            if content is not None and type(content) is not str:
                _optional_text(content, "delta.content")
            reasoning = delta.get("reasoning_content")
            if reasoning is not None:
                _optional_text(reasoning, "delta.reasoning_content")
            finish_reason = choice.get("finish_reason")
            if finish_reason is not None:
                _optional_text(finish_reason, "finish_reason")
            if content:
                result.contents.append(content)
            if content or reasoning:
                result.content_chunks += 1
                result.token_times.append(at)
                if result.first_token_at is None:
                    result.first_token_at = at
            if finish_reason:
                result.finish_reason = finish_reason

    @property
    def between_events(self) -> bool:
        """No event is half read: every byte fed so far belongs to an event already dispatched."""
        return not self._buffer

    def finish(self, ending: str = "stream ended") -> StreamResult:
        """Close the stream (a last event without its blank line still counts) and judge it;
        `ending` says how it ended, in the message of an incomplete stream."""
        if self._buffer:
            self._fields(self._buffer, self._last_at)
            self._buffer = ""
        result = self.result
        _judge_finish_reason(result)
        if result.error_kind is None and result.finish_reason is None and not result.done:
            result.fail(FailureKind.INCOMPLETE_STREAM, f"{ending} without a finish reason or [DONE]")
        return result


def read_completion(body: str, at: float) -> StreamResult:
    """Judge a non-streaming chat completion body, received completely at `at`."""
    result = StreamResult()
    try:
        payload = orjson.loads(body)
    except (ValueError, RecursionError):  # a JSONDecodeError, an integer too long, nesting too deep
        result.fail(FailureKind.INVALID_RESPONSE, f"unparseable body: {body[:200]!r}")
        return result
    if not isinstance(payload, dict):
        result.fail(FailureKind.INVALID_RESPONSE, f"body is not an object: {body[:200]!r}")
        return result
    if payload.get("error") is not None:
        result.fail(FailureKind.STREAM_ERROR, _error_message(payload["error"]))
        return result
    try:
        choices = _choices(payload)
        result.usage_tokens = _completion_tokens(payload)
        result.migrations = _migrations(payload) if "migrations" in payload else None
        for choice in choices:
            content = _optional_text(_optional_object(choice.get("message"), "message").get("content"), "message.content")
            if content:
                result.contents.append(content)
                result.content_chunks += 1
            result.finish_reason = _optional_text(choice.get("finish_reason"), "finish_reason") or result.finish_reason
    except WrongShape as exc:
        result.fail(FailureKind.INVALID_RESPONSE, f"completion of the wrong shape: {exc}")
        return result
    _judge_finish_reason(result)
    if not choices:
        result.fail(FailureKind.INVALID_RESPONSE, "completion has no choices")
    elif result.finish_reason is None:
        result.fail(FailureKind.INCOMPLETE_STREAM, "completion has no finish reason")
    return result
