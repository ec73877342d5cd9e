"""The loopback guard (tests/loopback_guard.py) against real processes that listen.

Some of these children listen on 0.0.0.0 on purpose: each is named to the session guard with
`allow_non_loopback`, and the guards made here do not honour that, so they still see it.
"""

import subprocess
import sys
import time
from contextlib import contextmanager

import psutil

from tests import loopback_guard
from tests.loopback_guard import (
    ListenerGuard,
    Violation,
    allow_non_loopback,
    is_loopback,
)

# Binds, listens, prints its port, then sleeps `seconds` and exits.
LISTENER = """\
import socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[3] == "udp" else socket.SOCK_STREAM
sock = socket.socket(family, kind)
sock.bind((sys.argv[1], 0))
if kind == socket.SOCK_STREAM:
    sock.listen()
print(sock.getsockname()[1], flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextmanager
def listener(host: str, seconds: float = 60, protocol: str = "tcp"):
    """A child listening on `host`, tolerated by the session guard; yields (process, port)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER, host, str(seconds), protocol], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        with allow_non_loopback(proc.pid):
            port = int(proc.stdout.readline())
            yield proc, port
            proc.terminate()
            proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def of(violations: list[Violation], pid: int) -> list[Violation]:
    return [violation for violation in violations if violation.pid == pid]


def test_a_child_listening_on_all_interfaces_is_a_violation():
    with listener("0.0.0.0") as (proc, port):
        guard = ListenerGuard(honour_tolerated=False)
        found = of(guard.check_now(), proc.pid)
        assert [(v.protocol, v.address, v.port) for v in found] == [("tcp", "0.0.0.0", port)]
        assert found[0].name.startswith("python")
        assert "import socket" in found[0].cmdline and len(found[0].cmdline) <= loopback_guard.CMDLINE_CHARS
        assert of(guard.violations, proc.pid) == found
        assert of(guard.check_now(), proc.pid) == [], "a violation is recorded once"


def test_a_child_bound_to_udp_on_all_interfaces_is_a_violation():
    with listener("0.0.0.0", protocol="udp") as (proc, port):
        found = of(ListenerGuard(honour_tolerated=False).check_now(), proc.pid)
        assert [(v.protocol, v.address, v.port) for v in found] == [("udp", "0.0.0.0", port)]


def test_a_child_listening_on_loopback_is_no_violation():
    with listener("127.0.0.1") as (proc, _port):
        guard = ListenerGuard(honour_tolerated=False)
        guard.check_now()
        assert guard.samples == 1
        assert proc.pid in guard._known, "the child was watched"
        assert of(guard.violations, proc.pid) == []


def test_a_tolerated_child_is_ignored_by_a_guard_that_honours_tolerance():
    with listener("0.0.0.0") as (proc, _port):
        assert of(ListenerGuard().check_now(), proc.pid) == []
        assert len(of(ListenerGuard(honour_tolerated=False).check_now(), proc.pid)) == 1


def test_a_child_still_running_after_its_allowance_is_no_longer_tolerated():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with allow_non_loopback(proc.pid):
            assert proc.pid in loopback_guard._tolerated
        assert proc.pid not in loopback_guard._tolerated
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_running_guard_catches_a_short_lived_listener():
    guard = ListenerGuard(honour_tolerated=False, interval_s=0.1).start()
    try:
        assert guard.running
        with listener("0.0.0.0", seconds=1) as (proc, port):
            started = guard.samples
            proc.wait(timeout=10)  # it exits by itself after about a second
        assert guard.samples > started, "the thread sampled while the listener ran"
    finally:
        guard.stop()
    assert not guard.running
    assert guard.errors == []
    assert [(v.address, v.port) for v in of(guard.violations, proc.pid)] == [("0.0.0.0", port)]


def test_the_guard_thread_samples_while_the_test_blocks_without_yielding():
    """A real OS thread: it samples while this thread sleeps without yielding to gevent."""
    real_sleep = loopback_guard._real_sleep
    guard = ListenerGuard(interval_s=0.05).start()
    try:
        real_sleep(0.5)
        assert guard.samples >= 3
    finally:
        guard.stop()


def test_stopping_takes_a_last_sample():
    with listener("0.0.0.0") as (proc, port):
        guard = ListenerGuard(honour_tolerated=False, interval_s=3600)
        guard.stop()  # never started: just the last sample
        assert [v.port for v in of(guard.violations, proc.pid)] == [port]


def test_what_counts_as_loopback():
    for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]:
        assert is_loopback(ip), ip
    for ip in ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "fe80::1%eth0", "::ffff:10.0.0.1", ""]:
        assert not is_loopback(ip), ip


def test_the_switch():
    assert loopback_guard.enabled({})
    assert loopback_guard.enabled({"FAULTSUITE_LOOPBACK_GUARD": "1"})
    for off in ["0", "false", "No", " off "]:
        assert not loopback_guard.enabled({"FAULTSUITE_LOOPBACK_GUARD": off})


def test_a_violation_reads_well():
    text = str(Violation(42, "python3", "python3 -m x", "tcp", "::", 8089, time.time(), "tests/x.py::test_y"))
    assert text.startswith("pid 42 (python3) tcp [::]:8089, first seen ")
    assert "during tests/x.py::test_y" in text and "cmdline: python3 -m x" in text


# Starts a grandchild that listens on 0.0.0.0 once its stdin closes, prints its pid, and
# exits when its own stdin gives a line: the grandchild is then re-parented away from pytest.
MIDDLE = """\
import subprocess, sys
grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE, stdout=sys.stdout)
print(grandchild.pid, flush=True)
sys.stdin.readline()
"""
GRANDCHILD = """\
import socket, sys, time
sys.stdin.read()
sock = socket.socket()
sock.bind(("0.0.0.0", 0))
sock.listen()
print(sock.getsockname()[1], flush=True)
time.sleep(60)
"""


def test_a_process_seen_once_stays_watched_after_it_leaves_the_tree():
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, GRANDCHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    grandchild = None
    try:
        grandchild = psutil.Process(int(middle.stdout.readline()))
        with allow_non_loopback(grandchild.pid):
            guard = ListenerGuard(honour_tolerated=False)
            guard.check_now()
            assert grandchild.pid in guard._known
            middle.stdin.write("\n")
            middle.stdin.close()  # the middle exits; the grandchild's stdin (its pipe) closes with it
            middle.wait(timeout=10)
            port = int(middle.stdout.readline())
            assert grandchild.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
            assert [v.port for v in of(guard.check_now(), grandchild.pid)] == [port]
            grandchild.terminate()
            grandchild.wait(timeout=10)
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if grandchild is not None and grandchild.is_running():
            grandchild.kill()
        middle.stdin.close()
        middle.stdout.close()
