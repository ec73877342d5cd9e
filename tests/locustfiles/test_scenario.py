"""How command-line options become a scenario: defaults, overrides, aliases."""

import os
import re

import pytest
from locust.argument_parser import get_parser

from faultsuite.errors import ConfigError
from locustfiles.options import add_options
from locustfiles.scenario import scenario_from_options


def parse(*argv: str):
    parser = get_parser()
    add_options(parser)
    return parser.parse_args(["-f", "locustfiles/fault_tolerance.py", *argv])


def test_no_options_run_the_demo_decode_worker_kill_on_agg_dp4():
    scenario = scenario_from_options(parse())
    assert (scenario.deployment_name, scenario.failure_name) == ("agg-dp4", "decode_worker")
    assert (scenario.load.clients, scenario.load.requests_per_client, scenario.load.stream) == (8, 20, True)


def test_host_without_deployment_launches_nothing_and_injects_nothing():
    scenario = scenario_from_options(parse("--host", "http://127.0.0.1:8000"))
    assert scenario.deployment is None
    assert (scenario.deployment_name, scenario.failure_name, scenario.failure.injections) == ("external", "none", [])


def test_the_reference_name_vllm_worker_runs_the_engine_failure():
    assert scenario_from_options(parse("--failure", "vllm_worker")).failure_name == "engine"


def test_fault_at_moves_the_injection():
    assert [i.at_s for i in scenario_from_options(parse("--fault-at", "2.5")).failure.injections] == [2.5]


def test_fault_count_sets_how_many_processes_each_injection_signals():
    assert [i.count for i in scenario_from_options(parse("--fault-count", "3")).failure.injections] == [3]


def test_no_stream_sends_non_streaming_requests():
    assert scenario_from_options(parse("--no-stream")).load.stream is False


def test_a_fixed_prompt_replaces_the_synthetic_one():
    assert scenario_from_options(parse("--prompt", "hello there")).load.prompt == "hello there"


def test_the_synthetic_prompt_has_the_requested_number_of_words():
    assert len(scenario_from_options(parse("--prompt-tokens", "7")).load.prompt.split()) == 7


def test_a_dry_run_describes_every_failure_unless_one_is_named():
    assert set(scenario_from_options(parse("--dry-run")).dry_run_failures) >= {"none", "decode_worker", "engine"}
    assert list(scenario_from_options(parse("--dry-run", "--failure", "vllm_worker")).dry_run_failures) == ["engine"]


def test_a_dry_run_needs_a_deployment():
    with pytest.raises(ConfigError, match="--dry-run: needs --deployment"):
        scenario_from_options(parse("--dry-run", "--host", "http://127.0.0.1:8000"))


def test_a_results_dir_that_already_holds_a_run_is_refused(tmp_path):
    (tmp_path / "client_0.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="already holds files"):
        scenario_from_options(parse("--results-dir", str(tmp_path)))


def test_an_empty_results_dir_is_used_as_it_is(tmp_path):
    assert scenario_from_options(parse("--results-dir", str(tmp_path))).results_dir == tmp_path


def test_a_launched_deployment_listens_on_loopback_unless_told_otherwise():
    assert scenario_from_options(parse()).deployment_host == "127.0.0.1"
    assert scenario_from_options(parse("--deployment-host", "10.0.0.5")).deployment_host == "10.0.0.5"
    with pytest.raises(ConfigError, match=r"^--deployment-host: expected a host name or IPv4 address, got 'http://x'$"):
        scenario_from_options(parse("--deployment-host", "http://x"))


# --- open-loop load -----------------------------------------------------------------------------


def test_closed_loop_clients_stay_the_default():
    load = scenario_from_options(parse()).load

    assert (load.open_loop, load.generators, load.total_requests) == (False, 8, 160)


def test_rate_and_duration_make_one_open_loop_stage_sent_by_one_generator():
    load = scenario_from_options(parse("--rate", "4", "--duration", "2", "--arrival", "constant")).load

    assert (load.open_loop, load.generators, load.arrivals) == (True, 1, [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75])


def test_rate_stages_are_read_in_order():
    load = scenario_from_options(parse("--rate-stages", "2:1, 4:0.5", "--arrival", "constant")).load

    assert load.arrivals == [0.0, 0.5, 1.0, 1.25]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "0"], "--rate: must be greater than 0"),
        (["--rate", "nan"], "--rate: must be a finite number"),
        (["--rate", "5", "--rate-stages", "5:1"], "--rate-stages: give it or --rate, not both"),
        (["--rate-stages", "5"], "--rate-stages: expected RATE:SECONDS"),
        (["--rate", "5", "--arrival", "bursty"], "--arrival: unknown arrival 'bursty'"),
        (["--rate", "5", "--max-concurrency", "0"], "--max-concurrency: must be greater than 0"),
    ],
)
def test_bad_open_loop_options_are_one_line(argv, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        scenario_from_options(parse(*argv))


def test_a_scenario_file_sets_open_loop_stages(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("load:\n  arrival: constant\n  max_concurrency: 3\n  stages: [{rate: 2, for_s: 1}, {rate: 4, for_s: 0.5}]\n")
    load = scenario_from_options(parse("--scenario", str(path))).load

    assert (load.arrivals, load.max_concurrency) == ([0.0, 0.5, 1.0, 1.25], 3)


@pytest.mark.parametrize(
    ("argv", "generators"),
    [
        ([], 1),
        (["--processes", "3"], 3),
        (["--master", "--expect-workers", "5"], 5),
        (["--master"], 1),  # Locust's default: one expected worker
    ],
)
def test_open_loop_load_has_one_generator_per_worker_process(argv, generators):
    load = scenario_from_options(parse("--deployment", "agg-dp1", "--rate", "4", "--duration", "1", *argv)).load

    assert (load.open_loop_generators, load.generators) == (generators, generators)


def test_processes_minus_one_means_one_generator_per_core():
    load = scenario_from_options(parse("--deployment", "agg-dp1", "--rate", "4", "--duration", "1", "--processes", "-1")).load

    assert load.generators == (os.cpu_count() or 1)
