"""A session-wide check that nothing the tests start listens on a non-loopback address.

While the test session runs, a background OS thread samples, every `INTERVAL_S` seconds,
the listening sockets of the pytest process and of every process descended from it (TCP
sockets in LISTEN state, and UDP sockets bound with no remote address). A socket whose local
address is not loopback (127.0.0.0/8 or ::1) is a violation: the wildcard addresses 0.0.0.0
and :: included, since they listen on every interface. Each violation is recorded once, with
the process (pid, name, command line), the address and port, when it was first seen and
which test was running then. At the end of the session the violations are listed in the
terminal summary and the run fails (exit status 1) even if every test passed.

Registered by tests/conftest.py. Disable it with the environment variable

    FAULTSUITE_LOOPBACK_GUARD=0

(any of 0, false, no, off). A test that must bind another address on purpose names the
process with `tolerate(pid)` or, for a block, `with allow_non_loopback(pid): ...`; the
session guard then ignores that process (that process only, not its children; keyed by pid
and start time, so a reused pid is not tolerated). There should be no need for it outside
tests/test_loopback_guard.py.

What sampling cannot see: a listener that opens and closes between two samples, and a
process that leaves the process tree (double-forks, so it is re-parented away) before it was
first sampled. A process once sampled stays watched after it is re-parented, until it exits.

The thread is a real OS thread even under gevent's monkey-patching (conftest.py patches
first), taken from gevent.monkey.get_original: `threading.Thread` and `time.sleep` are
gevent's after patch_all, and a greenlet would only run when the test yields to the hub.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Self

import psutil
import pytest
from gevent.monkey import get_original

_start_new_thread, _allocate_lock = get_original("_thread", ["start_new_thread", "allocate_lock"])
_real_sleep = get_original("time", "sleep")

ENV_VAR = "FAULTSUITE_LOOPBACK_GUARD"
INTERVAL_S = 1.0  # one sample costs about 18 ms of CPU: 2% of a core
CMDLINE_CHARS = 200
MAX_ERRORS_KEPT = 20


def enabled(environ: dict[str, str] | None = None) -> bool:
    """False when FAULTSUITE_LOOPBACK_GUARD is 0/false/no/off; on otherwise."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "1")
    return value.strip().lower() not in {"0", "false", "no", "off"}


def is_loopback(ip: str) -> bool:
    """Whether a socket's local IP is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


# --- processes a test deliberately lets listen elsewhere -----------------------------------

_tolerated: dict[int, float] = {}  # pid -> the process's create time


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def tolerate(pid: int) -> None:
    """Have guards that honour tolerance ignore process `pid` (this process, while it lives)."""
    created = _create_time(pid)
    if created is not None:
        _tolerated[pid] = created


def untolerate(pid: int) -> None:
    _tolerated.pop(pid, None)


@contextmanager
def allow_non_loopback(pid: int) -> Iterator[None]:
    """`tolerate(pid)` for the block; end the process inside it. If it still runs after the
    block, it is no longer tolerated. If it ended, it stays tolerated: a sample may have read
    its socket just before it ended, and its start time keeps a reused pid from matching."""
    tolerate(pid)
    try:
        yield
    finally:
        created = _create_time(pid)
        if created is not None and created == _tolerated.get(pid):
            untolerate(pid)


def is_tolerated(pid: int, create_time: float) -> bool:
    return _tolerated.get(pid) == create_time


# --- the guard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    pid: int
    name: str
    cmdline: str
    protocol: str  # "tcp" or "udp"
    address: str
    port: int
    when: float  # time.time() when first seen
    test: str | None = None  # the test running then, when the guard was told

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.when)) + f".{int(self.when % 1 * 1000):03d}"
        host = f"[{self.address}]" if ":" in self.address else self.address
        during = f"during {self.test}" if self.test else "outside any test"
        return f"pid {self.pid} ({self.name}) {self.protocol} {host}:{self.port}, first seen {clock} {during}\n    cmdline: {self.cmdline}"


def _protocol(conn) -> str | None:
    """'tcp' or 'udp' when `conn` is a listening socket, else None."""
    if not conn.laddr:
        return None
    if conn.type == socket.SOCK_STREAM:
        return "tcp" if conn.status == psutil.CONN_LISTEN else None
    if conn.type == socket.SOCK_DGRAM:
        return "udp" if not conn.raddr else None
    return None


class ListenerGuard:
    """Samples the listening sockets of `root_pid` (default: this process) and its descendants.

    `check_now()` takes one sample and returns the violations it found new; `start()` samples
    every `interval_s` seconds in a background OS thread until `stop()`, which takes a last
    sample and returns every violation seen. `violations` lists them, first seen first;
    `errors` lists sampling errors (the thread goes on after one); `samples` counts samples.
    With `honour_tolerated`, processes named by `tolerate()` are ignored.
    """

    def __init__(self, root_pid: int | None = None, interval_s: float = INTERVAL_S, honour_tolerated: bool = True):
        self.root = psutil.Process(os.getpid() if root_pid is None else root_pid)
        self.interval_s = interval_s
        self.honour_tolerated = honour_tolerated
        self.violations: list[Violation] = []
        self.errors: list[str] = []
        self.samples = 0
        self.most_processes = 0  # the most processes one sample watched
        self.current_test: str | None = None  # set by the session plugin; stamped on violations
        self._known: dict[int, tuple[psutil.Process, float]] = {}  # pid -> (process, create time)
        self._first_seen_as: dict[int, tuple[str, str]] = {}  # pid -> (name, cmdline), for one gone by the time it is described
        self._seen: set[tuple] = set()
        self._sample_lock = _allocate_lock()
        self._stopping = False
        self._done = None

    # sampling

    def _watched(self) -> dict[int, tuple[psutil.Process, float]]:
        """The root, its descendants now, and processes seen before that still run."""
        for pid, (proc, _) in list(self._known.items()):
            if not proc.is_running():  # exited, or its pid was reused (is_running compares start times)
                del self._known[pid]
                self._first_seen_as.pop(pid, None)
        try:
            current = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            current = []
        for proc in current:
            if proc.pid not in self._known:
                try:
                    self._known[proc.pid] = (proc, proc.create_time())
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self._first_seen_as[proc.pid] = _describe(proc)
        return dict(self._known)

    def _connections(self, watched: dict[int, tuple[psutil.Process, float]]) -> list[tuple[int, object]]:
        """(pid, connection) for every inet socket of the watched processes: one system-wide
        read, filtered by pid; process by process where that read is not allowed."""
        try:
            return [(conn.pid, conn) for conn in psutil.net_connections(kind="inet") if conn.pid in watched]
        except psutil.AccessDenied:
            pass
        found = []
        for pid, (proc, _) in watched.items():
            try:
                found += [(pid, conn) for conn in proc.net_connections(kind="inet")]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def check_now(self) -> list[Violation]:
        """Take one sample; return the violations not seen before (also added to `violations`)."""
        with self._sample_lock:
            watched = self._watched()
            self.most_processes = max(self.most_processes, len(watched))
            new = []
            for pid, conn in self._connections(watched):
                protocol = _protocol(conn)
                if protocol is None or is_loopback(conn.laddr.ip):
                    continue
                proc, created = watched[pid]
                if self.honour_tolerated and is_tolerated(pid, created):
                    continue
                key = (pid, created, protocol, conn.laddr.ip, conn.laddr.port)
                if key in self._seen:
                    continue
                self._seen.add(key)
                name, cmdline = _describe(proc)
                if cmdline == "?" and pid in self._first_seen_as:  # it ended just after the sample
                    name, cmdline = self._first_seen_as[pid]
                    cmdline = f"(ended; as first seen) {cmdline}"
                new.append(Violation(pid, name, cmdline, protocol, conn.laddr.ip, conn.laddr.port, time.time(), self.current_test))
            self.violations += new
            self.samples += 1
            return new

    def _sample_safely(self) -> None:
        try:
            self.check_now()
        except Exception as exc:  # noqa: BLE001  (keep sampling; report at the end)
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    # the background thread

    @property
    def running(self) -> bool:
        return self._done is not None and self._done.locked()

    def start(self) -> ListenerGuard:
        if self.running:
            raise RuntimeError("the guard is already running")
        self._stopping = False
        self._done = _allocate_lock()
        self._done.acquire()
        _start_new_thread(self._run, ())
        return self

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._sample_safely()
                wake = time.monotonic() + self.interval_s
                while not self._stopping and (left := wake - time.monotonic()) > 0:
                    _real_sleep(min(left, 0.05))
        finally:
            self._done.release()

    def stop(self, timeout_s: float = 10) -> list[Violation]:
        """Stop the thread, take a last sample and return every violation seen."""
        if self._done is not None:
            self._stopping = True
            if not self._done.acquire(True, timeout_s):
                self.errors.append(f"the sampling thread did not stop within {timeout_s} s")
            else:
                self._done.release()
        self._sample_safely()
        return list(self.violations)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _describe(proc: psutil.Process) -> tuple[str, str]:
    """(name, command line cut to CMDLINE_CHARS); '?' for what cannot be read."""
    try:
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        name = "?"
    try:
        cmdline = " ".join(proc.cmdline()) or "?"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        cmdline = "?"
    if len(cmdline) > CMDLINE_CHARS:
        cmdline = cmdline[: CMDLINE_CHARS - 3] + "..."
    return name, cmdline


# --- the pytest plugin ---------------------------------------------------------------------


class SessionGuard:
    """Pytest hooks: the guard runs from session start to session finish, fails the run on a
    violation and lists violations in the terminal summary."""

    def __init__(self) -> None:
        self.guard = ListenerGuard()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.guard.start()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.guard.current_test = nodeid

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.guard.current_test = None

    @pytest.hookimpl(trylast=True)  # after session-scoped fixtures are torn down
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.guard.stop() and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        guard = self.guard
        scope = f"{guard.samples} samples, up to {guard.most_processes} processes"
        if guard.violations:
            terminalreporter.section("loopback guard", sep="=", red=True, bold=True)
            terminalreporter.write_line(
                f"{len(guard.violations)} socket(s) listened on a non-loopback address ({scope}); failing the run "
                f"({ENV_VAR}=0 disables this check):",
                red=True,
            )
            for violation in guard.violations:
                terminalreporter.write_line(f"  {violation}")
        else:
            terminalreporter.write_line(f"loopback guard: nothing listened on a non-loopback address ({scope})")
        for error in guard.errors:
            terminalreporter.write_line(f"loopback guard: sampling error: {error}", yellow=True)
