"""Choosing matrix runs by exact name (`--ft-failure`, `--ft-deployment`), and the group table's
heading, which gives the command that runs exactly its rows again."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import kill_tagged, run_locust
from deployments.models import embedded_deployments, load_deployment
from tests.fault_tolerance.matrix import GroupTables, matrix_deployments, matrix_pairs

RUNNER = "tests/fault_tolerance/test_runner.py"


def collected(*options: str) -> tuple[int, list[str], str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", RUNNER, *options],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    ids = [line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if line.startswith(RUNNER + "::")]
    return done.returncode, ids, done.stdout + done.stderr


def test_ft_failure_selects_that_failure_on_every_deployment_and_not_its_variants():
    code, ids, output = collected("--ft-failure", "decode_worker")
    assert code == 0, output
    assert ids == [f"{d}-{f}" for d, f in matrix_pairs() if f == "decode_worker"]
    # What -k decode_worker selects instead: every decode_worker_* variant too.
    _, by_keyword, _ = collected("-k", "decode_worker")
    assert len(by_keyword) > 3 * len(ids)


def test_a_deployment_sized_for_benchmarks_stays_out_of_the_matrix():
    assert load_deployment("agg-dp16").matrix is False
    assert "agg-dp16" in embedded_deployments() and "agg-dp16" not in matrix_deployments()
    assert "agg-dp4" in matrix_deployments()
    code, _, output = collected("--ft-deployment", "agg-dp16")
    assert code != 0 and "unknown name 'agg-dp16'" in output


def test_ft_deployment_and_ft_failure_combine():
    code, ids, output = collected("--ft-deployment", "agg-dp4", "--ft-failure", "engine,none")
    assert code == 0, output
    assert ids == ["agg-dp4-none", "agg-dp4-engine"]


def test_a_mistyped_name_is_a_usage_error_with_a_suggestion():
    code, _, output = collected("--ft-failure", "decode_wroker")
    assert code == 4  # pytest's usage error
    assert "argument --ft-failure: unknown name 'decode_wroker' (did you mean 'decode_worker'" in output


@pytest.fixture
def agg_dp1_rows(tmp_path) -> Path:
    """Two small real results directories of agg-dp1 (none and engine), made by the CLI."""
    for failure in ("none", "engine"):
        (tmp_path / failure).mkdir()
        result = run_locust(tmp_path / failure, "--deployment", "agg-dp1", "--failure", failure, "--clients", "1",
                            "--requests-per-client", "2", "--fault-at", "0.5", run_dir=tmp_path / "runs" / failure)  # fmt: skip
        kill_tagged(result.tag)
        assert result.returncode == 0, result.stderr[-2000:]
    return tmp_path / "runs"


@pytest.mark.e2e
def test_the_group_table_puts_the_baseline_first_and_its_heading_reruns_exactly_its_rows(agg_dp1_rows, tmp_path):
    (tmp_path / "groups" / "agg-dp1").mkdir(parents=True)  # in the matrix, its runs' parent
    tables = GroupTables(tmp_path / "groups", "pytest tests/fault_tolerance/test_runner.py")
    for failure in ("engine", "none"):  # as parallel runs may finish
        tables.add("agg-dp1", agg_dp1_rows / failure)
    markdown = tables.markdown("agg-dp1").splitlines()
    heading = markdown[2]
    # Rows as the group report orders them: the baseline first.
    assert [line.split("|")[1].strip() for line in markdown if line.startswith("| ") and "Failure" not in line] == ["none", "engine"]
    assert heading == "`pytest tests/fault_tolerance/test_runner.py --ft-deployment agg-dp1 --ft-failure none,engine`"
    code, ids, output = collected(*heading.strip("`").split()[2:])
    assert code == 0, output
    assert ids == ["agg-dp1-none", "agg-dp1-engine"]
