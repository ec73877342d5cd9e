"""free_port: the kernel's pick, or a random free port of a range, never one already taken."""

import random
import socket

import pytest

from deployments.ports import EPHEMERAL_RANGE, free_port, listen_ports

HOST = "127.0.0.1"
RANGE_SIZE = 10
PICKS = 30


def bind(port: int) -> socket.socket | None:
    """A socket bound to `port` on loopback, or None where that port is busy."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        return None
    return sock


def bindable(port: int) -> bool:
    sock = bind(port)
    if sock is None:
        return False
    sock.close()
    return True


def free_block(size: int) -> tuple[int, int]:
    """[low, high] of `size` ports free now, below the ephemeral range (so nobody takes them
    for an outgoing connection meanwhile)."""
    for _ in range(20):
        low = random.randrange(10000, 19999 - size)
        if all(bindable(port) for port in range(low, low + size)):
            return low, low + size - 1
    pytest.skip(f"no block of {size} free ports found")


@pytest.fixture
def held(request):
    """Binds ports for the rest of the test: `held(port)`; skips the test where one is busy."""
    sockets: list[socket.socket] = []
    request.addfinalizer(lambda: [s.close() for s in sockets])

    def hold(port: int) -> None:
        sock = bind(port)
        if sock is None:
            pytest.skip(f"port {port} is busy")
        sockets.append(sock)

    return hold


def test_the_kernel_pick_is_bindable():
    port = free_port()
    assert 1024 <= port <= 65535
    assert bindable(port)


def test_the_kernel_pick_avoids_taken_ports():
    taken = frozenset(free_port() for _ in range(5))
    assert free_port(taken=taken) not in taken


def test_the_kernel_offering_only_taken_ports_is_an_error():
    with pytest.raises(OSError, match=f"the kernel offered only ports already taken on {HOST}"):
        free_port(taken=frozenset(range(1, 65536)))


def test_a_port_within_a_range_stays_in_it_and_is_bindable():
    low, high = free_block(RANGE_SIZE)
    picks = [free_port(within=(low, high)) for _ in range(PICKS)]
    assert all(low <= port <= high for port in picks)
    assert all(bindable(port) for port in set(picks))


def test_a_range_of_one_port_gives_that_port():
    low, _ = free_block(1)
    assert free_port(within=(low, low)) == low


def test_a_port_within_a_range_avoids_taken_ports():
    low, high = free_block(RANGE_SIZE)
    taken = frozenset(range(low, high))  # every port but the last
    assert {free_port(within=(low, high), taken=taken) for _ in range(PICKS)} == {high}


def test_a_port_within_a_range_avoids_bound_ports(held):
    low, high = free_block(2)
    held(low)
    assert {free_port(within=(low, high)) for _ in range(PICKS)} == {high}


def test_a_range_with_every_port_bound_is_an_error_naming_it(held):
    low, high = free_block(2)
    held(low)
    held(high)
    with pytest.raises(OSError, match=f"^no free port on {HOST} between {low} and {high}$"):
        free_port(within=(low, high))


def test_a_range_with_every_port_bound_or_taken_is_an_error(held):
    low, high = free_block(2)
    held(high)
    with pytest.raises(OSError, match=f"^no free port on {HOST} between {low} and {high}$"):
        free_port(within=(low, high), taken=frozenset({low}))



def test_listen_ports_run_from_10000_to_just_below_the_ephemeral_range():
    low, high = listen_ports()
    ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    assert (low, high) == (10000, ephemeral_low - 1)
    assert low <= free_port(within=(low, high)) <= high


def test_without_the_kernel_range_the_launcher_takes_the_kernel_pick(monkeypatch, tmp_path):
    monkeypatch.setattr("deployments.ports.EPHEMERAL_RANGE", tmp_path / "absent")
    assert listen_ports() is None
    (tmp_path / "narrow").write_text("10500\t60999\n")
    monkeypatch.setattr("deployments.ports.EPHEMERAL_RANGE", tmp_path / "narrow")
    assert listen_ports() is None  # no room below it
