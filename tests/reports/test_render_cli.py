"""`python -m reports`: rebuilds a run's or a group's reports from files; bad input is one line."""

import json
import subprocess
import sys
from pathlib import Path

from faultsuite.events import Event
from faultsuite.manifest import RunManifest, write_manifest
from faultsuite.records import RequestRecord
from locustfiles.options import option_defaults

REPO = Path(__file__).resolve().parents[2]


def reports_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=60)


def record(client: int, seq: int, start: float, ok: bool = True) -> RequestRecord:
    return RequestRecord(
        client=client, seq=seq, start_time=1000 + start, end_time=1000.7 + start, start_offset_s=start, latency_s=0.7,
        status="success" if ok else "failure", ttft_s=0.1 if ok else None, itl_s=(0.02, 0.03) if ok else (),
        output_tokens=3 if ok else 0, error_kind=None if ok else "stream_error",
    )  # fmt: skip


def write_run(run_dir: Path, failure: str, records: list[RequestRecord], events: list[Event] = ()) -> None:
    run_dir.mkdir(parents=True)
    write_manifest(RunManifest(deployment="agg-dp4", failure=failure, sla_latency_s=0.5, command="locust", started_at=1000.0, startup_time_s=2.5), run_dir)
    by_client: dict[int, list[str]] = {}
    for r in records:
        by_client.setdefault(r.client, []).append(r.to_json())
    for client, lines in by_client.items():
        (run_dir / f"client_{client}.jsonl").write_text("\n".join(lines) + "\n")
    header = "time,offset_s,kind,component,replica,pid,signal,outcome,scheduled_offset_s,detail\n"
    rows = [f"{e.time},{e.offset_s},{e.kind},{e.component},{e.replica},{e.pid},{e.signal},{e.outcome},,{e.detail}" for e in events]
    (run_dir / "events.csv").write_text(header + "".join(row + "\n" for row in rows))


def fault_and_ready() -> list[Event]:
    return [
        Event(1002.0, 2.0, "fault", "decode_worker", 1, 4242, "SIGKILL", "delivered"),
        Event(1005.5, 5.5, "ready", "decode_worker", 1, 4343, "", "ready"),
    ]


def test_a_run_is_rendered_again_from_its_files(tmp_path):
    run_dir = tmp_path / "agg-dp4" / "decode_worker-1"
    write_run(run_dir, "decode_worker", [record(0, 0, 0.0), record(0, 1, 1.0), record(1, 0, 1.9, ok=False), record(1, 1, 3.0)], fault_and_ready())
    result = reports_cli(run_dir)
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["Success"], summary["Failed"], summary["Startup Time"], summary["Recovery Time"]) == (3, 1, 2.5, 3.5)
    assert summary["Violations Before"] == 2  # the manifest's SLA (0.5 s), not a default
    assert len((run_dir / "requests.csv").read_text().splitlines()) == 5
    html = (run_dir / "report.html").read_text()
    assert "decode_worker" in html and "4242" in html
    assert "| decode_worker | 2.50 | 3 | 1 |" in result.stdout


def test_a_run_json_without_an_sla_is_rendered_with_the_options_default(tmp_path):
    run_dir = tmp_path / "no-sla"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"deployment": "agg-dp4", "failure": "none"}))
    slow = [
        RequestRecord(client=0, seq=seq, start_time=1000 + seq, end_time=1000 + seq + latency, start_offset_s=seq, latency_s=latency, status="success")
        for seq, latency in enumerate((0.5, 1.5, 1.8, 2.5))
    ]
    (run_dir / "client_0.jsonl").write_text("".join(r.to_json() + "\n" for r in slow))
    result = reports_cli(run_dir)
    assert result.returncode == 0, result.stderr
    sla = option_defaults()["sla_latency"]
    assert json.loads((run_dir / "summary.json").read_text())["Violations Before"] == sum(r.latency_s > sla for r in slow) == 3


def test_an_interrupted_run_still_renders_what_it_holds(tmp_path):
    run_dir = tmp_path / "cut"
    run_dir.mkdir()
    good = record(0, 0, 0.0).to_json()
    (run_dir / "client_0.jsonl").write_text(good + "\n" + good[: len(good) // 2])  # the crash cut the last line
    result = reports_cli(run_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "summary.json").read_text())["Success"] == 1
    assert (run_dir / "report.html").stat().st_size > 0


def test_a_group_gets_its_table_and_report_linking_each_run(tmp_path):
    group = tmp_path / "agg-dp4"
    write_run(group / "none", "none", [record(0, 0, 0.0), record(0, 1, 1.0)])
    write_run(group / "decode_worker", "decode_worker", [record(0, 0, 0.0), record(0, 1, 2.5, ok=False)], fault_and_ready())
    result = reports_cli(group)
    assert result.returncode == 0, result.stderr
    rows = (group / "group_summary.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["none", "decode_worker"]
    html = (group / "group_report.html").read_text()
    assert 'href="none/report.html"' in html and 'href="decode_worker/report.html"' in html
    assert (group / "none" / "report.html").exists() and (group / "decode_worker" / "report.html").exists()


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    for target, expected in [
        (tmp_path / "absent", "no such directory"),
        (tmp_path / "empty", "neither a run's results directory"),
        (broken, "cannot read its files"),
    ]:
        result = reports_cli(target)
        assert result.returncode == 2, (target, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
