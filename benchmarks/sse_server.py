"""A minimal, fast OpenAI-compatible chat server, for measuring load generators (not servers).

    python benchmarks/sse_server.py [--port 0] [--delay-ms 0]

Stdlib only: one process, one asyncio event loop, bound to 127.0.0.1. It prints `port NNNN`
as its first stdout line (with `--port 0`, the free port the OS chose), then serves until
SIGINT or SIGTERM:

- `POST /v1/chat/completions` with `"stream": true`: HTTP/1.1 200, `text/event-stream`,
  chunked, keep-alive; 32 `chat.completion.chunk` events of content `tok<i> `, one with
  `"finish_reason":"stop"` and an empty delta, one with `usage` (and no choices), then
  `data: [DONE]`, each event its own HTTP chunk and the response's last chunk after them;
- the same without `"stream": true`: one `chat.completion` of those 32 tokens, its `usage`
  with `output_tokens` too (Locust's contrib OpenAIUser reads that field), Content-Length;
- `GET /health` and `GET /v1/models`: 200 JSON. Anything else: 404 JSON.

Every answer is built once, at import: a request costs a header parse, one `json.loads` of
its body and one `transport.write`, so that the load generator, not this server, is what a
benchmark measures. The events of a stream are written together, not paced: no token
latency is simulated. `--delay-ms D` holds each answer D ms before writing it (a timer, no
CPU), as a server that takes its time would, so that clients wait as they would on a real one.
"""

import argparse
import asyncio
import json
import signal
import sys

__all__ = ["COMPLETION_TOKENS", "PROMPT_TOKENS", "build_responses", "serve"]

HOST = "127.0.0.1"
COMPLETION_TOKENS = 32
PROMPT_TOKENS = 8
MODEL = "bench-model"
COMPLETION_ID = "chatcmpl-bench"
CREATED = 1_700_000_000
#: A request head longer than this is refused: no client of a benchmark sends one.
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk of `data`."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(payload: bytes) -> bytes:
    """One SSE event: a `data:` line and the blank line that ends it."""
    return b"data: " + payload + b"\n\n"


def stream_events() -> list[bytes]:
    """The SSE events of a streamed answer, as an OpenAI server sends them."""
    head = {"id": COMPLETION_ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL}
    events = [
        _json({**head, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})
        for i in range(COMPLETION_TOKENS)
    ]
    events.append(_json({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS, "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
    events.append(_json({**head, "choices": [], "usage": usage}))
    events.append(b"[DONE]")
    return [_event(e) for e in events]


def _completion() -> bytes:
    content = "".join(f"tok{i} " for i in range(COMPLETION_TOKENS))
    return _json(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                "output_tokens": COMPLETION_TOKENS,
            },
        }
    )


def _fixed(status: str, body: bytes, close: bool = False) -> bytes:
    connection = b"close" if close else b"keep-alive"
    return (
        b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n%s"
        % (status.encode(), len(body), connection, body)
    )


def build_responses() -> dict[str, bytes]:
    """Every answer's bytes, head and body, by name."""
    stream_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
    models = _json({"object": "list", "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "bench"}]})
    return {
        "stream": stream_head + b"".join(_chunk(e) for e in stream_events()) + b"0\r\n\r\n",
        "completion": _fixed("200 OK", _completion()),
        "health": _fixed("200 OK", b'{"status":"ok"}'),
        "models": _fixed("200 OK", models),
        "not_found": _fixed("404 Not Found", b'{"error":{"message":"not found","type":"invalid_request_error","code":404}}'),
        "bad_request": _fixed("400 Bad Request", b'{"error":{"message":"bad request","type":"invalid_request_error","code":400}}', close=True),
    }


RESPONSES = build_responses()


def _wants_stream(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("stream") is True


class _Head:
    """What the server needs of a request head: method, path, body length, close or not."""

    __slots__ = ("method", "path", "length", "close")

    def __init__(self, head: bytes):
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise ValueError("bad request line")
        self.method, self.path, version = parts
        self.length = 0
        self.close = version == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                self.length = int(value)
                if not 0 <= self.length <= MAX_BODY_BYTES:
                    raise ValueError("bad Content-Length")
            elif name == b"connection":
                token = value.strip().lower()
                self.close = token == b"close" or (self.close and token != b"keep-alive")
            elif name == b"transfer-encoding":
                raise ValueError("chunked request bodies are not supported")


def answer(method: bytes, path: bytes, body: bytes) -> bytes:
    """The bytes that answer one request."""
    path = path.split(b"?", 1)[0]
    if method == b"POST" and path == b"/v1/chat/completions":
        return RESPONSES["stream"] if _wants_stream(body) else RESPONSES["completion"]
    if method == b"GET" and path == b"/health":
        return RESPONSES["health"]
    if method == b"GET" and path == b"/v1/models":
        return RESPONSES["models"]
    return RESPONSES["not_found"]


class ChatProtocol(asyncio.Protocol):
    """One connection: requests read in order (pipelined ones too), each answered at once, or
    `delay_s` later (in order still: every answer waits as long)."""

    delay_s = 0.0

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head: _Head | None = None  # of a request whose body has not all arrived

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._answer_one():
            pass

    def _answer_one(self) -> bool:
        """Answer the first request in the buffer if it is all there; whether one was."""
        buffer = self.buffer
        if self.head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._refuse()
                return False
            try:
                self.head = _Head(bytes(buffer[:end]))
            except ValueError:
                self._refuse()
                return False
            del buffer[: end + 4]
        head = self.head
        if len(buffer) < head.length:
            return False
        body = bytes(buffer[: head.length])
        del buffer[: head.length]
        self.head = None
        response = answer(head.method, head.path, body)
        if self.delay_s:
            asyncio.get_running_loop().call_later(self.delay_s, self._write, self.transport, response, head.close)
        else:
            self._write(self.transport, response, head.close)
        if head.close:
            self.transport = None
            return False
        return True

    @staticmethod
    def _write(transport: asyncio.Transport, response: bytes, close: bool) -> None:
        if transport.is_closing():
            return  # the client went while its answer waited
        transport.write(response)
        if close:
            transport.close()

    def _refuse(self) -> None:
        self.transport.write(RESPONSES["bad_request"])
        self.transport.close()
        self.transport = None

    def connection_lost(self, exc) -> None:
        self.transport = None


async def serve(port: int, delay_s: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    ChatProtocol.delay_s = delay_s
    # A deep backlog: a benchmark opens all its users' connections in the same instant.
    server = await loop.create_server(ChatProtocol, HOST, port, backlog=1024, reuse_address=True)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one, printed)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="hold each answer this long before writing it (default 0)")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be at least 0")
    asyncio.run(serve(args.port, args.delay_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
