"""A sample of the fuzz cases (tests/locustfiles/test_fuzz.py) through the real CLI: each one
the validation refuses is exit 2, with its one error line last and no traceback."""

import subprocess

import pytest

from faultsuite.errors import ConfigError
from tests.e2e.harness import locust_command
from tests.locustfiles.test_fuzz import generate_cases

pytestmark = pytest.mark.e2e

SAMPLE = 24


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> list:
    """The first SAMPLE cases of options and files that the validation refuses in-process."""
    refused = []
    for case in generate_cases():
        if case.cli_options is None:
            continue
        try:
            case.attempt(tmp_path_factory.mktemp("probe"))
        except ConfigError:
            refused.append(case)
        if len(refused) == SAMPLE:
            break
    return refused


@pytest.mark.parametrize("position", range(SAMPLE))
def test_a_refused_fuzz_case_is_exit_2_with_one_error_line_through_the_cli(sample, position, tmp_path):
    case = sample[position]
    options = case.write_files(tmp_path)
    done = subprocess.run(locust_command(*options), cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in done.stderr.splitlines() if line.strip()]

    assert (done.returncode, "Traceback" in done.stderr) == (2, False), f"{case.description}\n{done.stderr[-3000:]}"
    assert lines[-1].startswith("error: ") and [line for line in lines if line.startswith("error: ")] == [lines[-1]], case.description
    assert not (tmp_path / "results").exists()
