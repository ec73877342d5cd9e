"""A chat-completions server that misbehaves on purpose, one misbehaviour per path.

It speaks HTTP/1.1 by hand on a gevent `StreamServer`, so it can break the protocol at the
byte level: cut a chunked body mid-chunk, reset the connection, or never answer. The hostile
routes flood, send lines or headers without end, or drip bytes; they are meant to be served
from a process of their own (`python -m tests.locustfiles.misbehaving_server`, which prints its
port), so that the client under test really finds bytes waiting at every read.
"""

import gzip
import json
import socket
import struct
import sys

import gevent
from gevent.event import Event
from gevent.server import StreamServer

__all__ = ["MisbehavingServer", "closed_port"]

SERVICE_UNAVAILABLE = {"error": {"message": "Service temporarily unavailable", "code": 503}}
ROLE_CHUNK = {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
FINISH_CHUNK = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE_CHUNK = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}
#: Pause between streamed tokens, so that arrival times are distinct.
TOKEN_GAP_S = 0.05
#: Pause before the rest of a stream whose first token comes alone.
SLOW_REST_S = 0.5
#: How long a stalling handler waits at most, should the server never be stopped.
STALL_LIMIT_S = 30.0


def content_chunk(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def sse(payload: object) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


def chunk(data: bytes) -> bytes:
    """`data` framed as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_END = b"0\r\n\r\n"
STREAM_HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


def whole_response(status: bytes, body: object) -> bytes:
    data = json.dumps(body).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (len(data), data)
    )


class MisbehavingServer:
    """Serves on 127.0.0.1, on a free port. `start()`, then `stop()`."""

    def __init__(self) -> None:
        self._server = StreamServer(("127.0.0.1", 0), self._handle)
        self._stopping = Event()
        self.routes = {
            "/good": self._good_stream,
            "/slow-after-first-token": self._slow_after_first_token,
            "/http-503": self._http_503,
            "/stream-error": self._stream_error,
            "/incomplete": self._incomplete,
            "/cut-mid-chunk": self._cut_mid_chunk,
            "/cut-between-events": self._cut_between_events,
            "/cut-after-done": self._cut_after_done,
            "/reset-mid-chunk": self._reset_mid_chunk,
            "/never-answers": self._never_answers,
            "/headers-then-stall": self._headers_then_stall,
            "/completion": self._completion,
            "/completion-error": self._completion_error,
            "/gzip-if-asked": self._gzip_if_asked,
            "/flood-tokens": self._flood_tokens,
            "/huge-line": self._huge_line,
            "/no-newline": self._no_newline,
            "/endless-headers": self._endless_headers,
            "/huge-completion": self._huge_completion,
            "/drip": self._drip,
            "/metrics-huge": self._metrics_page(HUGE_BYTES),
            "/metrics-large": self._metrics_page(LARGE_BYTES),
            "/metrics-good": self._metrics_good,
            **{f"/shape/{name}": self._wrong_shape(chunks) for name, chunks in WRONG_SHAPES.items()},
            **{f"/whole-shape/{name}": self._wrong_whole_shape(body) for name, body in WRONG_WHOLE_SHAPES.items()},
        }
        self._request_headers: dict[str, str] = {}

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self.start()
        self._stopping.wait()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop(timeout=1)

    def _handle(self, sock: socket.socket, _address: object) -> None:
        path, self._request_headers = self._read_request(sock)
        try:
            self.routes[path](sock)
        except OSError:
            pass  # the client gave up on a hostile route: that is what it should do
        finally:
            sock.close()

    @staticmethod
    def _read_request(sock: socket.socket) -> tuple[str, dict[str, str]]:
        """Read one request whole (headers and body): its path and headers (lower-case names)."""
        data = b""
        while b"\r\n\r\n" not in data:
            received = sock.recv(65536)
            if not received:
                raise ConnectionError("client closed before the end of the request headers")
            data += received
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", 0))
        while len(body) < length:
            body += sock.recv(65536)
        return lines[0].split(" ")[1], headers

    def _good_stream(self, sock: socket.socket) -> None:
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)))
        for text in ("Hel", "lo", "!"):
            gevent.sleep(TOKEN_GAP_S)
            sock.sendall(chunk(sse(content_chunk(text))))
        sock.sendall(chunk(sse(FINISH_CHUNK)) + chunk(sse(USAGE_CHUNK)) + chunk(sse("[DONE]")) + CHUNKED_END)

    def _slow_after_first_token(self, sock: socket.socket) -> None:
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)) + chunk(sse(content_chunk("Hel"))))
        gevent.sleep(SLOW_REST_S)
        sock.sendall(chunk(sse(content_chunk("lo"))) + chunk(sse(FINISH_CHUNK)) + chunk(sse("[DONE]")) + CHUNKED_END)

    def _http_503(self, sock: socket.socket) -> None:
        sock.sendall(whole_response(b"503 Service Unavailable", SERVICE_UNAVAILABLE))

    def _stream_error(self, sock: socket.socket) -> None:
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)) + chunk(sse(SERVICE_UNAVAILABLE)) + CHUNKED_END)

    def _incomplete(self, sock: socket.socket) -> None:
        body = b"".join(chunk(sse(payload)) for payload in (ROLE_CHUNK, content_chunk("Hel"), content_chunk("lo")))
        sock.sendall(STREAM_HEADERS + body + CHUNKED_END)

    def _cut_mid_chunk(self, sock: socket.socket) -> None:
        """Close the connection (FIN) halfway through a chunk, with no chunked terminator."""
        self._send_half_a_stream(sock)
        sock.shutdown(socket.SHUT_RDWR)

    def _cut_between_events(self, sock: socket.socket) -> None:
        """Close the connection (FIN) after two whole events, with no chunked terminator, as a
        server or proxy does that gives up on a stream between two writes."""
        body = b"".join(chunk(sse(payload)) for payload in (ROLE_CHUNK, content_chunk("Hel")))
        sock.sendall(STREAM_HEADERS + body)
        gevent.sleep(TOKEN_GAP_S)
        sock.shutdown(socket.SHUT_RDWR)

    def _cut_after_done(self, sock: socket.socket) -> None:
        """A whole answer, `[DONE]` included, then a FIN instead of the chunked terminator."""
        events = (ROLE_CHUNK, content_chunk("Hel"), FINISH_CHUNK, "[DONE]")
        sock.sendall(STREAM_HEADERS + b"".join(chunk(sse(payload)) for payload in events))
        gevent.sleep(TOKEN_GAP_S)
        sock.shutdown(socket.SHUT_RDWR)

    def _reset_mid_chunk(self, sock: socket.socket) -> None:
        """Reset the connection (RST) halfway through a chunk."""
        self._send_half_a_stream(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    @staticmethod
    def _send_half_a_stream(sock: socket.socket) -> None:
        cut = chunk(sse(content_chunk("lo")))
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)) + chunk(sse(content_chunk("Hel"))) + cut[: len(cut) // 2])
        gevent.sleep(TOKEN_GAP_S)  # let the client read what was sent before the connection breaks

    def _never_answers(self, _sock: socket.socket) -> None:
        self._stopping.wait(STALL_LIMIT_S)

    def _headers_then_stall(self, sock: socket.socket) -> None:
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)))
        self._stopping.wait(STALL_LIMIT_S)

    def _completion(self, sock: socket.socket) -> None:
        sock.sendall(whole_response(b"200 OK", COMPLETION))

    def _completion_error(self, sock: socket.socket) -> None:
        sock.sendall(whole_response(b"200 OK", SERVICE_UNAVAILABLE))


    def _gzip_if_asked(self, sock: socket.socket) -> None:
        """A good stream, gzip-encoded when the request accepts gzip, as servers behind a
        compressing proxy do."""
        body = sse(ROLE_CHUNK) + sse(content_chunk("Hel")) + sse(FINISH_CHUNK) + sse("[DONE]")
        if "gzip" not in self._request_headers.get("accept-encoding", ""):
            sock.sendall(STREAM_HEADERS + chunk(body) + CHUNKED_END)
            return
        head = STREAM_HEADERS.replace(b"Connection: close\r\n", b"Content-Encoding: gzip\r\nConnection: close\r\n")
        sock.sendall(head + chunk(gzip.compress(body)) + CHUNKED_END)

    def _flood_tokens(self, sock: socket.socket) -> None:
        """Valid tokens, as fast as the socket takes them, until the client leaves."""
        sock.sendall(STREAM_HEADERS + chunk(sse(ROLE_CHUNK)))
        burst = chunk(sse(content_chunk("tok")) * 200)
        while not self._stopping.is_set():
            sock.sendall(burst)

    def _huge_line(self, sock: socket.socket) -> None:
        """One SSE line of HUGE_BYTES, then a good end."""
        sock.sendall(STREAM_HEADERS)
        piece = b"data: " + b"x" * (HUGE_BYTES - 6)
        for offset in range(0, len(piece), 1 << 20):
            sock.sendall(chunk(piece[offset : offset + (1 << 20)]))
        sock.sendall(chunk(b"\n\n" + sse(FINISH_CHUNK) + sse("[DONE]")) + CHUNKED_END)

    def _no_newline(self, sock: socket.socket) -> None:
        """HUGE_BYTES of stream with no newline at all, then the end of the body."""
        sock.sendall(STREAM_HEADERS)
        for _ in range(HUGE_BYTES >> 20):
            sock.sendall(chunk(b"y" * (1 << 20)))
        sock.sendall(CHUNKED_END)

    def _endless_headers(self, sock: socket.socket) -> None:
        """A status line, then headers that never end."""
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        header = b"X-More: " + b"z" * 1000 + b"\r\n"
        while not self._stopping.is_set():
            sock.sendall(header * 64)

    def _huge_completion(self, sock: socket.socket) -> None:
        """A non-streamed answer of HUGE_BYTES."""
        padding = "p" * HUGE_BYTES
        sock.sendall(whole_response(b"200 OK", {**COMPLETION, "padding": padding}))

    def _drip(self, sock: socket.socket) -> None:
        """Headers, then one byte of body every DRIP_INTERVAL_S, forever."""
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
        while not self._stopping.wait(DRIP_INTERVAL_S):
            sock.sendall(b"#")

    @staticmethod
    def _metrics_page(size: int):
        """A /metrics page of about `size` bytes, mostly series nobody asked for."""
        line = b'unrelated_series{label="%d"} 1\n'
        page = b"".join(line % i for i in range(size // 32)) + METRICS_PAGE
        response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(page) + page

        def handler(sock: socket.socket) -> None:
            sock.sendall(response)

        return handler

    def _metrics_good(self, sock: socket.socket) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(METRICS_PAGE) + METRICS_PAGE)

    @staticmethod
    def _wrong_shape(chunks: list[object]):
        def handler(sock: socket.socket) -> None:
            sock.sendall(STREAM_HEADERS + b"".join(chunk(sse(c)) for c in [ROLE_CHUNK, *chunks, FINISH_CHUNK, "[DONE]"]) + CHUNKED_END)

        return handler

    @staticmethod
    def _wrong_whole_shape(body: object):
        def handler(sock: socket.socket) -> None:
            sock.sendall(whole_response(b"200 OK", body))

        return handler


#: Bytes in each hostile route's oversized piece: past every bound, small enough to send fast.
HUGE_BYTES = 24 << 20
#: A page that is large and still within the bounds.
LARGE_BYTES = 8 << 20
DRIP_INTERVAL_S = 0.2
METRICS_PAGE = b"# TYPE pending gauge\npending 3\n# TYPE workers gauge\nworkers 2\n"

#: Streams whose JSON is well formed and of the wrong shape, one chunk each.
WRONG_SHAPES: dict[str, list[object]] = {
    "choice-is-a-number": [{"choices": [1]}],
    "choices-is-a-string": [{"choices": "many"}],
    "delta-is-a-string": [{"choices": [{"index": 0, "delta": "oops"}]}],
    "content-is-a-list": [{"choices": [{"index": 0, "delta": {"content": ["a"]}}]}],
    "tokens-is-a-word": [{"choices": [], "usage": {"completion_tokens": "many"}}],
    "tokens-overflow": ['{"choices": [], "usage": {"completion_tokens": 1e999}}'],
    "tokens-negative": [{"choices": [], "usage": {"completion_tokens": -3}}],
    "usage-is-a-list": [{"choices": [], "usage": [1]}],
    "finish-reason-is-an-object": [{"choices": [{"index": 0, "delta": {}, "finish_reason": {"a": 1}}]}],
    "nested-too-deep": ["[" * 100_000 + "]" * 100_000],
    "integer-too-long": ['{"choices": [], "usage": {"completion_tokens": ' + "9" * 5000 + "}}"],
}
#: Non-streamed answers of the wrong shape.
WRONG_WHOLE_SHAPES: dict[str, object] = {
    "message-is-a-string": {"choices": [{"index": 0, "message": "hi", "finish_reason": "stop"}]},
    "usage-is-a-list": {**COMPLETION, "usage": [1]},
    "choice-is-a-number": {"choices": [1]},
    "tokens-is-a-word": {**COMPLETION, "usage": {"completion_tokens": "many"}},
}


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago and has nothing listening on it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    # Served alone, so the client under test is another process: its reads find bytes waiting.
    server = MisbehavingServer()
    server.start()
    sys.stdout.write(f"{server.port}\n")
    sys.stdout.flush()
    server.serve_forever()
