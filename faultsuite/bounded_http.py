"""HTTP/1.1 exchanges in which every read from the network is bounded.

A hostile or broken server must not be able to freeze the runner or fill its memory. So:

- time: one deadline for the whole exchange, from connect to the last byte; each read waits
  at most what is left of it, and a server that never stops sending is stopped by it too;
- bytes: at most `Limits.header_bytes` of status line and headers, `Limits.line_bytes` in one
  line of a streamed body, and `Limits.body_bytes` in a body read whole;
- the hub: a read that finds bytes waiting does not yield to other greenlets, so after every
  `YIELD_EVERY_READS` reads the exchange waits for one turn of the event loop, and a flood
  cannot starve the run's timers.

The bytes are parsed by geventhttpclient's HTTP parser (llhttp), fed by our own reads; only
the parser's body callback is ours (pinned in pyproject.toml, tested in tests/faultsuite).
A bound that is broken raises `ResponseTooLarge`; a deadline that passes, `DeadlineExceeded`;
a server that closes the connection (FIN) before the response's end, `ClosedMidResponse`.
"""

import base64
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import gevent
from geventhttpclient.response import HTTPParseError, HTTPResponse

from faultsuite.secrets import redact_url

__all__ = [
    "DEFAULT_LIMITS",
    "ClosedMidResponse",
    "YIELD_EVERY_READS",
    "Connection",
    "DeadlineExceeded",
    "HttpError",
    "Limits",
    "MalformedResponse",
    "Response",
    "ResponseTooLarge",
    "fetch",
]

READ_BYTES = 64 * 1024
#: Reads between two yields to the hub while bytes keep arriving.
YIELD_EVERY_READS = 8


@dataclass(frozen=True)
class Limits:
    header_bytes: int = 64 * 1024  # status line and headers, together
    line_bytes: int = 1024 * 1024  # one line of a streamed body (an SSE `data:` line)
    body_bytes: int = 16 * 1024 * 1024  # a body read whole: a non-streamed answer, a /metrics page


DEFAULT_LIMITS = Limits()


class HttpError(Exception):
    """The response cannot be read as HTTP within the bounds; the message says why."""


class ResponseTooLarge(HttpError):
    """A header block, a line or a body went past its bound."""


class MalformedResponse(HttpError):
    """The bytes are not an HTTP/1.1 response."""


class ClosedMidResponse(ConnectionResetError):
    """The server closed the connection (a FIN, not an RST) before the response was complete.

    A ConnectionResetError like an RST, since the exchange broke either way; a caller that can
    tell where the cut fell (a stream reader between two events) may judge it otherwise."""


class DeadlineExceeded(TimeoutError):
    """The exchange's deadline passed before the response was complete."""


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


class _Parser(HTTPResponse):
    """geventhttpclient's parser, with the body collected where we read it from."""

    def __init__(self, method: str):
        super().__init__(method=method)
        self.body = bytearray()

    def _on_body(self, buf) -> None:  # the parser's body callback
        self.body += buf


class Response:
    """The status and headers of one response, and its body read one way or the other:
    `chunks()` as the bytes arrive, or `read()` whole."""

    def __init__(self, connection: "Connection", parser: _Parser):
        self._connection = connection
        self._parser = parser
        self.status: int = parser.status_code

    def chunks(self) -> Iterator[tuple[bytes, float]]:
        """The body as it arrives: (bytes, `time.perf_counter()` when they came), one item per
        read. ResponseTooLarge when a line runs past `line_bytes` without its newline."""
        limit = self._connection.limits.line_bytes
        since_newline = 0
        parser = self._parser
        while True:
            if parser.body:
                data = bytes(parser.body)
                parser.body.clear()
                first = data.find(b"\n")
                if since_newline + (len(data) if first < 0 else first) > limit:
                    raise ResponseTooLarge(f"a line of the stream is longer than {_size(limit)}")
                since_newline = since_newline + len(data) if first < 0 else len(data) - data.rfind(b"\n") - 1
                yield data, self._connection.arrived_at
            if parser.message_complete:
                self._connection.finished(parser)
                return
            self._connection.receive(parser)

    def read(self, limit: int | None = None) -> bytes:
        """The whole body; ResponseTooLarge past `limit` bytes (default `body_bytes`)."""
        limit = self._connection.limits.body_bytes if limit is None else limit
        parser = self._parser
        while not parser.message_complete:
            if len(parser.body) > limit:
                raise ResponseTooLarge(f"the body is larger than {_size(limit)}")
            self._connection.receive(parser)
        if len(parser.body) > limit:
            raise ResponseTooLarge(f"the body is larger than {_size(limit)}")
        self._connection.finished(parser)
        return bytes(parser.body)


class Connection:
    """One keep-alive connection to the origin of `base_url`, used by one client at a time.

    `request()` sends and reads the status and headers; the response's body must then be read
    (or the connection closed) before the next request. A connection whose last response was
    not read to its end, or that the server asked to close, is opened afresh next time."""

    def __init__(self, base_url: str, connect_timeout_s: float = 5.0, limits: Limits = DEFAULT_LIMITS):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {redact_url(base_url)!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        # Credentials in the URL (`http://user:key@host`) are sent as HTTP Basic auth.
        self._authorization = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._authorization = "Basic " + base64.b64encode(credentials).decode()
        self.connect_timeout_s = connect_timeout_s
        self.limits = limits
        self.arrived_at = 0.0  # perf_counter of the last read that brought bytes
        self._sock: socket.socket | None = None
        self._deadline = 0.0
        self._reads = 0
        self._answer_bytes = 0  # bytes of the current response read so far

    @property
    def _host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def _open(self) -> socket.socket:
        timeout = max(0.001, min(self.connect_timeout_s, self._remaining()))
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except socket.timeout:
            raise DeadlineExceeded(f"no connection to {self.host}:{self.port} within {timeout:g} s") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        return sock

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the deadline passed")
        return remaining

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str], deadline: float) -> Response:
        """Send one request and read its status and headers, all before `deadline`
        (`time.monotonic()` seconds). Raises OSError (refused, reset), DeadlineExceeded,
        ResponseTooLarge or MalformedResponse; on any of them the connection is closed."""
        self._deadline = deadline
        self._reads = 0
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self._host_header}", "Accept-Encoding: identity"]
        if self._authorization is not None and not any(name.lower() == "authorization" for name in headers):
            lines.append(f"Authorization: {self._authorization}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")
        try:
            return self._exchange(method, payload)
        except BaseException:
            self.close()
            raise

    def _exchange(self, method: str, payload: bytes) -> Response:
        reused = self._sock is not None
        try:
            return self._send_and_read_head(method, payload)
        except (ConnectionResetError, BrokenPipeError):
            if not reused or self._answer_bytes:
                raise
            # A kept-alive connection that the server had closed meanwhile: once more, anew.
            self.close()
            return self._send_and_read_head(method, payload)

    def _send_and_read_head(self, method: str, payload: bytes) -> Response:
        if self._sock is None:
            self._sock = self._open()
        self._sock.settimeout(self._remaining())
        self._sock.sendall(payload)
        parser = _Parser(method)
        self._answer_bytes = 0
        while not parser.headers_complete or parser.status_code < 200:
            self.receive(parser)
            if not parser.headers_complete and self._answer_bytes > self.limits.header_bytes:
                raise ResponseTooLarge(f"the status line and headers are longer than {_size(self.limits.header_bytes)}")
        return Response(self, parser)

    def receive(self, parser: _Parser) -> None:
        """One read, fed to `parser`; at the end of the stream the parser is told so, and a
        response cut short is ClosedMidResponse."""
        sock = self._sock
        if sock is None:
            raise ConnectionResetError("the connection is closed")
        sock.settimeout(self._remaining())
        try:
            data = sock.recv(READ_BYTES)
        except socket.timeout:
            raise DeadlineExceeded("the deadline passed while waiting for the server") from None
        self._reads += 1
        if self._reads % YIELD_EVERY_READS == 0:
            # Not sleep(0): that runs only greenlets already switched to, and timers that are
            # due starve behind a flood (seen with gevent 26.9). idle() lets the loop go round.
            gevent.idle()
            self._remaining()
        self._answer_bytes += len(data)
        self.arrived_at = time.perf_counter()
        try:
            parser.feed(data)
        except HTTPParseError as exc:
            if not data:
                raise ClosedMidResponse(f"the connection closed mid-response ({exc})") from None
            raise MalformedResponse(f"not an HTTP response: {exc}") from None
        if not data and not parser.message_complete:
            raise ClosedMidResponse("the connection closed before the end of the response")

    def finished(self, parser: _Parser) -> None:
        """The response was read to its end: keep the connection if both sides may."""
        if parser.should_close():
            self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def fetch(
    url: str,
    timeout_s: float,
    limit: int | None = None,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[int, bytes]:
    """(status, body) of one request to `url` on a connection of its own: the whole exchange
    within `timeout_s` seconds, the body within `limit` bytes (default `limits.body_bytes`)."""
    parts = urlsplit(url)
    connection = Connection(f"{parts.scheme}://{parts.netloc}", connect_timeout_s=timeout_s, limits=limits)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = connection.request(method, path, body, {"Connection": "close", **(headers or {})}, time.monotonic() + timeout_s)
        return response.status, response.read(limit)
    finally:
        connection.close()
