"""`--suite-help`, `--list-deployments`, `--list-failures` and `--validate`, through the real
CLI: they print, exit, and launch nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from chaos.applicability import why_not_applicable
from chaos.models import load_catalogue
from deployments.models import available_deployments, load_deployment
from locustfiles.options import CLI_ONLY, FORM_HINTS, HELP_GROUPS, option_defaults

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "locustfiles" / "fault_tolerance.py"


def cli(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def listed(stdout: str) -> dict[str, str]:
    """Each listed name (its first word) and the rest of its row, continuation rows appended."""
    rows: dict[str, str] = {}
    name = ""
    for line in stdout.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            name, _, text = line.strip().partition(" ")
            rows[name] = text.strip()
        elif name:
            rows[name] += " " + line.strip()
    return rows


def test_suite_help_shows_every_option_once_in_its_section_with_its_help(tmp_path):
    done = cli(tmp_path, "--suite-help")
    assert done.returncode == 0, done.stderr
    sections: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            title = line[:-1]
            sections[title] = []
        elif line.startswith("  --"):
            sections[title].append(line.split()[0][2:].replace("-", "_"))
    titles = [title for title, _ in HELP_GROUPS]
    assert list(sections)[-len(titles):] == titles
    assert {title: sorted(sections[title]) for title in titles} == {title: sorted(dests) for title, dests in HELP_GROUPS}
    shown = [dest for title in titles for dest in sections[title]]
    assert sorted(shown) == sorted(option_defaults()), "every option, once"
    assert "  --fault-at SECONDS            seconds after the clients start to inject the failure" in done.stdout
    assert not (tmp_path / "results").exists()


def test_suite_help_is_printed_as_the_command_line_is_read_before_locust_starts(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--suite-help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("usage: locust -f locustfiles/fault_tolerance.py")
    assert "Starting" not in done.stderr, "Locust's start-up lines (its web UI's, here) come before the help"


def test_list_deployments_names_each_shipped_one_with_its_description(tmp_path):
    done = cli(tmp_path, "--list-deployments")
    assert done.returncode == 0, done.stderr
    rows = listed(done.stdout)
    assert list(rows) == available_deployments()
    for name, text in rows.items():
        assert text.startswith(load_deployment(name).description)
    assert "needs python -m deployments.vllm install" in rows["vllm-cpu-dp2"]
    assert "attach" in rows["vllm-serve"]
    assert not (tmp_path / "results").exists()


def test_list_failures_says_where_each_applies(tmp_path):
    done = cli(tmp_path, "--list-failures")
    assert done.returncode == 0, done.stderr
    rows = listed(done.stdout)
    assert set(rows) == set(load_catalogue().failures)
    assert "applies to: disagg-p1-d1, disagg-p2-d1, dynamo-disagg, dynamo-vllm" in rows["prefill_worker"]
    assert rows["frontend_latency"].endswith("applies to: agg-dp4-links")
    assert "applies to: every deployment" in rows["decode_worker"]
    assert "applies to" not in rows["none"]


def test_validate_says_what_would_run_and_launches_nothing(tmp_path):
    done = cli(tmp_path, "--validate", "--deployment", "agg-dp1", "--failure", "engine", "--clients", "3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["valid: deployment agg-dp1, failure engine, 3 clients x 20 requests; nothing was launched"]
    assert not (tmp_path / "results").exists()


def test_validate_notes_a_failure_with_nothing_to_act_on(tmp_path):
    done = cli(tmp_path, "--validate", "--deployment", "agg-dp1", "--failure", "prefill_worker")
    assert done.returncode == 0, done.stderr
    assert "note: failure prefill_worker is not applicable to agg-dp1 (no component 'prefill_worker')" in done.stdout


def test_validate_rejects_bad_input_in_one_line_with_exit_2(tmp_path):
    done = cli(tmp_path, "--validate", "--deployment", "agg-dp1", "--clients", "0")
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if not line.startswith("[")] == ["error: --clients: must be greater than 0, got '0'"]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("failure", "deployment", "reason"),
    [
        ("decode_worker", "agg-dp1", ""),
        ("prefill_worker", "agg-dp4", "no component 'prefill_worker'"),
        ("engine", "dynamo-agg", "decode_worker declares no child role 'engine'"),
        ("worker_partition", "agg-dp4", "no link processor -> decode_worker"),
        ("worker_partition", "agg-dp4-links", ""),
    ],
)
def test_why_not_applicable_reads_roles_children_and_links(failure, deployment, reason):
    assert why_not_applicable(load_catalogue().failures[failure], load_deployment(deployment)) == reason


def test_every_option_of_the_web_ui_form_has_a_short_hint_and_only_there():
    options = set(option_defaults())
    assert set(FORM_HINTS) == options - set(CLI_ONLY) and set(CLI_ONLY) <= options
    assert all(len(hint) <= 70 for hint in FORM_HINTS.values()), "a hint, not the help"
