"""`--scenario FILE`: deployment, failure, load and expectations from one YAML file."""

from pathlib import Path

import pytest
from locust.argument_parser import get_parser

from faultsuite.errors import ConfigError
from locustfiles.options import add_options
from locustfiles.scenario import scenario_from_options

SCENARIO = """\
deployment: agg-dp1
failure: engine
load:
  clients: 3
  requests_per_client: 7
  fault_at: 2.5
  stream: false
  sla_latency: 0.8
expect:
  - failed <= 4
  - no_errors
abort_if: failed_pct > 50 over 10 s
"""


def parse(*argv: str):
    parser = get_parser()
    add_options(parser)
    return parser.parse_args(["-f", "locustfiles/fault_tolerance.py", *argv])


def scenario_file(tmp_path: Path, text: str = SCENARIO) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_file_sets_deployment_failure_load_and_expectations(tmp_path):
    scenario = scenario_from_options(parse("--scenario", scenario_file(tmp_path)))
    assert (scenario.deployment_name, scenario.failure_name) == ("agg-dp1", "engine")
    assert (scenario.load.clients, scenario.load.requests_per_client, scenario.load.stream, scenario.load.sla_latency_s) == (3, 7, False, 0.8)
    assert scenario.failure.injections[0].at_s == 2.5
    assert [e.text for e in scenario.expectations] == ["failed <= 4", "no_errors"]
    assert scenario.abort_rule is not None and scenario.abort_rule.text == "failed_pct > 50 over 10 s"


def test_an_option_given_on_the_command_line_wins_over_the_file(tmp_path):
    scenario = scenario_from_options(parse("--scenario", scenario_file(tmp_path), "--clients", "5", "--failure", "decode_worker"))
    assert (scenario.load.clients, scenario.failure_name, scenario.load.requests_per_client) == (5, "decode_worker", 7)


def test_a_deployment_path_is_relative_to_the_file(tmp_path):
    shipped = Path("deployments/agg-dp1.yaml").resolve().read_text()
    (tmp_path / "mine.yaml").write_text(shipped.replace("name: agg-dp1", "name: mine"))
    scenario = scenario_from_options(parse("--scenario", scenario_file(tmp_path, "deployment: mine.yaml\n")))
    assert scenario.deployment_name == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("load:\n  clients: 3\n  users: 4\n", "load.users: "),
        ("expect:\n  - failures <= 2\n", "expect.0: unknown metric 'failures'"),
        ("abort_if: errors > 5\n", "abort_if: cannot read"),
        ("load: [1, 2\n", "invalid YAML"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_key(tmp_path, text, message):
    path = scenario_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        scenario_from_options(parse("--scenario", path))
    assert str(caught.value).startswith(path) and message in str(caught.value) and "\n" not in str(caught.value)
