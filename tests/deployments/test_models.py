"""Deployment files: what loads, and the one-line message for each way a file can be wrong."""

from pathlib import Path

import pytest

from deployments.models import available_deployments, load_deployment
from faultsuite.errors import ConfigError

HEADER = 'name: tiny\nmodel: sim-model\nendpoint: "{urls[frontend]}"\n'
WORKER = '  - {name: worker, command: ["{python}", "-m", "worker"]}\n'
FRONTEND = '  - {name: frontend, command: ["{python}", "-m", "frontend"], depends_on: [worker]}\n'

#: The smallest valid graph: a frontend depending on one worker.
VALID = HEADER + "components:\n" + WORKER + FRONTEND

#: `endpoint` is indented under `model`, which YAML cannot parse (line 3).
MALFORMED_YAML = "name: tiny\nmodel: sim-model\n  endpoint: x\ncomponents: []\n"

UNKNOWN_TOP_LEVEL_KEY = VALID + "bogus: 1\n"

UNKNOWN_COMPONENT_KEY = (
    HEADER + "components:\n" + '  - {name: worker, command: ["{python}", "-m", "worker"], bogus: 1}\n' + FRONTEND
)

ZERO_REPLICAS = HEADER + "components:\n" + '  - {name: worker, command: ["{python}", "-m", "worker"], replicas: 0}\n' + FRONTEND

UNKNOWN_DEPENDENCY = (
    HEADER + "components:\n" + WORKER + '  - {name: frontend, command: ["{python}", "-m", "frontend"], depends_on: [ghost]}\n'
)

DEPENDENCY_CYCLE = (
    HEADER
    + "components:\n"
    + '  - {name: worker, command: ["{python}", "-m", "worker"], depends_on: [frontend]}\n'
    + FRONTEND
)

DUPLICATE_NAME = HEADER + "components:\n" + WORKER + WORKER

UNKNOWN_PLACEHOLDER = HEADER + "components:\n" + '  - {name: worker, command: ["{python}", "{nope}"]}\n' + FRONTEND

URLS_OF_AN_UNKNOWN_ROLE = (
    HEADER + "components:\n" + WORKER + '  - {name: frontend, command: ["{python}", "--workers", "{urls[wrker]}"], depends_on: [worker]}\n'
)

ENDPOINT_WITH_A_REPLICA_PORT = VALID.replace('endpoint: "{urls[frontend]}"', 'endpoint: "http://{host}:{port}"')

#: VALID with its components declared dependents first.
DECLARED_BACKWARDS = HEADER + "components:\n" + FRONTEND + WORKER

SHIPPED = ["agg-dp1", "agg-dp4"]
SHIPPED_START_ORDER = ["decode_worker", "processor", "frontend"]

REJECTED = {
    "malformed YAML": MALFORMED_YAML,
    "unknown top-level key": UNKNOWN_TOP_LEVEL_KEY,
    "unknown component key": UNKNOWN_COMPONENT_KEY,
    "zero replicas": ZERO_REPLICAS,
    "unknown dependency": UNKNOWN_DEPENDENCY,
    "dependency cycle": DEPENDENCY_CYCLE,
    "duplicate name": DUPLICATE_NAME,
    "unknown placeholder": UNKNOWN_PLACEHOLDER,
    "urls of an unknown role": URLS_OF_AN_UNKNOWN_ROLE,
    "endpoint with a replica port": ENDPOINT_WITH_A_REPLICA_PORT,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def rejection(tmp_path: Path, text: str) -> tuple[Path, str]:
    """The file written from `text` and the message its loading is rejected with."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_deployment(str(path))
    return path, str(caught.value)


def test_a_valid_file_loads(tmp_path):
    assert load_deployment(str(write(tmp_path, VALID))).roles == ["worker", "frontend"]


@pytest.mark.parametrize("text", REJECTED.values(), ids=REJECTED.keys())
def test_every_rejection_is_one_line(tmp_path, text):
    _, message = rejection(tmp_path, text)
    assert "\n" not in message


@pytest.mark.parametrize("text", REJECTED.values(), ids=REJECTED.keys())
def test_every_rejection_names_the_file(tmp_path, text):
    path, message = rejection(tmp_path, text)
    assert message.startswith(f"{path}: ")


def test_malformed_yaml_is_reported_with_its_line(tmp_path):
    path, message = rejection(tmp_path, MALFORMED_YAML)
    assert message.startswith(f"{path}: invalid YAML at line 3, ")


def test_an_unknown_top_level_key_is_rejected(tmp_path):
    path, message = rejection(tmp_path, UNKNOWN_TOP_LEVEL_KEY)
    assert message == f"{path}: bogus: unknown key"


def test_an_unknown_component_key_is_rejected_with_its_key_path(tmp_path):
    path, message = rejection(tmp_path, UNKNOWN_COMPONENT_KEY)
    assert message == f"{path}: components.0.bogus: unknown key"


def test_zero_replicas_are_rejected(tmp_path):
    path, message = rejection(tmp_path, ZERO_REPLICAS)
    assert message == f"{path}: components.0.replicas: input should be greater than or equal to 1"


def test_a_dependency_on_an_unknown_component_is_rejected(tmp_path):
    _, message = rejection(tmp_path, UNKNOWN_DEPENDENCY)
    assert message.endswith("component 'frontend' depends on unknown component 'ghost'")


def test_a_dependency_on_an_unknown_component_is_reported_at_its_key_path(tmp_path):
    path, message = rejection(tmp_path, UNKNOWN_DEPENDENCY)
    assert message.startswith(f"{path}: components.1.depends_on")


def test_a_dependency_cycle_is_rejected(tmp_path):
    _, message = rejection(tmp_path, DEPENDENCY_CYCLE)
    assert message.endswith("depends_on has a cycle among worker, frontend")


def test_a_duplicate_component_name_is_rejected(tmp_path):
    _, message = rejection(tmp_path, DUPLICATE_NAME)
    assert message.endswith("component 'worker' is declared twice")


def test_a_duplicate_component_name_is_reported_at_its_key_path(tmp_path):
    path, message = rejection(tmp_path, DUPLICATE_NAME)
    assert message.startswith(f"{path}: components.1.name")


def test_an_unknown_template_placeholder_is_rejected_with_its_key_path(tmp_path):
    path, message = rejection(tmp_path, UNKNOWN_PLACEHOLDER)
    assert message.startswith(f"{path}: components.0.command.1: unknown placeholder {{nope}}")


def test_an_unknown_deployment_name_lists_the_available_ones():
    with pytest.raises(ConfigError) as caught:
        load_deployment("no-such")
    available = str(caught.value).split("available: ")[-1].split(", ")
    assert set(SHIPPED) <= set(available)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_deployment_loads_by_name(name):
    assert load_deployment(name).name == name


def test_the_shipped_deployments_are_available():
    assert set(SHIPPED) <= set(available_deployments())


def test_agg_dp4_runs_four_decode_workers():
    assert load_deployment("agg-dp4").component("decode_worker").replicas == 4


def test_agg_dp4_runs_two_processors():
    assert load_deployment("agg-dp4").component("processor").replicas == 2


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_deployment_starts_workers_then_processors_then_the_frontend(name):
    assert [c.name for c in load_deployment(name).start_order()] == SHIPPED_START_ORDER


def test_start_order_puts_dependencies_first_whatever_the_declaration_order(tmp_path):
    spec = load_deployment(str(write(tmp_path, DECLARED_BACKWARDS)))
    assert [c.name for c in spec.start_order()] == ["worker", "frontend"]


def test_urls_of_an_unknown_role_are_rejected_at_the_command_part(tmp_path):
    path, message = rejection(tmp_path, URLS_OF_AN_UNKNOWN_ROLE)
    assert message == f"{path}: components.1.command.2: {{urls[wrker]}} names no component; components: worker, frontend"


def test_a_replica_port_in_the_endpoint_is_rejected(tmp_path):
    path, message = rejection(tmp_path, ENDPOINT_WITH_A_REPLICA_PORT)
    assert message.startswith(f"{path}: endpoint: {{port}} has no value here")
