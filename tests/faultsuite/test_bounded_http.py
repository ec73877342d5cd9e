"""The bounded HTTP connection against real loopback servers: keep-alive, bodies read to the
close, a kept-alive connection the server dropped, and the deadline of a whole exchange."""

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from faultsuite.bounded_http import Connection, DeadlineExceeded, fetch


class CountingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[int] = []

    def setup(self):
        super().setup()
        CountingHandler.connections.append(1)

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def keep_alive_server() -> Iterator[str]:
    CountingHandler.connections = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_two_requests_in_turn_share_one_kept_alive_connection(keep_alive_server):
    connection = Connection(keep_alive_server)
    bodies = [connection.request("GET", "/", None, {}, time.monotonic() + 5).read() for _ in range(2)]
    connection.close()

    assert (bodies, len(CountingHandler.connections)) == ([b"hello", b"hello"], 1)


def one_shot_server(answer: bytes, answers: int) -> tuple[str, threading.Thread]:
    """Answers each of `answers` connections with `answer` and closes it, without saying so."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        with listener:
            for _ in range(answers):
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


def test_a_kept_alive_connection_the_server_dropped_is_opened_again_once():
    url, thread = one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", answers=2)
    connection = Connection(url)
    first = connection.request("GET", "/", None, {}, time.monotonic() + 5).read()
    time.sleep(0.1)  # the server has closed it by now
    second = connection.request("GET", "/", None, {}, time.monotonic() + 5).read()
    connection.close()

    assert (first, second) == (b"ok", b"ok")


def test_a_body_without_a_length_is_read_to_the_close():
    url, _ = one_shot_server(b"HTTP/1.0 200 OK\r\n\r\nto the end", answers=1)

    assert fetch(url, 5.0) == (200, b"to the end")


def test_a_server_that_accepts_and_says_nothing_is_given_up_on_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))
    started = time.monotonic()
    with listener, pytest.raises(DeadlineExceeded):
        fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", 0.3)

    assert time.monotonic() - started < 1.0


def test_a_body_cut_before_its_length_is_a_reset():
    url, _ = one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", answers=1)

    with pytest.raises(ConnectionResetError):
        fetch(url, 5.0)


class HeaderEchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = f"{self.headers.get('Authorization')}|{self.headers.get('X-Team')}|{self.headers.get('Accept-Encoding')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HeaderEchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_credentials_in_the_url_go_as_basic_auth_and_headers_as_given(echo_server):
    status, body = fetch(f"http://user:s3cret@127.0.0.1:{echo_server}/", 5.0, headers={"X-Team": "sre"})

    assert (status, body) == (200, b"Basic dXNlcjpzM2NyZXQ=|sre|identity")


def test_a_header_given_wins_over_the_url_credentials(echo_server):
    _, body = fetch(f"http://user:s3cret@127.0.0.1:{echo_server}/", 5.0, headers={"Authorization": "Bearer k"})

    assert body.startswith(b"Bearer k|")
