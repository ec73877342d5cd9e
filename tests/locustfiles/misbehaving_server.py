"""A chat-completions server that misbehaves on purpose, one misbehaviour per path.

It speaks HTTP/1.1 by hand on a gevent `StreamServer`, so it can break the protocol at the
byte level: cut a chunked body mid-chunk, reset the connection, or never answer.
"""

import json
import socket
import struct

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
            "/reset-mid-chunk": self._reset_mid_chunk,
            "/never-answers": self._never_answers,
            "/headers-then-stall": self._headers_then_stall,
            "/completion": self._completion,
            "/completion-error": self._completion_error,
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop(timeout=1)

    def _handle(self, sock: socket.socket, _address: object) -> None:
        path = self._read_request(sock)
        try:
            self.routes[path](sock)
        finally:
            sock.close()

    @staticmethod
    def _read_request(sock: socket.socket) -> str:
        """Read one request whole (headers and body) and return its path."""
        data = b""
        while b"\r\n\r\n" not in data:
            received = sock.recv(65536)
            if not received:
                raise ConnectionError("client closed before the end of the request headers")
            data += received
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(body) < length:
            body += sock.recv(65536)
        return lines[0].split(" ")[1]

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


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago and has nothing listening on it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
