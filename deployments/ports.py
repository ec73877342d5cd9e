"""Free loopback ports, chosen at launch."""

import random
import socket

__all__ = ["free_port"]


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
