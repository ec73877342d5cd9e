"""`run.json`: written whole, read back, and guessed for a directory that lacks one."""

import json

from faultsuite.manifest import RunManifest, command_as_typed, read_manifest, write_manifest
from locustfiles.options import option_defaults


def test_a_manifest_reads_back_as_written(tmp_path):
    manifest = RunManifest(deployment="agg-dp4", failure="decode_worker", sla_latency_s=1.5, command="locust -f x.py", started_at=1.0, load={"clients": 8})
    write_manifest(manifest, tmp_path)
    write_manifest(manifest.updated(startup_time_s=3.2, ended_at=9.0), tmp_path)
    back = read_manifest(tmp_path)
    assert back == manifest.updated(startup_time_s=3.2, ended_at=9.0)
    assert not list(tmp_path.glob("*.partial")), "the atomic write left its temporary file"
    assert "python" in back.versions and "locust" in back.versions


def test_keys_from_a_newer_version_are_ignored(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"deployment": "d", "failure": "f", "from_the_future": 1}))
    assert read_manifest(tmp_path).failure == "f"


def test_a_directory_without_a_manifest_is_named_by_its_path(tmp_path):
    run_dir = tmp_path / "agg-dp1" / "engine-20261127-101010"
    run_dir.mkdir(parents=True)
    guessed = read_manifest(run_dir)
    assert (guessed.deployment, guessed.failure, guessed.startup_time_s) == ("agg-dp1", "engine", None)


def test_the_command_reads_as_typed_for_a_program_found_on_path(tmp_path, monkeypatch):
    program = tmp_path / "bin" / "locust"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(program.parent))
    assert command_as_typed([str(program), "-f", "locustfiles/fault_tolerance.py"]) == "locust -f locustfiles/fault_tolerance.py"
    elsewhere = tmp_path / "other" / "locust"
    assert command_as_typed([str(elsewhere), "--headless"]) == f"{elsewhere} --headless"  # not what PATH finds: kept whole


def test_a_python_dash_m_run_reads_as_such(monkeypatch):
    monkeypatch.setattr("sys.argv", ["/venv/lib/python3.11/site-packages/locust/__main__.py", "-f", "x.py"])
    monkeypatch.setattr("sys.orig_argv", ["python", "-m", "locust", "-f", "x.py"])
    assert command_as_typed() == "python -m locust -f x.py"


def test_a_manifest_without_an_sla_assumes_the_options_default(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"deployment": "d", "failure": "f"}))
    assert read_manifest(tmp_path).sla_latency_s == option_defaults()["sla_latency"]
