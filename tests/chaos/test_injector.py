"""Target resolution and fault injection against the shipped agg-dp1 graph, launched for real
with a short model-loading time. Whatever a failure names, only processes the launcher started
may be signalled, and the signal comes at its scheduled offset on the run clock."""

import os
import signal
import socket
import subprocess

import gevent
import psutil
import pytest

from chaos.kinds import SignalInjection
from chaos.models import Target, load_catalogue
from chaos.targets import resolve
from deployments.launcher import LaunchedDeployment, Replica
from tests.chaos.live import (
    TWO_WORKERS,
    engine_of,
    events_of_kind,
    fast_copy,
    scheduler_for,
    the_worker,
)
from tests.live import EVENT_TIMEOUT_S, eventually, is_running, launched

WORKER = Target(role="decode_worker")
ENGINE = Target(role="decode_worker", child="engine")
ABSENT_ROLE = Target(role="prefill_worker")
UNDECLARED_CHILD = Target(role="decode_worker", child="tokenizer")

KILL_WORKER = SignalInjection(at_s=0, target=WORKER)
KILL_ENGINE = SignalInjection(at_s=0, target=ENGINE)
KILL_ABSENT_ROLE = SignalInjection(at_s=0, target=ABSENT_ROLE)
KILL_OLDEST_WORKER = SignalInjection(at_s=0, target=WORKER, select="oldest")
KILL_NEWEST_WORKER = SignalInjection(at_s=0, target=WORKER, select="newest")
KILL_RANDOM_WORKER = SignalInjection(at_s=0, target=WORKER, select="random", seed=7)

#: The catalogue's `engine` failure, now, asking for more engines than agg-dp1 has: a resolver
#: that looked beyond the deployment would take the decoy as well, whichever it selected.
(_ENGINE_FAILURE_INJECTION,) = load_catalogue().resolve("engine")[1].injections
KILL_ENGINES_GREEDILY = _ENGINE_FAILURE_INJECTION.model_copy(update={"at_s": 0, "count": 2})

FAULT_AT_S = 0.3
KILL_ENGINE_LATER = SignalInjection(at_s=FAULT_AT_S, target=ENGINE)
ON_TIME_TOLERANCE_S = 0.05
UNTOUCHED_WAIT_S = 0.3


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, request) -> LaunchedDeployment:
    """Two decode workers, the first killed and restarted: worker 0 is now the newer one."""
    directory = tmp_path_factory.mktemp("two_workers")
    deployment = launched(fast_copy(directory, **TWO_WORKERS), directory / "run", request.addfinalizer)
    first = deployment.replicas_of("decode_worker")[0]
    old_pid = first.pid
    os.killpg(old_pid, signal.SIGKILL)
    assert eventually(lambda: first.state == "ready" and first.pid != old_pid)
    return deployment


def every_pid(deployment: LaunchedDeployment) -> dict[str, int]:
    """Each replica's pid, and the engine's."""
    pids = {r.name: r.pid for r in deployment.replicas}
    pids["engine"] = engine_of(the_worker(deployment)).pid
    return pids


@pytest.fixture
def engine_decoy(fresh_dp1, request) -> subprocess.Popen:
    """A process outside the deployment started with the engine's exact command line, holding a
    live socket at the same descriptor number, so it runs like an engine and stays up."""
    argv = engine_of(the_worker(fresh_dp1)).cmdline()
    fd = int(argv[argv.index("--fd") + 1])
    ours, theirs = socket.socketpair()
    request.addfinalizer(ours.close)
    request.addfinalizer(theirs.close)
    decoy = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=[fd],
        preexec_fn=lambda: os.dup2(theirs.fileno(), fd),  # noqa: PLW1509 - the fd number must match the engine's
    )

    def end_decoy() -> None:
        decoy.kill()
        decoy.wait()

    request.addfinalizer(end_decoy)
    ours.settimeout(EVENT_TIMEOUT_S)
    assert b'"ready"' in ours.recv(1024)  # it loaded its "model" like the real engine did
    return decoy


# -- resolution -----------------------------------------------------------------------------


def test_a_role_resolves_to_the_process_group_of_its_replica(dp1):
    resolution = resolve(dp1, KILL_WORKER)
    assert [(t.pid, t.scope) for t in resolution.targets] == [(the_worker(dp1).pid, "group")]


def test_leader_only_resolves_to_the_replica_process_alone(dp1):
    resolution = resolve(dp1, SignalInjection(at_s=0, target=Target(role="decode_worker", leader_only=True)))
    assert [(t.pid, t.scope) for t in resolution.targets] == [(the_worker(dp1).pid, "leader")]


def test_a_child_role_resolves_to_the_matching_child_of_the_replica(dp1):
    resolution = resolve(dp1, KILL_ENGINE)
    engine = engine_of(the_worker(dp1))
    assert [(t.pid, t.scope, t.child) for t in resolution.targets] == [(engine.pid, "child", "engine")]


def test_a_role_the_deployment_lacks_resolves_to_nothing_with_a_reason_naming_it(dp1):
    resolution = resolve(dp1, KILL_ABSENT_ROLE)
    assert resolution.targets == []
    assert "'prefill_worker'" in resolution.not_applicable


def test_an_undeclared_child_role_resolves_to_nothing_with_a_reason_naming_it(dp1):
    resolution = resolve(dp1, SignalInjection(at_s=0, target=UNDECLARED_CHILD))
    assert resolution.targets == []
    assert "'tokenizer'" in resolution.not_applicable


# -- injection ------------------------------------------------------------------------------


def test_injecting_into_an_absent_role_logs_not_applicable_and_signals_nothing(dp1):
    before = every_pid(dp1)
    scheduler_for(dp1, KILL_ABSENT_ROLE).inject(KILL_ABSENT_ROLE)
    gevent.sleep(UNTOUCHED_WAIT_S)
    (event,) = [e for e in dp1.events.events if e.kind in ("not_applicable", "fault")]
    assert (event.kind, event.component) == ("not_applicable", "prefill_worker")
    assert every_pid(dp1) == before
    assert all(is_running(pid) for pid in before.values())


def test_an_engine_failure_spares_an_identical_engine_outside_the_deployment(fresh_dp1, engine_decoy):
    engine = engine_of(the_worker(fresh_dp1))
    assert psutil.Process(engine_decoy.pid).cmdline() == engine.cmdline()
    scheduler_for(fresh_dp1, KILL_ENGINES_GREEDILY).inject(KILL_ENGINES_GREEDILY)
    assert eventually(lambda: not is_running(engine.pid))
    assert engine_decoy.poll() is None
    assert [e.pid for e in events_of_kind(fresh_dp1, "fault")] == [engine.pid]


def test_asking_for_more_targets_than_there_are_hits_those_and_says_so(fresh_dp1):
    engine = engine_of(the_worker(fresh_dp1))
    scheduler_for(fresh_dp1, KILL_ENGINES_GREEDILY).inject(KILL_ENGINES_GREEDILY)
    assert eventually(lambda: not is_running(engine.pid))
    (short,) = events_of_kind(fresh_dp1, "not_applicable")
    assert short.outcome == "fewer targets"
    assert short.detail.endswith(": 2 engine child of decode_worker asked for, 1 found; 1 hit")
    assert [e.pid for e in events_of_kind(fresh_dp1, "fault")] == [engine.pid]


def test_a_scheduled_injection_fires_at_its_offset_on_the_run_clock(fresh_dp1):
    scheduler = scheduler_for(fresh_dp1, KILL_ENGINE_LATER)
    origin = fresh_dp1.events.clock.offset()
    scheduler.start(origin)
    try:
        assert eventually(lambda: bool(events_of_kind(fresh_dp1, "fault")))
    finally:
        scheduler.stop()
    (fault,) = events_of_kind(fresh_dp1, "fault")
    assert fault.scheduled_offset_s == pytest.approx(origin + FAULT_AT_S)
    assert abs(fault.offset_s - fault.scheduled_offset_s) <= ON_TIME_TOLERANCE_S


def test_the_time_to_the_next_fault_is_positive_until_it_fires_then_none(fresh_dp1):
    scheduler = scheduler_for(fresh_dp1, KILL_ENGINE_LATER)
    scheduler.start(fresh_dp1.events.clock.offset())
    try:
        assert 0 < scheduler.next_fault_in_s() <= FAULT_AT_S
        assert eventually(lambda: bool(events_of_kind(fresh_dp1, "fault")))
        assert eventually(lambda: scheduler.next_fault_in_s() is None, timeout_s=1.0)
    finally:
        scheduler.stop()


# -- selection ------------------------------------------------------------------------------


def started_at(replica: Replica) -> float:
    return psutil.Process(replica.pid).create_time()


def test_select_oldest_picks_the_replica_started_first(two_workers):
    (target,) = resolve(two_workers, KILL_OLDEST_WORKER).targets
    oldest = min(two_workers.replicas_of("decode_worker"), key=started_at)
    assert target.replica is oldest
    assert target.replica.index == 1


def test_select_newest_picks_the_replica_started_last(two_workers):
    (target,) = resolve(two_workers, KILL_NEWEST_WORKER).targets
    newest = max(two_workers.replicas_of("decode_worker"), key=started_at)
    assert target.replica is newest
    assert target.replica.index == 0


def test_select_random_with_one_seed_picks_the_same_replica_every_time(two_workers):
    picks = [[t.replica.index for t in resolve(two_workers, KILL_RANDOM_WORKER).targets] for _ in range(2)]
    assert picks[0] == picks[1]
    assert len(picks[0]) == 1
