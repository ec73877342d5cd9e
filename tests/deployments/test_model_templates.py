"""Deployment-file features beyond the graph itself: `extends:`, named ports, templated
environments, `port_range`, `request.extra_body`, backends, and how the launcher fills the
templates in (without launching, then in a real process's environment)."""

import random
import socket
from pathlib import Path

import psutil
import pytest

from deployments import models
from deployments.backend_registry import BACKENDS
from deployments.launcher import LaunchedDeployment
from deployments.models import (
    BACKEND_FIELDS,
    AttachSpec,
    DeploymentSpec,
    RequestSpec,
    available_deployments,
    embedded_deployments,
    load_deployment,
)
from faultsuite.clock import RunClock
from faultsuite.errors import LaunchError
from faultsuite.events import EventLog
from tests.deployments.files import rejection, write_yaml
from tests.live import STUB_ENDPOINT_SCRIPT, launched

KNOWN_PLACEHOLDERS = "dynamo, host, port, ports, python, replica, run_dir, urls, vllm"
PORT_RANGE_SIZE = 5


def document(**overrides) -> dict:
    """The smallest valid launch document: one `worker`, the endpoint its URL."""
    base = {
        "name": "tiny",
        "model": "sim-model",
        "endpoint": "{urls[worker]}",
        "components": [{"name": "worker", "command": ["{python}", "-m", "worker"]}],
    }
    return {**base, **overrides}


def write(directory: Path, data: dict, name: str = "deployment.yaml") -> Path:
    return write_yaml(directory, data, name)


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_block(size: int) -> tuple[int, int]:
    """[low, high] of `size` loopback ports free now, below the ephemeral range."""
    for _ in range(20):
        low = random.randrange(10000, 19999 - size)
        if all(bindable(port) for port in range(low, low + size)):
            return low, low + size - 1
    pytest.skip(f"no block of {size} free ports found")


# -- extends ------------------------------------------------------------------------------


def test_extending_a_shipped_deployment_merges_mappings_key_by_key(tmp_path):
    path = write(tmp_path, {"extends": "agg-dp1", "name": "mine", "metrics": {"pending": "my_queue"}})
    spec = load_deployment(str(path))
    base = load_deployment("agg-dp1")
    assert spec.name == "mine"
    assert spec.metrics.pending == "my_queue"
    assert spec.metrics.url == base.metrics.url
    assert spec.metrics.active_workers == base.metrics.active_workers
    assert spec.components == base.components
    assert (spec.model, spec.endpoint, spec.description) == (base.model, base.endpoint, base.description)


def test_extending_replaces_lists_whole(tmp_path):
    path = write(tmp_path, {"extends": "agg-dp1", "components": [{"name": "frontend", "command": ["{python}", "-m", "x"]}]})
    spec = load_deployment(str(path))
    assert spec.roles == ["frontend"]
    assert spec.component("frontend").command == ["{python}", "-m", "x"]
    assert spec.component("frontend").ready is None  # not merged with the base's frontend


def test_extending_replaces_scalars(tmp_path):
    path = write(tmp_path, {"extends": "agg-dp1", "model": "other-model", "endpoint": "{urls[processor]}"})
    spec = load_deployment(str(path))
    assert (spec.model, spec.endpoint) == ("other-model", "{urls[processor]}")


def test_extending_a_sibling_file_by_relative_path(tmp_path):
    write(tmp_path, document(env={"A": "1", "B": "2"}, description="the base"), "base.yaml")
    write(tmp_path, {"extends": "base.yaml", "name": "child", "env": {"B": "3", "C": "4"}}, "child.yaml")
    spec = load_deployment(str(tmp_path / "child.yaml"))
    assert spec.name == "child"
    assert spec.description == "the base"
    assert spec.env == {"A": "1", "B": "3", "C": "4"}
    assert spec.roles == ["worker"]


def test_a_relative_path_in_extends_is_relative_to_the_extending_file(tmp_path):
    write(tmp_path, document(description="the base"), "base.yaml")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", {"extends": "base.yaml", "name": "decoy"}, "base.yaml")  # never read
    write(tmp_path / "sub", {"extends": "../base.yaml", "name": "child"}, "child.yaml")
    spec = load_deployment(str(tmp_path / "sub" / "child.yaml"))
    assert (spec.name, spec.description) == ("child", "the base")


def test_extends_chains_through_several_files(tmp_path):
    write(tmp_path, document(env={"A": "1"}), "grand.yaml")
    write(tmp_path, {"extends": "grand.yaml", "env": {"B": "2"}}, "parent.yaml")
    write(tmp_path, {"extends": "parent.yaml", "name": "leaf", "env": {"C": "3"}}, "leaf.yaml")
    spec = load_deployment(str(tmp_path / "leaf.yaml"))
    assert (spec.name, spec.env) == ("leaf", {"A": "1", "B": "2", "C": "3"})


def test_the_merged_document_is_still_validated(tmp_path):
    path = write(tmp_path, {"extends": "agg-dp1", "metrics": {"bogus": 1}})
    assert rejection(path) == f"{path}: metrics.bogus: unknown key"


def test_extending_an_unknown_deployment_names_the_file_and_extends(tmp_path):
    path = write(tmp_path, {"extends": "no-such-base", "name": "x"})
    message = rejection(path)
    assert message.startswith(f"{path}: extends: unknown deployment 'no-such-base'; available: ")
    assert "agg-dp1" in message.split("available: ")[1].split(", ")


def test_extending_a_missing_sibling_file_names_the_file_and_extends(tmp_path):
    path = write(tmp_path, {"extends": "missing.yaml"})
    assert rejection(path).startswith(f"{path}: extends: unknown deployment 'missing.yaml'")


def test_an_extends_cycle_is_rejected(tmp_path):
    a = write(tmp_path, {"extends": "b.yaml", "name": "a"}, "a.yaml")
    b = write(tmp_path, {"extends": "a.yaml", "name": "b"}, "b.yaml")
    message = rejection(a)
    assert message.startswith(f"{b}: extends: 'a.yaml' extends itself")


def test_a_file_extending_itself_is_rejected(tmp_path):
    path = write(tmp_path, {**document(), "extends": "deployment.yaml"})
    message = rejection(path)
    assert message.startswith(f"{path}: extends: 'deployment.yaml' extends itself")


@pytest.mark.parametrize("value", [3, ["agg-dp1"], {"name": "agg-dp1"}], ids=["number", "list", "mapping"])
def test_extends_must_be_a_string(tmp_path, value):
    path = write(tmp_path, {"extends": value, "name": "x"})
    assert rejection(path) == f"{path}: extends: expected a deployment name or path, got {value!r}"


def test_dynamo_agg_migration_differs_from_dynamo_agg_only_in_name_description_and_migration_limit():
    base = load_deployment("dynamo-agg")
    migration = load_deployment("dynamo-agg-migration")
    assert migration.name == "dynamo-agg-migration"
    assert migration.description != base.description
    assert (base.env["DYN_MIGRATION_LIMIT"], migration.env["DYN_MIGRATION_LIMIT"]) == ("0", "3")
    assert {k: v for k, v in migration.env.items() if k != "DYN_MIGRATION_LIMIT"} == {
        k: v for k, v in base.env.items() if k != "DYN_MIGRATION_LIMIT"
    }
    same = {"name", "description", "env"}
    assert migration.model_dump(exclude=same) == base.model_dump(exclude=same)


# -- named ports ----------------------------------------------------------------------------


def test_declared_ports_may_be_used_in_commands_env_and_endpoint(tmp_path):
    path = write(
        tmp_path,
        document(
            ports=["event", "side_2"],
            endpoint="http://{host}:{ports[event]}",
            env={"SIDE": "{ports[side_2]}"},
            components=[{"name": "worker", "command": ["{python}", "--port", "{ports[event]}"]}],
        ),
    )
    assert load_deployment(str(path)).ports == ["event", "side_2"]


def test_an_undeclared_port_in_a_command_is_rejected(tmp_path):
    path = write(tmp_path, document(ports=["event", "other"], components=[{"name": "worker", "command": ["{python}", "{ports[evnt]}"]}]))
    assert rejection(path) == f"{path}: components.0.command.1: {{ports[evnt]}} names no port; declared ports: event, other"


def test_a_port_with_no_ports_declared_is_rejected(tmp_path):
    path = write(tmp_path, document(components=[{"name": "worker", "command": ["{python}", "{ports[x]}"]}]))
    assert rejection(path) == f"{path}: components.0.command.1: {{ports[x]}} names no port; declared ports: none"


def test_an_undeclared_port_in_the_deployment_env_is_rejected(tmp_path):
    path = write(tmp_path, document(ports=["event"], env={"BROKER": "tcp://{host}:{ports[x]}"}))
    assert rejection(path) == f"{path}: env.BROKER: {{ports[x]}} names no port; declared ports: event"


def test_an_undeclared_port_in_a_component_env_is_rejected(tmp_path):
    components = [{"name": "worker", "command": ["{python}"], "env": {"P": "{ports[x]}"}}]
    path = write(tmp_path, document(ports=["event"], components=components))
    assert rejection(path) == f"{path}: components.0.env.P: {{ports[x]}} names no port; declared ports: event"


def test_an_undeclared_port_in_the_endpoint_is_rejected(tmp_path):
    path = write(tmp_path, document(ports=["event"], endpoint="http://{host}:{ports[x]}"))
    assert rejection(path) == f"{path}: endpoint: {{ports[x]}} names no port; declared ports: event"


@pytest.mark.parametrize("name", ["Event", "1port", "ev-ent"])
def test_a_bad_port_name_is_rejected(tmp_path, name):
    path = write(tmp_path, document(ports=["ok", name]))
    assert rejection(path) == f"{path}: ports.1: string should match pattern '^[a-z][a-z0-9_]*$'"


# -- templated environments -----------------------------------------------------------------


def test_an_unknown_placeholder_in_a_component_env_is_rejected(tmp_path):
    components = [{"name": "worker", "command": ["{python}"], "env": {"OK": "{host}", "BAD": "x{nope}"}}]
    path = write(tmp_path, document(components=components))
    assert rejection(path) == f"{path}: components.0.env.BAD: unknown placeholder {{nope}} in 'x{{nope}}'; known: {KNOWN_PLACEHOLDERS}"


def test_an_unknown_placeholder_in_the_deployment_env_is_rejected(tmp_path):
    path = write(tmp_path, document(env={"BAD": "{nope}"}))
    assert rejection(path) == f"{path}: env.BAD: unknown placeholder {{nope}} in '{{nope}}'; known: {KNOWN_PLACEHOLDERS}"


def test_a_malformed_env_template_is_rejected(tmp_path):
    path = write(tmp_path, document(env={"BAD": "{host"}))
    assert rejection(path).startswith(f"{path}: env.BAD: malformed template '{{host'")


def test_urls_of_an_unknown_role_in_env_are_rejected(tmp_path):
    path = write(tmp_path, document(env={"PEERS": "{urls[ghost]}"}))
    assert rejection(path) == f"{path}: env.PEERS: {{urls[ghost]}} names no component; components: worker"


@pytest.mark.parametrize("template", ["{urls.worker}", "{host.upper}", "{port[0]}"])
def test_attribute_or_index_access_on_a_field_that_has_none_is_rejected(tmp_path, template):
    """Only urls/ports/dynamo take `[KEY]`, and nothing takes `.attr`: render could not fill them."""
    path = write(tmp_path, document(env={"X": template}))
    assert rejection(path).startswith(f"{path}: env.X: ")


@pytest.mark.parametrize("key", ["A=B", ""])
def test_an_env_key_no_process_can_have_is_rejected(tmp_path, key):
    path = write(tmp_path, document(env={key: "x"}))
    assert rejection(path).startswith(f"{path}: env")


# -- port_range -----------------------------------------------------------------------------


@pytest.mark.parametrize("port_range", [[1024, 65535], [20000, 20000], [20000, 32767]])
def test_a_valid_port_range_loads(tmp_path, port_range):
    assert load_deployment(str(write(tmp_path, document(port_range=port_range)))).port_range == tuple(port_range)


@pytest.mark.parametrize("port_range", [[30000, 20000], [80, 2000], [1023, 2000], [60000, 65536]])
def test_a_bad_port_range_is_rejected(tmp_path, port_range):
    path = write(tmp_path, document(port_range=port_range))
    assert rejection(path) == f"{path}: port_range: expected [low, high] with 1024 <= low <= high <= 65535, got {port_range}"


# -- request.extra_body ---------------------------------------------------------------------

EXTRA_BODY = {
    "nvext": {"annotations": ["output_replay_id:tokens_{max_tokens}", {"deep": ["a{max_tokens}b"]}]},
    "top": "{max_tokens}",
    "count": 3,
    "flag": True,
    "nothing": None,
    "ratio": 0.5,
    "literal": "{{braces}}",
}


def test_body_for_fills_max_tokens_in_nested_strings_and_leaves_other_leaves_alone():
    body = RequestSpec(extra_body=EXTRA_BODY).body_for(7)
    assert body == {
        "nvext": {"annotations": ["output_replay_id:tokens_7", {"deep": ["a7b"]}]},
        "top": "7",
        "count": 3,
        "flag": True,
        "nothing": None,
        "ratio": 0.5,
        "literal": "{braces}",
    }


def test_body_for_does_not_change_the_spec():
    spec = RequestSpec(extra_body=EXTRA_BODY)
    spec.body_for(7)
    assert spec.body_for(9)["top"] == "9"
    assert spec.extra_body == EXTRA_BODY


def test_extra_body_from_a_file_is_filled(tmp_path):
    path = write(tmp_path, document(request={"extra_body": {"nvext": {"annotations": ["id:tokens_{max_tokens}"]}}}))
    assert load_deployment(str(path)).request.body_for(12) == {"nvext": {"annotations": ["id:tokens_12"]}}


def test_another_placeholder_in_extra_body_is_rejected(tmp_path):
    path = write(tmp_path, document(request={"extra_body": {"nvext": {"annotations": ["ok {max_tokens}", "{port}"]}}}))
    assert rejection(path) == f"{path}: request.extra_body: unknown placeholder {{port}} in '{{port}}'; known: max_tokens"


def test_a_malformed_extra_body_string_is_rejected(tmp_path):
    path = write(tmp_path, document(request={"extra_body": {"a": "{max_tokens"}}))
    assert rejection(path).startswith(f"{path}: request.extra_body: malformed template '{{max_tokens'")


# -- backends and embedded deployments ------------------------------------------------------


def test_dynamo_agg_uses_the_dynamo_backend():
    assert load_deployment("dynamo-agg").backends == {"dynamo"}


def test_vllm_cpu_uses_the_vllm_backend():
    assert load_deployment("vllm-cpu").backends == {"vllm"}


def test_every_backend_field_names_a_registered_backend():
    assert BACKEND_FIELDS == set(BACKENDS)


def test_agg_dp4_uses_no_backend():
    assert load_deployment("agg-dp4").backends == set()


def test_a_backend_used_only_in_env_counts(tmp_path):
    path = write(tmp_path, document(env={"MODEL": "{dynamo[model_dir]}"}))
    assert load_deployment(str(path)).backends == {"dynamo"}


def test_embedded_deployments_are_the_sim_graphs_only():
    embedded = embedded_deployments()
    assert {"agg-dp1", "agg-dp4", "disagg-p1-d1"} <= set(embedded)
    assert not [name for name in embedded if name.startswith("dynamo")]
    for name in available_deployments():
        spec = load_deployment(name)
        assert (name in embedded) == (isinstance(spec, DeploymentSpec) and not spec.backends), name


def test_embedded_deployments_exclude_attach_files_and_backends(tmp_path, monkeypatch):
    write(tmp_path, document(), "plain.yaml")
    write(tmp_path, document(env={"PY": "{dynamo[python]}"}), "needs-dynamo.yaml")
    attach = {"kind": "attach", "name": "a", "model": "m", "endpoint": "http://127.0.0.1:1", "select_from": "host", "processes": {"w": {"match": "x"}}}
    write(tmp_path, attach, "attached.yaml")
    monkeypatch.setattr(models, "DEPLOYMENTS_DIR", tmp_path)
    assert isinstance(load_deployment("attached"), AttachSpec)
    assert available_deployments() == ["attached", "needs-dynamo", "plain"]
    assert embedded_deployments() == ["plain"]


# -- rendering by the launcher --------------------------------------------------------------


@pytest.fixture
def events(tmp_path, request) -> EventLog:
    log = EventLog(tmp_path / "run" / "events.csv", RunClock())
    request.addfinalizer(log.close)
    return log


def test_the_launcher_allocates_distinct_ports_inside_port_range_and_renders_them(tmp_path, events):
    low, high = free_block(PORT_RANGE_SIZE)  # exactly enough: 3 replicas, 2 named ports
    data = document(
        ports=["a", "b"],
        port_range=[low, high],
        components=[{"name": "worker", "replicas": 3, "command": ["{python}", "{port}", "{ports[a]}"]}],
    )
    spec = load_deployment(str(write(tmp_path, data)))
    run_dir = tmp_path / "run"
    deployment = LaunchedDeployment(spec, run_dir, events, "127.0.0.1")
    named = [int(deployment.render("{ports[a]}")), int(deployment.render("{ports[b]}"))]
    replica_ports = [r.port for r in deployment.replicas]
    assert len(replica_ports) == 3
    assert sorted(replica_ports + named) == list(range(low, high + 1))
    assert deployment.render("{run_dir}") == str(run_dir.resolve())
    assert deployment.render("{host}") == "127.0.0.1"
    assert deployment.endpoint == ",".join(f"http://127.0.0.1:{port}" for port in replica_ports)
    second = deployment.replicas[1]
    assert deployment.render("{host}:{port}/{replica}/{ports[b]}", second) == f"127.0.0.1:{second.port}/1/{named[1]}"
    assert all(r.process is None for r in deployment.replicas)  # nothing started


def test_the_launcher_fails_when_port_range_is_too_small(tmp_path, events):
    low, high = free_block(2)
    data = document(ports=["a", "b"], port_range=[low, high])  # 1 replica + 2 named ports > 2
    spec = load_deployment(str(write(tmp_path, data)))
    with pytest.raises(OSError, match=f"no free port on 127.0.0.1 between {low} and {high}"):
        LaunchedDeployment(spec, tmp_path / "run", events, "127.0.0.1")


def test_a_launched_process_gets_the_rendered_environment(tmp_path, request):
    low, high = free_block(PORT_RANGE_SIZE)
    data = {
        "name": "envy",
        "model": "stub-model",
        "endpoint": "{urls[endpoint]}",
        "ports": ["extra"],
        "port_range": [low, high],
        "env": {"DEPLOYMENT_WIDE": "on-{host}", "OVERRIDDEN": "by the deployment"},
        "components": [
            {
                "name": "endpoint",
                "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"],
                "ready": {"http": "http://{host}:{port}/"},
                "env": {
                    "MY_PORT": "{port}",
                    "MY_DIR": "{run_dir}/data",
                    "MY_EXTRA": "{ports[extra]}",
                    "MY_REPLICA": "{replica}",
                    "OVERRIDDEN": "by the component",
                },
            }
        ],
    }
    spec = load_deployment(str(write(tmp_path, data)))
    run_dir = tmp_path / "run"
    deployment = launched(spec, run_dir, request.addfinalizer)
    (replica,) = deployment.replicas
    assert low <= replica.port <= high
    environ = psutil.Process(replica.pid).environ()
    assert environ["MY_PORT"] == str(replica.port)
    assert environ["MY_DIR"] == f"{run_dir.resolve()}/data"
    assert environ["MY_EXTRA"] == deployment.render("{ports[extra]}")
    assert low <= int(environ["MY_EXTRA"]) <= high
    assert environ["MY_EXTRA"] != environ["MY_PORT"]
    assert environ["MY_REPLICA"] == "0"
    assert environ["DEPLOYMENT_WIDE"] == "on-127.0.0.1"
    assert environ["OVERRIDDEN"] == "by the component"
    assert environ["PYTHONUNBUFFERED"] == "1"


def test_up_fails_when_a_component_cannot_be_started_at_all(tmp_path, request):
    data = {
        "name": "half",
        "model": "stub-model",
        "endpoint": "{urls[endpoint]}",
        "components": [
            {
                "name": "endpoint",
                "command": ["{python}", "-c", STUB_ENDPOINT_SCRIPT, "{host}", "{port}"],
                "ready": {"http": "http://{host}:{port}/"},
            },
            # Popen raises ValueError (embedded null byte), not OSError.
            {"name": "broken", "command": ["{python}", "-c", "pass", "nul\0byte"], "ready": {"log": "never"}},
        ],
    }
    spec = load_deployment(str(write(tmp_path, data)))
    with pytest.raises(LaunchError, match=r"^component broken: cannot start .*: embedded null byte$"):
        launched(spec, tmp_path / "run", request.addfinalizer)
