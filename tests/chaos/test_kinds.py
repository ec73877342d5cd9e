"""Kinds of fault: how failure files name them, what the built-in ones do to live processes,
and that a new kind is one registered class."""

import signal
from pathlib import Path
from typing import Literal

import gevent
import psutil
import pytest

from chaos.context import FaultContext
from chaos.injector import FaultScheduler
from chaos.kinds import HangInjection, SignalInjection
from chaos.models import (
    INJECTION_KINDS,
    Failure,
    Injection,
    Repeat,
    Target,
    load_catalogue,
    register_kind,
)
from deployments.interface import FaultTarget
from faultsuite.errors import ConfigError
from faultsuite.events import FaultOutcome
from tests.chaos.live import events_of_kind, scheduler_for, the_worker
from tests.live import eventually

WORKER = Target(role="decode_worker")
HANG_S = 0.5

CATALOGUE_WITH_EVERY_KIND = """\
failures:
  crash:
    injections:
      - {at_s: 1, target: {role: decode_worker}}
  stop_gracefully:
    injections:
      - {kind: signal, at_s: 1, target: {role: decode_worker}, signal: SIGTERM}
  freeze:
    injections:
      - {kind: hang, at_s: 1, target: {role: decode_worker}, duration_s: 5}
  storm:
    injections:
      - {at_s: 2, target: {role: decode_worker}, repeat: {every_s: 3, times: 3}}
"""

UNKNOWN_KIND = """\
failures:
  melt:
    injections:
      - {kind: melt, at_s: 1, target: {role: decode_worker}}
"""

HANG_WITHOUT_DURATION = """\
failures:
  freeze:
    injections:
      - {kind: hang, at_s: 1, target: {role: decode_worker}}
"""

SIGNAL_WITH_A_HANG_FIELD = """\
failures:
  crash:
    injections:
      - {at_s: 1, target: {role: decode_worker}, duration_s: 5}
"""

CATALOGUE_WITH_A_NEW_KIND = """\
failures:
  term_then_kill:
    injections:
      - {kind: term_then_kill, at_s: 0, target: {role: decode_worker}, grace_s: 0.2}
"""

CATALOGUE_WITH_A_MARKING_KIND = """\
failures:
  mark_worker:
    injections:
      - {kind: mark, at_s: 0, target: {role: decode_worker}, note: rehearsal}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "failures.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rejection(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    return path, str(caught.value)


# -- in failure files ----------------------------------------------------------------------


def test_an_injection_without_a_kind_is_a_sigkill(tmp_path):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_EVERY_KIND)).failures["crash"].injections
    assert isinstance(injection, SignalInjection) and injection.signal == "SIGKILL"


def test_a_graceful_termination_is_a_sigterm_signal(tmp_path):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_EVERY_KIND)).failures["stop_gracefully"].injections
    assert injection.signal_name == "SIGTERM"


def test_a_hang_is_parsed_with_its_duration(tmp_path):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_EVERY_KIND)).failures["freeze"].injections
    assert isinstance(injection, HangInjection) and injection.duration_s == 5


def test_a_repeated_injection_fires_every_every_s_times_times(tmp_path):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_EVERY_KIND)).failures["storm"].injections
    assert injection.schedule() == [2.0, 5.0, 8.0]


def test_an_unknown_kind_is_rejected_with_the_known_ones(tmp_path):
    path, message = rejection(tmp_path, UNKNOWN_KIND)
    assert message.startswith(f"{path}: failures.melt.injections.0.kind: unknown kind 'melt'; known: ")
    assert {"hang", "signal"} <= set(message.split("known: ")[1].split(", "))


def test_a_hang_without_a_duration_is_rejected_at_its_key_path(tmp_path):
    path, message = rejection(tmp_path, HANG_WITHOUT_DURATION)
    assert message == f"{path}: failures.freeze.injections.0.duration_s: field required"


def test_a_field_of_another_kind_is_an_unknown_key(tmp_path):
    path, message = rejection(tmp_path, SIGNAL_WITH_A_HANG_FIELD)
    assert message == f"{path}: failures.crash.injections.0.duration_s: unknown key"


def test_the_shipped_catalogue_has_a_graceful_stop_a_hang_a_storm_and_a_double_kill():
    failures = load_catalogue().failures
    assert failures["decode_worker_sigterm"].injections[0].signal_name == "SIGTERM"
    assert isinstance(failures["decode_worker_hang"].injections[0], HangInjection)
    assert len(failures["decode_worker_storm"].injections[0].schedule()) == 3
    assert failures["two_decode_workers"].injections[0].count == 2


# -- on live processes ----------------------------------------------------------------------


def test_a_hang_stops_the_process_then_continues_it(fresh_dp1):
    worker = the_worker(fresh_dp1)
    scheduler = scheduler_for(fresh_dp1, HangInjection(at_s=0, target=WORKER, duration_s=HANG_S))
    scheduler.start(fresh_dp1.events.clock.offset())
    assert eventually(lambda: psutil.Process(worker.pid).status() == psutil.STATUS_STOPPED)
    assert eventually(lambda: events_of_kind(fresh_dp1, "resume"))
    assert psutil.Process(worker.pid).status() != psutil.STATUS_STOPPED
    (stop,), (resume,) = events_of_kind(fresh_dp1, "fault"), events_of_kind(fresh_dp1, "resume")
    assert (stop.signal, resume.signal, stop.pid, resume.pid) == ("SIGSTOP", "SIGCONT", worker.pid, worker.pid)
    assert resume.offset_s - stop.offset_s >= HANG_S


def test_a_hang_cut_short_by_the_end_of_the_run_still_continues_the_process(fresh_dp1):
    worker = the_worker(fresh_dp1)
    scheduler = scheduler_for(fresh_dp1, HangInjection(at_s=0, target=WORKER, duration_s=60))
    scheduler.start(fresh_dp1.events.clock.offset())
    assert eventually(lambda: psutil.Process(worker.pid).status() == psutil.STATUS_STOPPED)
    scheduler.stop()
    assert eventually(lambda: psutil.Process(worker.pid).status() != psutil.STATUS_STOPPED)
    assert [(e.signal, e.detail) for e in events_of_kind(fresh_dp1, "resume")] == [("SIGCONT", "teardown")]


def test_a_storm_kills_the_same_role_again_each_time_it_is_back(fresh_dp1):
    storm = SignalInjection(at_s=0, target=WORKER, repeat=Repeat(every_s=1.5, times=2))
    scheduler = scheduler_for(fresh_dp1, storm)
    scheduler.start(fresh_dp1.events.clock.offset())
    assert eventually(lambda: len(events_of_kind(fresh_dp1, "fault")) == 2)
    first, second = events_of_kind(fresh_dp1, "fault")
    assert first.pid != second.pid  # the second kill hit the replacement
    assert second.scheduled_offset_s - first.scheduled_offset_s == pytest.approx(1.5)


def test_one_failure_fires_several_injections_each_at_its_own_time(fresh_dp1):
    engine = Target(role="decode_worker", child="engine")
    frontend = Target(role="frontend")
    scheduler = scheduler_for(fresh_dp1, SignalInjection(at_s=0.2, target=engine), SignalInjection(at_s=0.6, target=frontend))
    origin = fresh_dp1.events.clock.offset()
    scheduler.start(origin)
    assert eventually(lambda: len(events_of_kind(fresh_dp1, "fault")) == 2)
    first, second = events_of_kind(fresh_dp1, "fault")
    assert (first.component, "engine child" in first.detail, second.component) == ("decode_worker", True, "frontend")
    assert (first.scheduled_offset_s - origin, second.scheduled_offset_s - origin) == (pytest.approx(0.2), pytest.approx(0.6))


# -- a new kind -------------------------------------------------------------------------------


@pytest.fixture
def term_then_kill():
    """A kind the suite does not ship: SIGTERM, then SIGKILL if still alive after a grace."""

    @register_kind
    class TermThenKill(Injection):
        kind: Literal["term_then_kill"] = "term_then_kill"
        grace_s: float = 1.0

        @property
        def signal_name(self) -> str:
            return "SIGTERM"

        def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
            for target in targets:
                context.send(target, signal.SIGTERM)
            gevent.sleep(self.grace_s)
            for target in targets:
                if psutil.pid_exists(target.pid):
                    context.send(target, signal.SIGKILL)

    yield TermThenKill
    del INJECTION_KINDS["term_then_kill"]


def test_a_new_kind_is_one_registered_class_and_a_catalogue_entry(tmp_path, term_then_kill, fresh_dp1):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_A_NEW_KIND)).failures["term_then_kill"].injections
    assert isinstance(injection, term_then_kill)
    worker_pid = the_worker(fresh_dp1).pid
    scheduler_for(fresh_dp1, injection).inject(injection)
    (term,) = [e for e in events_of_kind(fresh_dp1, "fault") if e.pid == worker_pid]
    assert (term.signal, term.outcome) == ("SIGTERM", "delivered")
    assert eventually(lambda: any(e.pid == worker_pid for e in events_of_kind(fresh_dp1, "exit")))


@pytest.fixture
def mark():
    """A kind that signals nothing: it only records a fault event per target through the
    deployment interface, as a network or restart kind would record what it did."""

    @register_kind
    class Mark(Injection):
        kind: Literal["mark"] = "mark"
        note: str

        def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
            for target in targets:
                context.record(target, FaultOutcome.DELIVERED, detail=self.note)

    yield Mark
    del INJECTION_KINDS["mark"]


def test_a_kind_that_is_not_a_signal_is_one_class_and_a_catalogue_entry(tmp_path, mark, fresh_dp1):
    (injection,) = load_catalogue(write(tmp_path, CATALOGUE_WITH_A_MARKING_KIND)).failures["mark_worker"].injections
    worker = the_worker(fresh_dp1)
    statuses = {p.pid: p.status() for p in psutil.Process(worker.pid).children(recursive=True) + [psutil.Process(worker.pid)]}
    FaultScheduler("mark_worker", Failure(injections=[injection]), fresh_dp1, fresh_dp1.events.clock).inject(injection, 0.0)
    (event,) = events_of_kind(fresh_dp1, "fault")
    assert (event.pid, event.signal, event.outcome, event.detail) == (worker.pid, "", "delivered", "rehearsal")
    assert (event.failure, event.scope, event.component, event.scheduled_offset_s) == ("mark_worker", "group", "decode_worker", 0.0)
    assert {pid: psutil.Process(pid).status() for pid in statuses} == statuses  # nothing was signalled
    assert not events_of_kind(fresh_dp1, "exit")


def test_a_kind_name_cannot_be_registered_twice():
    with pytest.raises(TypeError):

        @register_kind
        class AnotherSignal(Injection):
            kind: Literal["signal"] = "signal"


def test_failures_made_in_code_take_any_registered_kind():
    failure = Failure(injections=[HangInjection(at_s=1, target=WORKER, duration_s=2)])
    assert failure.injections[0].signal_name == "SIGSTOP"
