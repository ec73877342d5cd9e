"""The rolling restart kind on its own: what it accepts, and what it does where replicas
cannot be started (an attached deployment): nothing is stopped."""

import subprocess
import sys
import uuid

import pytest

from chaos.context import FaultContext
from chaos.models import parse_injection
from chaos.targets import resolve
from deployments.attached import AttachedDeployment
from deployments.models import AttachSpec
from faultsuite.clock import RunClock
from faultsuite.events import EventKind, EventLog
from faultsuite.yamlfile import KeyPathError
from tests.live import end_started


def test_a_rolling_restart_replaces_whole_replicas_all_of_them_oldest_first_by_default():
    rolling = parse_injection({"kind": "rolling_restart", "at_s": 1, "target": {"role": "decode_worker"}}, 0)
    assert (rolling.count, rolling.select, rolling.max_unavailable, rolling.signal_name) == (10_000, "oldest", 1, "SIGTERM")
    with pytest.raises(KeyPathError, match="replaces whole replicas"):
        parse_injection({"kind": "rolling_restart", "at_s": 1, "target": {"role": "decode_worker", "child": "engine"}}, 0)
    with pytest.raises(KeyPathError, match="input should be 'SIGTERM', 'SIGINT' or 'SIGQUIT'"):
        parse_injection({"kind": "rolling_restart", "at_s": 1, "target": {"role": "w"}, "signal": "SIGKILL"}, 0)


def test_an_attached_deployment_is_not_rolled_and_nothing_is_stopped(tmp_path, request):
    token = f"rollout-{uuid.uuid4().hex}"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token])
    request.addfinalizer(lambda: end_started([sleeper]))
    spec = AttachSpec(kind="attach", name="a", model="m", endpoint="http://127.0.0.1:9", select_from="host", processes={"worker": {"match": token}})
    events = EventLog(tmp_path / "events.csv", RunClock())
    request.addfinalizer(events.close)
    deployment = AttachedDeployment(spec, events)
    deployment.rescan()
    rolling = parse_injection({"kind": "rolling_restart", "at_s": 0, "target": {"role": "worker"}}, 0)
    targets = resolve(deployment, rolling).targets
    assert [t.pid for t in targets] == [sleeper.pid]
    rolling.apply(targets, FaultContext("roll", deployment))
    assert [e.kind for e in events.events if e.kind != EventKind.ATTACH] == [EventKind.NOT_APPLICABLE]
    assert sleeper.poll() is None
