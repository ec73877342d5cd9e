"""Checks on the rest of the deployment, end to end: a component that leaks memory and one
whose log holds a traceback fail the run's expectations (`rss_growth_mib_per_min`,
`no_log`), each naming what it found, while the load itself was fine; and the replicas a
fault spared are seen taking over its load (`replicas.csv`, `cascade_ratio`); and a worker
whose health probe says ok while its engine is stopped is flagged (`stall` events,
`silent_stall_s`)."""

import pytest
import yaml

from deployments.models import DEPLOYMENTS_DIR
from tests.e2e.harness import kill_tagged, run_locust

pytestmark = pytest.mark.e2e

#: Holds 1 MiB more every 0.1 s (written, so resident): about 600 MiB a minute. No braces:
#: a command is a template.
LEAKER = (
    "import sys, time\n"
    "print('Traceback (most recent call last): a line for no_log to find', file=sys.stderr, flush=True)\n"
    "held = []\n"
    "while True:\n"
    "    held.append(b'x' * (1 << 20))\n"
    "    time.sleep(0.1)\n"
)


def test_a_leak_and_a_traceback_fail_their_expectations_and_say_where(tmp_path):
    document = yaml.safe_load((DEPLOYMENTS_DIR / "agg-dp1.yaml").read_text(encoding="utf-8"))
    document["name"] = "agg-dp1-leaky"
    document["components"].append({"name": "leaker", "command": ["{python}", "-c", LEAKER]})
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    gate = "rss_growth_mib_per_min <= 100; no_log 'Traceback'; no_log 'panicked at'; failed == 0"
    result = run_locust(
        tmp_path, "--deployment", str(path), "--failure", "none", "--clients", "2", "--requests-per-client", "1000",
        "--max-run-time", "14", "--expect", gate,
    )  # fmt: skip
    kill_tagged(result.tag)
    assert result.returncode == 1, result.stderr[-3000:]
    summary = result.summary
    assert summary["Max RSS Growth Of"] == "leaker_0"
    assert 300 <= summary["Max RSS Growth (MiB/min)"] <= 900, summary["Max RSS Growth (MiB/min)"]
    output = result.stdout + result.stderr
    assert "rss_growth_mib_per_min <= 100: failed (largest memory growth of a component (MiB/min): " in output
    assert "no_log \"Traceback\": failed (1 lines; the first in leaker/error.log: Traceback (most recent call last)" in output
    assert "no_log \"panicked at\": met" in output
    assert "no_errors: met" in output


def test_the_workers_a_kill_spared_take_over_its_load_and_a_gate_can_say_how_much(tmp_path):
    result = run_locust(
        tmp_path, "--deployment", "agg-dp4", "--failure", "decode_worker", "--clients", "8", "--requests-per-client", "1000",
        "--fault-at", "3", "--max-run-time", "10", "--expect", "cascade_ratio >= 1.1",
    )  # fmt: skip
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = (result.run_dir / "replicas.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "time,offset_s,component,replica,in_flight,progress,healthy"
    assert {line.split(",")[3] for line in rows[1:]} == {"0", "1", "2", "3"}
    summary = result.summary
    # Eight clients over four workers, then over the three left: about 2 each, then about 2.7.
    assert 1.0 <= summary["In Flight Unfaulted Before"] <= 2.5
    assert summary["In Flight Unfaulted During"] >= 1.1 * summary["In Flight Unfaulted Before"]


def test_a_worker_healthy_while_its_stopped_engine_serves_nothing_is_flagged(tmp_path):
    result = run_locust(
        tmp_path, "--deployment", "agg-dp1", "--failure", "engine_hang", "--clients", "4", "--requests-per-client", "1000",
        "--fault-at", "2", "--request-timeout", "10", "--max-run-time", "12", "--expect", "silent_stall_s <= 1",
    )  # fmt: skip
    kill_tagged(result.tag)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    hang = next(e for e in result.events if e["kind"] == "fault")
    resumed = next(e for e in result.events if e["kind"] == "resume")
    began, over = [e for e in result.events if e["kind"] == "stall"]
    assert (began["outcome"], over["outcome"]) == ("health ok, nothing served", "over")
    assert began["component"] == over["component"] == "decode_worker" and began["pid"] == over["pid"] != hang["pid"]
    assert began["detail"].startswith("health says ok, nothing served for ")
    # Flagged while the engine was stopped, over once it was continued (the next sample).
    assert float(hang["offset_s"]) + 3 <= float(began["offset_s"]) < float(resumed["offset_s"]) <= float(over["offset_s"]) <= float(resumed["offset_s"]) + 1
    summary = result.summary
    assert (summary["Silent Stall Of"], round(summary["Silent Stall (s)"])) == ("decode_worker_0", 5)
    assert "silent_stall_s <= 1: failed" in result.stdout + result.stderr
    assert "Health said ok while decode_worker_0 served nothing for" in (result.run_dir / "report.html").read_text(encoding="utf-8")
