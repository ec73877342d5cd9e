"""`chaos.proof` on real processes: what each signal must do to count as having taken effect,
how long a proof waits, and how the run's end decides one still waiting."""

import os
import signal
import subprocess
import sys
import time

import pytest

from chaos.proof import Proofs
from faultsuite.events import FaultOutcome
from tests.live import end_started, eventually

IGNORES_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"


@pytest.fixture
def started(request):
    processes: list[subprocess.Popen] = []
    request.addfinalizer(lambda: end_started(processes, grace_s=0.5))

    def start(script: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline().strip() == "ready"
        return process

    return start


def proved(proofs: Proofs, pid: int, signal_name: str) -> list[tuple[FaultOutcome, str]]:
    seen: list[tuple[FaultOutcome, str]] = []
    proofs.after_signal(lambda outcome, detail: seen.append((outcome, detail)), pid, signal_name)
    return seen


def test_a_killed_process_is_confirmed_ended(started):
    process = started(IGNORES_SIGTERM)
    os.kill(process.pid, signal.SIGKILL)
    proofs = Proofs()
    seen = proved(proofs, process.pid, "SIGKILL")
    assert eventually(lambda: seen, 2)
    assert [outcome for outcome, _ in seen] == [FaultOutcome.CONFIRMED]  # a zombie counts as ended
    assert seen[0][1].startswith(f"pid {process.pid} ended")


def test_an_ignored_sigterm_is_no_effect_once_the_run_ends(started):
    process = started(IGNORES_SIGTERM)
    os.kill(process.pid, signal.SIGTERM)
    proofs = Proofs()
    seen = proved(proofs, process.pid, "SIGTERM")
    time.sleep(0.3)
    assert seen == [], "a graceful stop is given time"
    proofs.settle()
    assert seen[0][0] == FaultOutcome.NO_EFFECT
    assert seen[0][1].startswith(f"pid {process.pid} still runs") and seen[0][1].endswith("when the run ended")
    assert process.poll() is None


def test_a_stopped_process_is_confirmed_stopped(started):
    process = started(IGNORES_SIGTERM)
    os.kill(process.pid, signal.SIGSTOP)
    try:
        proofs = Proofs()
        seen = proved(proofs, process.pid, "SIGSTOP")
        assert eventually(lambda: seen, 2)
        assert seen[0][0] == FaultOutcome.CONFIRMED and "state T" in seen[0][1]
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_a_stop_the_process_never_got_is_no_effect(started):
    process = started(IGNORES_SIGTERM)
    proofs = Proofs()
    seen = proved(proofs, process.pid, "SIGSTOP")  # as if SIGSTOP had been sent and lost
    assert eventually(lambda: seen, 3)
    assert seen[0][0] == FaultOutcome.NO_EFFECT and "is not stopped" in seen[0][1]


@pytest.mark.parametrize(("kind", "counted", "outcome"), [
    ("partition", {"held": 2, "accepted": 2}, FaultOutcome.CONFIRMED),
    ("latency", {"accepted": 3, "delayed_chunks": 0}, FaultOutcome.NO_EFFECT),
    ("limit_data", {}, FaultOutcome.NO_EFFECT),
])  # fmt: skip
def test_a_toxic_is_judged_by_its_own_counter(kind, counted, outcome):
    seen: list[tuple[FaultOutcome, str]] = []
    Proofs.of_toxic(lambda result, detail: seen.append((result, detail)), kind, counted)
    assert seen[0][0] == outcome
