"""What the simulated components share: the HTTP server, streaming calls between them, health polls.

Between components, a generation is a POST of JSON answered by newline-delimited JSON:
`{"token": "..."}` per token, then `{"finish_reason": ..., "prompt_tokens": n,
"completion_tokens": m}`, or `{"error": "..."}` when it broke. Calls connect with a short
timeout (a dead peer is noticed at once) and then read without one: a live peer that stops
answering hangs its caller, as real stacks do.

A caller that goes away takes its work with it, as vLLM aborts a request whose client
disconnected: once a component has read a request, `abandon_if_client_goes` watches the
client's connection, and its closing throws `ClientGone` into the request's greenlet wherever
it waits. Its upstream connection then closes in turn, so the abandonment reaches the engine,
which drops the sequence from its queue or its batch, within milliseconds.
"""

import argparse
import http.client
import json
import logging
import socket
import sys
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit
from gevent.pywsgi import WSGIHandler, WSGIServer
from gevent.socket import wait_read

__all__ = [
    "ClientGone",
    "PeerUnavailable",
    "HealthPoller",
    "RoundRobin",
    "abandon_if_client_goes",
    "base_arguments",
    "get_json",
    "json_response",
    "open_generation",
    "post_json",
    "read_json_lines",
    "serve",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
LISTEN_BACKLOG = 2048
JSON_HEADERS = [("Content-Type", "application/json")]
NDJSON_HEADERS = [("Content-Type", "application/x-ndjson")]


class PeerUnavailable(Exception):
    """The peer refused the connection or answered with an error status before streaming.

    `status` is the HTTP status when the peer answered (it is alive), None when it did not.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ClientGone(GreenletExit):
    """Thrown into a request's greenlet when its client closed the connection mid-request.

    A GreenletExit, so that the server neither logs it as an error nor lets an `except
    Exception` on the way swallow it; `finally` blocks run, and close what the request held.
    """


#: The environ keys of `ClientAwareHandler`: the request's socket, and its watcher once started.
CLIENT_SOCKET = "faultsuite.client_socket"
CLIENT_WATCHER = "faultsuite.client_watcher"


class ClientAwareHandler(WSGIHandler):
    """pywsgi's handler, with the client's socket in the environ for `abandon_if_client_goes`,
    and that request's watcher stopped when its response ends."""

    def get_environ(self):
        environ = super().get_environ()
        environ[CLIENT_SOCKET] = self.socket
        return environ

    def run_application(self):
        try:
            super().run_application()
        finally:
            watcher = self.environ.pop(CLIENT_WATCHER, None)
            if watcher is not None:
                watcher.kill(block=False)


def abandon_if_client_goes(environ: dict) -> None:
    """Until this response ends, throw `ClientGone` into the current (request) greenlet as soon
    as the client closes its connection.

    Call it once the request body is read: unread body bytes would look like a live client.
    A client that sends more (a pipelined request) is taken to be there, and no longer watched.
    """
    sock = environ.get(CLIENT_SOCKET)
    if sock is not None:
        environ[CLIENT_WATCHER] = gevent.spawn(_watch_client, sock, gevent.getcurrent())


def _watch_client(sock: socket.socket, request: gevent.Greenlet) -> None:
    try:
        wait_read(sock.fileno())
        gone = sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:  # reset by the peer, or closed under us
        gone = True
    if gone:
        request.kill(ClientGone, block=False)


def base_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--startup-delay-s",
        type=float,
        default=0.0,
        help="simulated start-up work before the component serves (a worker's engine: model loading)",
    )
    return parser


def serve(app: Callable, host: str, port: int, name: str, startup_delay_s: float = 0.0) -> None:
    """After `startup_delay_s`, serve a WSGI app forever, logging to stderr with the component's name."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
    )
    if startup_delay_s:
        log.info("starting up (%.1f s)", startup_delay_s)
        gevent.sleep(startup_delay_s)
    # A thousand clients connect at once: gevent's default backlog of 128 would drop SYNs, each
    # then retried only after a second.
    server = WSGIServer((host, port), app, backlog=LISTEN_BACKLOG, log=None, error_log=log, handler_class=ClientAwareHandler)
    log.info("listening on http://%s:%d", host, port)
    print(f"{name} listening on http://{host}:{port}", flush=True)
    server.serve_forever()


def json_response(start_response: Callable, status: str, body: object) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, JSON_HEADERS + [("Content-Length", str(len(payload)))])
    return [payload]


def _connection(url: str, read_timeout: float | None) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S)
    try:
        conn.connect()
    except OSError as exc:
        conn.close()
        raise PeerUnavailable(f"{url}: {exc}") from exc
    conn.sock.settimeout(read_timeout)
    return conn, parts.path or "/"


def open_generation(url: str, payload: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """POST a generation and return the open response once its status is 200.

    Raises PeerUnavailable when nothing listens, the connection drops before the status
    line, or the status is not 200. The caller closes the connection.
    """
    conn, path = _connection(url, read_timeout=None)
    try:
        body = json.dumps(payload)
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
    except OSError as exc:  # includes http.client's RemoteDisconnected
        conn.close()
        raise PeerUnavailable(f"{url}: {exc}") from exc
    if response.status != 200:
        detail = response.read(500).decode("utf-8", errors="replace")
        conn.close()
        raise PeerUnavailable(f"{url}: HTTP {response.status} {detail}", response.status)
    return conn, response


def read_json_lines(response: http.client.HTTPResponse) -> Iterator[dict]:
    """Each JSON line of a streaming response; ends quietly at end of stream.

    A connection that breaks mid-stream raises OSError (or http.client.IncompleteRead,
    an HTTPException) for the caller to turn into an error line.
    """
    while True:
        line = response.readline()
        if not line:
            return
        line = line.strip()
        if line:
            yield json.loads(line)


def _call_json(method: str, url: str, body: dict | None, timeout_s: float) -> dict:
    conn, path = _connection(url, read_timeout=timeout_s)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {} if body is None else {"Content-Type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 200:
            detail = answer[:300].decode("utf-8", errors="replace")
            raise PeerUnavailable(f"{url}: HTTP {response.status} {detail}".rstrip(), response.status)
        return json.loads(answer) if answer.strip() else {}  # vLLM's /health answers 200 with no body
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise PeerUnavailable(f"{url}: {exc}") from exc
    finally:
        conn.close()


def get_json(url: str, timeout_s: float = 1.0) -> dict:
    """GET a JSON document (an empty 200 is `{}`); raises PeerUnavailable on any failure,
    including non-200."""
    return _call_json("GET", url, None, timeout_s)


def post_json(url: str, body: dict, timeout_s: float) -> dict:
    """POST a JSON body and return the JSON answer; raises PeerUnavailable like `get_json`."""
    return _call_json("POST", url, body, timeout_s)


class HealthPoller:
    """Polls each peer's `/health` every `interval_s`; `live` is the set of peers answering 200.

    A peer that a caller found dead can be marked at once with `mark_dead`, so traffic moves
    before the next poll; the next successful poll brings it back.
    """

    def __init__(self, peers: Iterable[str], interval_s: float = 0.25):
        self.peers = list(peers)
        self.interval_s = interval_s
        self.live: set[str] = set()
        self.health: dict[str, dict] = {}

    def mark_dead(self, peer: str) -> None:
        if peer in self.live:
            log.warning("peer %s unreachable; routing around it", peer)
        self.live.discard(peer)
        self.health.pop(peer, None)

    def _poll(self, peer: str) -> None:
        try:
            self.health[peer] = get_json(peer + "/health")
        except PeerUnavailable:
            self.mark_dead(peer)
            return
        if peer not in self.live:
            log.info("peer %s is live", peer)
        self.live.add(peer)

    def _run(self) -> None:
        while True:
            gevent.joinall([gevent.spawn(self._poll, peer) for peer in self.peers])
            gevent.sleep(self.interval_s)

    def start(self) -> None:
        gevent.spawn(self._run)


class RoundRobin:
    """Cycles through the live peers, in the order they were configured."""

    def __init__(self, poller: HealthPoller):
        self.poller = poller
        self._next = 0

    def candidates(self) -> list[str]:
        """Live peers, starting with the one whose turn it is."""
        live = [p for p in self.poller.peers if p in self.poller.live]
        if not live:
            return []
        start = self._next % len(live)
        self._next += 1
        return live[start:] + live[:start]
