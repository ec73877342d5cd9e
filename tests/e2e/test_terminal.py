"""What a headless run prints, read as a terminal shows it (stdout and stderr on one pipe):
no stats table every 2 s unless asked for, aligned event lines with no `None` in them, a quiet
line for a machine without a GPU, and the suite's summary and paths as the last lines."""

import re
import subprocess
import uuid

import pytest

from tests.e2e.harness import kill_tagged, locust_command, tagged_environment, wait_for_no_tagged_processes

pytestmark = pytest.mark.e2e

RUN = ("--deployment", "agg-dp1", "--failure", "decode_worker", "--clients", "2", "--requests-per-client", "6", "--fault-at", "1.5")
#: The first line of each of Locust's request stats tables.
STATS_TABLE = re.compile(r"^Type\s+Name\s+# reqs", re.MULTILINE)


def terminal(tmp_path, *options: str) -> str:
    """Everything one run printed, in the order a terminal would show it."""
    tag = uuid.uuid4().hex
    command = locust_command("--results-dir", str(tmp_path / "run"), *options)
    try:
        done = subprocess.run(command, cwd=tmp_path, env=tagged_environment(tag), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:]
        assert wait_for_no_tagged_processes(tag, 10) == []
    finally:
        kill_tagged(tag)
    return done.stdout


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> str:
    return terminal(tmp_path_factory.mktemp("terminal"), *RUN)


def test_locusts_stats_table_comes_once_at_the_end_not_every_two_seconds(printed):
    assert len(STATS_TABLE.findall(printed)) == 1
    assert printed.index("Shutting down (exit code 0)") < STATS_TABLE.search(printed).start()


def test_the_summary_table_and_the_paths_are_the_last_lines(printed):
    lines = [line for line in printed.splitlines() if line.strip()]
    tail = lines[lines.index("### agg-dp1 × decode_worker") :]
    assert tail[1].startswith("| Failure |") and tail[3].startswith("| decode_worker |")
    assert tail[-2].startswith("Results: ") and tail[-2].endswith("/run")
    assert tail[-1].startswith("Report:  ") and tail[-1].endswith("/run/report.html")
    # Between them only the run's notes, if any: no log line, none of Locust's tables.
    assert not [line for line in tail if line.startswith("[") or STATS_TABLE.match(line)]
    assert printed.rindex("Error report") < printed.index("### agg-dp1 × decode_worker")


def test_event_lines_line_up_and_carry_no_none(printed):
    events = [line for line in printed.splitlines() if "faultsuite.events: event " in line]
    assert events and not [line for line in events if "None" in line or "pid=" in line]
    # The outcome column starts at one place on every line that has a pid.
    starts = {line.index(" pid ") for line in events if " pid " in line}
    assert len(starts) == 1, events


def test_without_a_gpu_the_terminal_gets_one_quiet_line(printed):
    gpu_lines = [line for line in printed.splitlines() if "no GPU sampled" in line]
    if not gpu_lines:
        pytest.skip("this machine has an NVIDIA GPU")
    assert len(gpu_lines) == 1 and "/INFO/samplers.gpu: no GPU sampled: " in gpu_lines[0]


def test_print_stats_brings_the_periodic_tables_back(tmp_path):
    printed = terminal(tmp_path, *RUN, "--print-stats")
    assert len(STATS_TABLE.findall(printed)) > 2
