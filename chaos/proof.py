"""Proof that each fault took effect: every delivered action is checked, and the check is a
`proof` event, outcome `confirmed` with what was seen, or `no_effect` with what was not.

- A signal that ends a process (SIGKILL, or the graceful SIGTERM, SIGINT, SIGQUIT): the
  process it reached no longer runs (gone, or a zombie) within `ENDED_WITHIN_S`.
- SIGSTOP: the process is stopped (state T) within `STOPPED_WITHIN_S`.
- A network toxic: the fault proxy counted the toxic acting on the link's traffic while it
  was on (its counter for that kind rose); a link that carried nothing meanwhile was not hurt.

A `no_effect` is also a warning in the run's log, a red line in the report and a sentence in
the verdict: a fault that did nothing leaves numbers that say nothing about it. Checks that
wait run beside the schedule, in `Proofs`; when the run ends they are decided at once.
"""

import logging
import time

import gevent
import psutil
from gevent.event import Event as Flag
from gevent.pool import Group

from deployments.process import running
from faultsuite.events import FaultOutcome

__all__ = ["ENDED_WITHIN_S", "STOPPED_WITHIN_S", "TOXIC_COUNTERS", "Proofs", "warn_no_effect"]

log = logging.getLogger(__name__)

ENDED_WITHIN_S = {"SIGKILL": 1.0, "SIGTERM": 10.0, "SIGINT": 10.0, "SIGQUIT": 10.0}
STOPPED_WITHIN_S = 1.0
POLL_S = 0.02
#: The fault proxy's counter that rises when each toxic acts (`deployments.fault_proxy`).
TOXIC_COUNTERS = {
    "latency": "delayed_chunks",
    "bandwidth": "paced_bytes",
    "reset": "reset",
    "partition": "held",
    "slow_close": "delayed_closes",
    "limit_data": "cut",
}


class Proofs:
    """The proofs of one failure's faults, as they are waited for."""

    def __init__(self) -> None:
        self._waiting = Group()
        self._ending = Flag()

    def settle(self) -> None:
        """Decide every proof still waiting, now: the run is ending."""
        self._ending.set()
        self._waiting.join()

    def after_signal(self, record, pid: int, signal_name: str) -> None:
        """Check, beside the schedule, what `signal_name` sent to `pid` did; `record(outcome,
        detail)` writes the proof event."""
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            record(FaultOutcome.CONFIRMED, f"pid {pid} gone at once")
            return
        if signal_name in ENDED_WITHIN_S:
            self._waiting.spawn(self._wait_for, record, lambda: not running([process]), ENDED_WITHIN_S[signal_name], f"pid {pid} ended", f"pid {pid} still runs")
        elif signal_name == "SIGSTOP":
            self._waiting.spawn(self._wait_for, record, lambda: _stopped(process), STOPPED_WITHIN_S, f"pid {pid} stopped (state T)", f"pid {pid} is not stopped")

    def _wait_for(self, record, seen, within_s: float, confirmed: str, missing: str) -> None:
        started = time.monotonic()
        while not seen() and time.monotonic() - started < within_s and not self._ending.is_set():
            gevent.sleep(POLL_S)
        took = time.monotonic() - started
        if seen():
            record(FaultOutcome.CONFIRMED, f"{confirmed} {took:.2f} s after the signal")
        else:
            cut = " when the run ended" if self._ending.is_set() else ""
            record(FaultOutcome.NO_EFFECT, f"{missing} {took:.2f} s after the signal{cut}")

    @staticmethod
    def of_toxic(record, kind: str, counted: dict) -> None:
        """Judge a toxic by the proxy's counters over the time it was on."""
        counter = TOXIC_COUNTERS[kind]
        if counted.get(counter, 0) > 0:
            record(FaultOutcome.CONFIRMED, f"the fault proxy counted {counter}={counted[counter]}")
        else:
            record(FaultOutcome.NO_EFFECT, f"the fault proxy counted no {counter}: nothing crossed the link while the {kind} was on")


def _stopped(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return False


def warn_no_effect(failure: str, what: str, detail: str) -> None:
    log.warning("failure %s had no effect on %s: %s", failure, what, detail)
