"""The fault proxy, as a real process between real sockets: each toxic does what it says, to
open connections and new ones, is healed, and is counted."""

import socket
import time
from collections.abc import Iterator

import gevent
import pytest
from gevent.server import StreamServer

from deployments.links import LinkError, LinkProxy, LinkRoute
from deployments.ports import free_port

HOST = "127.0.0.1"
LINE = b"x" * 99 + b"\n"  # 100 bytes a line
EVENT = b"data: " + b"x" * 92 + b"\n\n"  # 100 bytes a server-sent event


def stream_lines(sock: socket.socket, _address) -> None:
    """Upstream: read `COUNT INTERVAL_MS [events]\\n`, answer COUNT lines of 100 bytes, one
    every INTERVAL_MS, then close. With `events`, each line is an EVENT, sent in two writes
    split between its last two newlines, so its end spans two reads."""
    with sock.makefile("rb") as lines:
        request = lines.readline().split()
    if not request:
        sock.close()
        return
    count, interval_ms = int(request[0]), float(request[1])
    pieces = (EVENT[:-1], EVENT[-1:]) if request[2:] == [b"events"] else (LINE,)
    try:
        for _ in range(count):
            for piece in pieces:
                sock.sendall(piece)
                gevent.sleep(interval_ms / 1000)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def upstream() -> Iterator[int]:
    server = StreamServer((HOST, 0), stream_lines)
    server.start()
    yield server.server_port
    server.stop()


@pytest.fixture
def proxy(upstream, tmp_path) -> Iterator[tuple[LinkProxy, LinkRoute]]:
    route = LinkRoute("caller", "callee", 0, free_port(HOST), HOST, upstream)
    links = LinkProxy([route], HOST, free_port(HOST), tmp_path / "fault_proxy")
    links.start({})
    yield links, route
    links.stop()


def ask(route: LinkRoute, count: int, interval_ms: float, events: bool = False) -> socket.socket:
    sock = socket.create_connection((HOST, route.listen_port), timeout=10)
    sock.sendall(f"{count} {interval_ms}{' events' if events else ''}\n".encode())
    return sock


def read_all(sock: socket.socket) -> tuple[bytes, list[float]]:
    """Everything until the close, and when each recv returned (monotonic seconds); then
    the socket is closed."""
    data, times = b"", []
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
            times.append(time.monotonic())
    return data, times


def counters(links: LinkProxy, route: LinkRoute) -> dict:
    return links.describe()[route.name]["counters"]


def test_without_a_toxic_every_byte_passes_and_is_counted(proxy):
    links, route = proxy
    data, _ = read_all(ask(route, 5, 1))
    assert data == LINE * 5
    seen = counters(links, route)
    assert seen["accepted"] == 1 and seen["bytes_downstream"] == 500 and seen["bytes_upstream"] == len(b"5 1\n")


def test_latency_delays_each_chunk_once_not_cumulatively(proxy):
    links, route = proxy
    started = time.monotonic()
    _, direct_times = read_all(ask(route, 10, 20))
    direct_s = direct_times[-1] - started
    links.apply(route, {"kind": "latency", "ms": 300, "jitter_ms": 0})
    started = time.monotonic()
    data, times = read_all(ask(route, 10, 20))
    assert data == LINE * 10
    assert times[0] - started >= 0.3
    # Ten chunks 20 ms apart, each 300 ms late: the stream ends about 300 ms later, not 3 s.
    assert 0.25 <= (times[-1] - started) - direct_s < 0.5
    assert counters(links, route)["delayed_chunks"] >= 10
    links.heal(route)
    started = time.monotonic()
    read_all(ask(route, 1, 1))
    assert time.monotonic() - started < 0.2


def test_bandwidth_paces_the_callees_bytes(proxy):
    links, route = proxy
    links.apply(route, {"kind": "bandwidth", "kib_per_s": 4})
    started = time.monotonic()
    data, _ = read_all(ask(route, 30, 0))  # 3,000 bytes at 4 KiB/s: about 0.73 s
    assert data == LINE * 30
    assert time.monotonic() - started >= 0.6
    assert counters(links, route)["paced_bytes"] == 3000


def test_reset_ends_open_and_new_connections_with_rst_until_healed(proxy):
    links, route = proxy
    open_stream = ask(route, 100, 20)
    assert open_stream.recv(100)
    links.apply(route, {"kind": "reset"})
    with pytest.raises(ConnectionResetError):
        read_all(open_stream)
    with pytest.raises(ConnectionResetError):
        read_all(ask(route, 1, 1))
    assert counters(links, route)["reset"] == 2
    links.heal(route)
    assert read_all(ask(route, 2, 1))[0] == LINE * 2


def test_partition_stalls_open_and_new_connections_and_heals_them(proxy):
    links, route = proxy
    open_stream = ask(route, 20, 10)
    first = open_stream.recv(100)
    links.apply(route, {"kind": "partition"})
    gevent.sleep(0.1)  # bytes already in the caller's socket buffer are not the proxy's to hold
    open_stream.settimeout(0.1)
    while True:
        try:
            if not open_stream.recv(65536):
                pytest.fail("the stream ended during the partition")
        except TimeoutError:
            break
    open_stream.settimeout(0.6)
    with pytest.raises(TimeoutError):
        open_stream.recv(65536)  # nothing passes for as long as the partition lasts
    new = ask(route, 3, 1)
    new.settimeout(0.3)
    with pytest.raises(TimeoutError):
        new.recv(100)
    assert counters(links, route)["held"] == 2
    links.heal(route)
    open_stream.settimeout(10)
    new.settimeout(10)
    rest, _ = read_all(open_stream)
    assert first + rest == LINE * 20, "the held bytes went on after the heal, none lost"
    assert read_all(new)[0] == LINE * 3


def test_slow_close_holds_the_close_back(proxy):
    links, route = proxy
    links.apply(route, {"kind": "slow_close", "delay_ms": 500})
    sock = ask(route, 2, 1)
    data, times = read_all(sock)
    assert data == LINE * 2
    closed_at = time.monotonic()
    assert closed_at - times[-1] >= 0.45, "the close came as late as asked after the last byte"
    assert counters(links, route)["delayed_closes"] >= 1


def test_limit_data_cuts_a_connection_mid_stream(proxy):
    links, route = proxy
    links.apply(route, {"kind": "limit_data", "bytes": 250})
    for _ in range(3):
        data, _ = read_all(ask(route, 10, 1))
        assert data == (LINE * 3)[:250]
    assert counters(links, route)["cut"] == 3
    links.heal(route)
    assert read_all(ask(route, 10, 1))[0] == LINE * 10


@pytest.mark.parametrize("limit, events", [(250, 3), (300, 3), (301, 4), (1, 1)])
def test_limit_data_at_event_cuts_at_the_end_of_the_event_in_flight(proxy, limit: int, events: int):
    links, route = proxy
    links.apply(route, {"kind": "limit_data", "bytes": limit, "at": "event"})
    data, _ = read_all(ask(route, 10, 1, events=True))
    assert data == EVENT * events
    assert counters(links, route)["cut"] == 1


def test_limit_data_at_event_waits_for_an_event_to_end(proxy):
    links, route = proxy
    links.apply(route, {"kind": "limit_data", "bytes": 250, "at": "event"})
    assert read_all(ask(route, 10, 1))[0] == LINE * 10, "lines that never end an event are never cut"
    assert counters(links, route)["cut"] == 0


def test_a_toxic_of_the_wrong_shape_is_refused(proxy):
    links, route = proxy
    with pytest.raises(LinkError, match="latency takes jitter_ms, ms, not kib_per_s"):
        links.apply(route, {"kind": "latency", "ms": 1, "kib_per_s": 3})
    with pytest.raises(LinkError, match="bandwidth: kib_per_s must be a positive number"):
        links.apply(route, {"kind": "bandwidth", "kib_per_s": 0})
    with pytest.raises(LinkError, match="HTTP 400"):
        links.apply(route, {"kind": "flood"})
    with pytest.raises(LinkError, match="limit_data: at must be one of byte, event"):
        links.apply(route, {"kind": "limit_data", "bytes": 10, "at": "word"})


def test_a_callee_that_is_down_is_a_reset_connection(tmp_path):
    route = LinkRoute("caller", "callee", 0, free_port(HOST), HOST, free_port(HOST))
    links = LinkProxy([route], HOST, free_port(HOST), tmp_path / "fault_proxy")
    links.start({})
    try:
        with pytest.raises(ConnectionResetError):
            read_all(ask(route, 1, 1))
    finally:
        links.stop()
    assert not links.alive()
