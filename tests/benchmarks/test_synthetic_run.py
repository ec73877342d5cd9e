"""The benchmarks' synthetic run stays a run `python -m reports` renders, with the counts it was
generated with, so that `benchmarks/render_at_scale.py` cannot silently time something else."""

import csv
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.synthetic_run import FAULTED_INSTANCE, RECOVERY_S, write_synthetic_run
from faultsuite.records import RequestRecord

REPO = Path(__file__).resolve().parents[2]


def test_a_small_synthetic_run_renders_with_the_counts_it_was_generated_with(tmp_path):
    run_dir = tmp_path / "agg-dp4" / "decode_worker-synthetic"
    write_synthetic_run(run_dir, clients=20, requests_per_client=10, seed=0)

    lines = [line for path in sorted(run_dir.glob("client_*.jsonl")) for line in path.read_text().splitlines()]
    records = [RequestRecord.from_json(line) for line in lines]
    assert len(records) == 200 and len(list(run_dir.glob("client_*.jsonl"))) == 20
    assert all(r.to_json() == line for r, line in zip(records, lines))  # what RecordWriter writes
    failed = [r for r in records if not r.ok]
    assert failed and {r.error_kind for r in failed} <= {"stream_error", "timeout", "connection_reset"}
    assert all(len(r.itl_s) == 31 for r in records if r.ok and r.output_tokens == 32)

    with (run_dir / "events.csv").open(newline="") as src:
        events = list(csv.DictReader(src))
    fault = next(e for e in events if e["kind"] == "fault")
    ready = [e for e in events if e["kind"] == "ready" and f"{e['component']}_{e['replica']}" == FAULTED_INSTANCE]
    assert f"{fault['component']}_{fault['replica']}" == FAULTED_INSTANCE and fault["outcome"] == "delivered"
    gap = float(ready[-1]["offset_s"]) - float(fault["offset_s"])
    assert abs(gap - RECOVERY_S) < 1e-6

    result = subprocess.run([sys.executable, "-m", "reports", str(run_dir)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["Success"] + summary["Failed"] == 200
    assert summary["Failed"] == len(failed) > 0
    assert abs(summary["Recovery Time"] - gap) < 1e-6
    assert (run_dir / "report.html").stat().st_size > 0
    assert len((run_dir / "requests.csv").read_text().splitlines()) == 201


def test_the_same_seed_writes_the_same_files(tmp_path):
    write_synthetic_run(tmp_path / "a", clients=5, requests_per_client=4, seed=3)
    write_synthetic_run(tmp_path / "b", clients=5, requests_per_client=4, seed=3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
