"""The process inventory: which process of a replica is which, on real processes."""

import pytest

from deployments.models import load_deployment
from tests.deployments.files import write_yaml
from tests.live import STUB_ENDPOINT_SCRIPT, eventually, launched

ENGINE_MARK = "engine-titled-late"
#: Like vLLM's API server, whose engine takes its title (`VLLM::EngineCore`) once started: the
#: child is a shell first, and only a second later execs into what the child role matches.
TITLED_LATE_SCRIPT = f"""\
import subprocess, sys, time
subprocess.Popen(['sh', '-c', 'sleep 1; exec ' + sys.executable + ' -c "import time; time.sleep(120)" {ENGINE_MARK}'])
print('ready', flush=True)
time.sleep(120)
"""


@pytest.fixture
def titled_late(tmp_path, request):
    document = {
        "name": "titled-late",
        "model": "stub-model",
        "endpoint": "{urls[endpoint]}",
        "components": [
            {"name": "endpoint", "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"], "ready": {"http": "http://{host}:{port}/"}},
            {
                "name": "server",
                "command": ["{python}", "-c", TITLED_LATE_SCRIPT],
                "ready": {"log": "ready"},
                "children": {"engine": {"match": f"^\\S*python\\S* -c .* {ENGINE_MARK}$"}},
            },
        ],
    }
    spec = load_deployment(str(write_yaml(tmp_path, document, "titled-late.yaml")))
    return launched(spec, tmp_path / "run", request.addfinalizer)


def roles(deployment) -> dict[int, str]:
    return {t.pid: t.role for t in deployment.inventory.snapshot() if t.component == "server"}


def test_a_child_that_takes_its_title_after_it_was_first_seen_gets_its_role(titled_late):
    server = titled_late.replicas_of("server")[0].process
    (shell,) = server.group_members()[0].children()  # the child, a shell still
    assert roles(titled_late)[shell.pid] == "child", "the child was seen before it took its title"
    assert eventually(lambda: roles(titled_late).get(shell.pid) == "engine", timeout_s=5.0), roles(titled_late)
