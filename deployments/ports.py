"""Free loopback ports, chosen at launch."""

import random
import socket
from pathlib import Path

__all__ = ["free_port", "listen_ports"]

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port `listen_ports` gives: above the well-known and most registered services.
LISTEN_PORTS_FROM = 10000


def listen_ports() -> tuple[int, int] | None:
    """Where a launched component's port is best chosen: from 10000 to just below the kernel's
    ephemeral range (32767 by Linux's default), where no outgoing connection of this host can
    take it between the choice and the component's bind. A parallel run's health polls open
    dozens of connections a second, each on an ephemeral port: in one CI run of 117 launches,
    one of them took a worker's port first. None where the range cannot be read, or leaves no
    room below it: the kernel's pick, then."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return (LISTEN_PORTS_FROM, low - 1) if low - 1 - LISTEN_PORTS_FROM >= 1000 else None


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1", within: tuple[int, int] | None = None, taken: frozenset[int] = frozenset()) -> int:
    """A port nothing listens on now. The kernel picks it, so parallel runs do not collide;
    `within` (low, high, inclusive) instead tries random ports of that range, except those
    in `taken` (chosen already, not yet bound)."""
    if within is None:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
            if port not in taken:
                return port
        raise OSError(f"the kernel offered only ports already taken on {host}")
    low, high = within
    for port in random.sample(range(low, high + 1), high - low + 1):
        if port not in taken and _bindable(host, port):
            return port
    raise OSError(f"no free port on {host} between {low} and {high}")
