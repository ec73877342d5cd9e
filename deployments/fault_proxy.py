"""A loopback TCP proxy that puts faults on a deployment's links: one process, many routes.

    python -m deployments.fault_proxy --host 127.0.0.1 --control-port C \
        --route processor.decode_worker.0=LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT ...

Each route listens on its own port of `--host` and forwards every connection to its upstream. A route carries at most one toxic at a time, set and healed through a JSON
control API on `--control-port`:

    GET    /health               200 once every route listens
    GET    /routes               every route: its ports, its toxic, its counters
    PUT    /routes/NAME/toxic    {"kind": "latency", "ms": 200, "jitter_ms": 20}: replaces any toxic
    DELETE /routes/NAME/toxic    heal the route; answers it, counters included

The toxics, modelled on Toxiproxy's (which no registry reachable here packages):

- `latency` (`ms`, `jitter_ms`): every chunk the callee sends reaches the caller that much
  later than it arrived, in order;
- `bandwidth` (`kib_per_s`): the callee's bytes reach the caller at most that fast;
- `reset`: every open connection is ended with a TCP RST (SO_LINGER 0) on both sides, and so
  is every new one until healed;
- `partition`: no byte passes either way, on open connections and on new ones, which are
  accepted and held; on heal everything held goes on, as after a network partition heals;
- `slow_close` (`delay_ms`): when one side closes, the proxy passes the close on that much later;
- `limit_data` (`bytes`, `at`): a connection is closed once that many more bytes of the
  callee's have passed, which ends a stream mid-answer: `at: byte` (the default, as Toxiproxy's)
  exactly there, mid-chunk; `at: event` at the end of the server-sent event in flight (the
  next blank line), so the stream ends between two whole events, as when a server or a proxy
  in front gives up on a stream between two writes.

Counters per route say what the proxy did: connections accepted, open, reset, held, cut and
closes delayed; bytes each way; chunks delayed and bytes paced. Through any L4 proxy, a callee
that is down is seen by its caller as a connection accepted and then reset, not refused.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.queue import Queue  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

__all__ = ["TOXIC_CHOICES", "TOXIC_FIELDS", "Counters", "Route", "main"]

log = logging.getLogger("fault_proxy")

READ_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 2.0
#: Chunks read ahead of a latency toxic's writer: enough to keep a stream's pace, bounded.
QUEUE_CHUNKS = 256
#: Each toxic kind and the fields it takes, all numbers.
TOXIC_FIELDS: dict[str, tuple[str, ...]] = {
    "latency": ("ms", "jitter_ms"),
    "bandwidth": ("kib_per_s",),
    "reset": (),
    "partition": (),
    "slow_close": ("delay_ms",),
    "limit_data": ("bytes",),
}
#: Fields a toxic may add that name one of a few choices, the first being the default.
TOXIC_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {
    "limit_data": {"at": ("byte", "event")},
}
#: The end of a server-sent event: a blank line, with either line ending.
EVENT_END = re.compile(rb"\r?\n\r?\n")
#: The longest EVENT_END, less one: what of a read an event end may span into the next.
EVENT_END_TAIL = 3
#: Bandwidth is paced in slices this long, so a slow link trickles rather than bursts.
PACE_SLICE_S = 0.05


@dataclass
class Counters:
    accepted: int = 0
    open: int = 0
    bytes_upstream: int = 0  # caller to callee
    bytes_downstream: int = 0  # callee to caller
    reset: int = 0  # connections ended with RST by a `reset` toxic
    held: int = 0  # connections a `partition` held, open or new
    cut: int = 0  # connections closed by `limit_data`
    delayed_chunks: int = 0  # chunks a `latency` toxic delayed
    paced_bytes: int = 0  # bytes a `bandwidth` toxic paced
    delayed_closes: int = 0  # closes a `slow_close` toxic held back


def _reset(sock: socket.socket | None) -> None:
    """Close with an RST instead of a FIN: SO_LINGER on, with a zero timeout."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


@dataclass
class Connection:
    """One proxied connection: the caller's socket, the callee's, and what a toxic left of it."""

    caller: socket.socket
    callee: socket.socket | None = None
    #: Bytes of the callee's still to pass before `limit_data` cuts; None: no limit.
    budget: int | None = None
    #: Whether the cut waits for the end of an event (`at: event`) once the budget is spent.
    cut_at_event: bool = False
    #: The callee's last few bytes, where an event's end may have begun.
    tail: bytes = b""
    closed: bool = False

    def limit(self, toxic: dict | None) -> None:
        """Count the callee's bytes from now on toward a `limit_data` toxic; None: no limit."""
        self.budget = None if toxic is None else int(toxic["bytes"])
        self.cut_at_event = toxic is not None and toxic.get("at") == "event"
        self.tail = b""

    def cut_point(self, data: bytes) -> int | None:
        """How much of `data`, the callee's next bytes, passes before the cut; None: all of it,
        and no cut yet. Keeps count: the caller passes what this allows."""
        if self.budget is None:
            return None
        if not self.cut_at_event:
            end = self.budget if len(data) >= self.budget else None
        else:
            seen = self.tail + data
            # The first event end at or past the budget, and within `data`, not the tail.
            threshold = len(self.tail) + max(self.budget, 1)
            match = EVENT_END.search(seen, max(0, threshold - EVENT_END_TAIL - 1))
            while match is not None and match.end() < threshold:
                match = EVENT_END.search(seen, match.start() + 1)
            end = None if match is None else match.end() - len(self.tail)
            self.tail = seen[-EVENT_END_TAIL:]
        self.budget -= len(data) if end is None else end
        return end

    def close(self) -> None:
        self.closed = True
        for sock in (self.caller, self.callee):
            if sock is not None:
                sock.close()

    def reset(self) -> None:
        self.closed = True
        _reset(self.caller)
        _reset(self.callee)


@dataclass
class Route:
    """One listening port in front of one upstream port, and the toxic on it."""

    name: str
    host: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    toxic: dict | None = None
    counters: Counters = field(default_factory=Counters)
    connections: list[Connection] = field(default_factory=list)
    #: Set while bytes may pass; cleared by a partition.
    passable: Event = field(default_factory=Event)

    def __post_init__(self) -> None:
        self.passable.set()

    # -- the toxic -------------------------------------------------------------------------

    def kind(self) -> str | None:
        return None if self.toxic is None else self.toxic["kind"]

    def apply(self, toxic: dict) -> None:
        self.heal()
        self.toxic = toxic
        log.info("route %s: %s", self.name, toxic)
        if toxic["kind"] == "partition":
            self.passable.clear()
            self.counters.held += len(self.connections)
        elif toxic["kind"] == "reset":
            for connection in list(self.connections):
                connection.reset()
                self.counters.reset += 1
        elif toxic["kind"] == "limit_data":
            for connection in self.connections:
                connection.limit(toxic)

    def heal(self) -> None:
        if self.toxic is not None:
            log.info("route %s: healed %s", self.name, self.toxic["kind"])
        self.toxic = None
        self.passable.set()
        for connection in self.connections:
            connection.limit(None)

    def describe(self) -> dict:
        return {
            "listen_port": self.listen_port,
            "upstream": f"{self.upstream_host}:{self.upstream_port}",
            "toxic": self.toxic,
            "counters": asdict(self.counters),
        }

    # -- forwarding ------------------------------------------------------------------------

    def handle(self, caller: socket.socket, _address: object) -> None:
        """Serve one accepted connection until either side is done with it."""
        self.counters.accepted += 1
        connection = Connection(caller)
        self.connections.append(connection)
        self.counters.open += 1
        try:
            self._serve(connection)
        finally:
            self.connections.remove(connection)
            self.counters.open -= 1
            if not connection.closed:
                connection.close()

    def _serve(self, connection: Connection) -> None:
        if self.kind() == "reset":
            connection.reset()
            self.counters.reset += 1
            return
        if not self.passable.is_set():
            self.counters.held += 1
            self.passable.wait()
        try:
            connection.callee = socket.create_connection((self.upstream_host, self.upstream_port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            log.info("route %s: upstream %s:%d: %s", self.name, self.upstream_host, self.upstream_port, exc)
            connection.reset()  # the nearest a proxy can come to "refused", having accepted
            return
        connection.callee.settimeout(None)
        if self.kind() == "limit_data":
            connection.limit(self.toxic)
        up = gevent.spawn(self._pump, connection, connection.caller, connection.callee, False)
        down = gevent.spawn(self._pump, connection, connection.callee, connection.caller, True)
        gevent.joinall([up, down])

    def _pump(self, connection: Connection, source: socket.socket, sink: socket.socket, downstream: bool) -> None:
        """Copy one direction: a reader, and for the callee's side a writer behind a queue, so
        that a latency toxic delays each chunk from when it arrived, not after the one before."""
        if not downstream:
            self._copy(connection, source, sink, downstream)
            return
        chunks: Queue = Queue(QUEUE_CHUNKS)
        writer = gevent.spawn(self._write_queued, connection, chunks, sink)
        try:
            while not connection.closed:  # closed by either direction when its side breaks
                data = self._read(source)
                chunks.put((time.monotonic(), data))
                if not data:
                    break
        finally:
            if not writer.dead:
                chunks.put((time.monotonic(), b""))  # the writer ends at the first end of stream
            writer.join()

    def _read(self, source: socket.socket) -> bytes:
        try:
            return source.recv(READ_BYTES)
        except OSError:
            return b""

    def _copy(self, connection: Connection, source: socket.socket, sink: socket.socket, downstream: bool) -> None:
        while True:
            data = self._read(source)
            if not self._deliver(connection, sink, data, downstream):
                return

    def _write_queued(self, connection: Connection, chunks: Queue, sink: socket.socket) -> None:
        try:
            self._write_in_order(connection, chunks, sink)
        finally:
            while not chunks.empty():  # a reader blocked on a full queue goes on, and sees the end
                chunks.get_nowait()

    def _write_in_order(self, connection: Connection, chunks: Queue, sink: socket.socket) -> None:
        last_release = 0.0
        while True:
            arrived, data = chunks.get()
            if self.kind() == "latency" and data:
                assert self.toxic is not None
                jitter = float(self.toxic.get("jitter_ms", 0))
                delay = (float(self.toxic["ms"]) + random.uniform(-jitter, jitter)) / 1000
                release = max(arrived + max(delay, 0.0), last_release)
                last_release = release
                self.counters.delayed_chunks += 1
                gevent.sleep(max(0.0, release - time.monotonic()))
            if not self._deliver(connection, sink, data, True):
                return

    def _deliver(self, connection: Connection, sink: socket.socket, data: bytes, downstream: bool) -> bool:
        """Pass `data` on, under the route's toxic at this moment; False once the direction
        is done (end of stream, a broken socket, a cut)."""
        self.passable.wait()
        if connection.closed:
            return False
        if not data:
            if self.kind() == "slow_close":
                self.counters.delayed_closes += 1
                gevent.sleep(float(self.toxic["delay_ms"]) / 1000)  # type: ignore[index]
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        cut = False
        if downstream:
            end = connection.cut_point(data)
            if end is not None:
                data, cut = data[:end], True
        try:
            if downstream and self.kind() == "bandwidth":
                self._paced(sink, data)
            else:
                sink.sendall(data)
        except OSError:
            connection.close()  # one side broke: the other is told at once, as by a direct link
            return False
        if downstream:
            self.counters.bytes_downstream += len(data)
        else:
            self.counters.bytes_upstream += len(data)
        if cut:
            self.counters.cut += 1
            log.info("route %s: cut a connection (limit_data)", self.name)
            connection.close()
            return False
        return True

    def _paced(self, sink: socket.socket, data: bytes) -> None:
        assert self.toxic is not None
        rate = float(self.toxic["kib_per_s"]) * 1024
        piece = max(1, int(rate * PACE_SLICE_S))
        for start in range(0, len(data), piece):
            part = data[start : start + piece]
            sink.sendall(part)
            self.counters.paced_bytes += len(part)
            gevent.sleep(len(part) / rate)


def _check_toxic(body: object) -> dict:
    """The toxic a PUT asks for, or ValueError saying what is wrong with it."""
    if not isinstance(body, dict) or body.get("kind") not in TOXIC_FIELDS:
        raise ValueError(f"expected {{\"kind\": one of {', '.join(TOXIC_FIELDS)}, ...}}")
    numbers, choices = set(TOXIC_FIELDS[body["kind"]]), TOXIC_CHOICES.get(body["kind"], {})
    allowed = numbers | set(choices)
    unknown = set(body) - allowed - {"kind"}
    if unknown:
        raise ValueError(f"{body['kind']} takes {', '.join(sorted(allowed)) or 'no fields'}, not {', '.join(sorted(unknown))}")
    for name in numbers - {"jitter_ms"}:
        value = body.get(name)
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{body['kind']}: {name} must be a positive number")
    for name, options in choices.items():
        if body.get(name, options[0]) not in options:
            raise ValueError(f"{body['kind']}: {name} must be one of {', '.join(options)}")
    return body


def control_app(routes: dict[str, Route]):
    def respond(start_response, status: str, body: object) -> list[bytes]:
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def app(environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"].strip("/").split("/")
        if path == ["health"]:
            return respond(start_response, "200 OK", {"status": "ok"})
        if path == ["routes"] and method == "GET":
            return respond(start_response, "200 OK", {name: route.describe() for name, route in routes.items()})
        if len(path) == 3 and path[0] == "routes" and path[2] == "toxic" and path[1] in routes:
            route = routes[path[1]]
            if method == "DELETE":
                route.heal()
                return respond(start_response, "200 OK", route.describe())
            if method == "PUT":
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    route.apply(_check_toxic(json.loads(environ["wsgi.input"].read(length))))
                except ValueError as exc:
                    return respond(start_response, "400 Bad Request", {"error": str(exc)})
                return respond(start_response, "200 OK", route.describe())
        return respond(start_response, "404 Not Found", {"error": f"no {method} {environ['PATH_INFO']}"})

    return app


def _route(text: str) -> tuple[str, int, str, int]:
    try:
        name, ports = text.split("=", 1)
        listen, upstream = ports.split(":", 1)
        upstream_host, upstream_port = upstream.rsplit(":", 1)
        return name, int(listen), upstream_host, int(upstream_port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--route", type=_route, action="append", default=[], metavar="NAME=LISTEN_PORT:UPSTREAM_HOST:UPSTREAM_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s fault_proxy %(levelname)s %(message)s")
    routes = {name: Route(name, args.host, listen, host, port) for name, listen, host, port in args.route}
    servers = [StreamServer((args.host, route.listen_port), route.handle) for route in routes.values()]
    for server in servers:
        server.start()
    control = WSGIServer((args.host, args.control_port), control_app(routes), log=None, error_log=log)
    log.info("%d routes; control on http://%s:%d", len(routes), args.host, args.control_port)
    control.serve_forever()


if __name__ == "__main__":
    main()
