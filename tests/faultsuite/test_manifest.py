"""`run.json`: written whole, read back, and guessed for a directory that lacks one."""

import json

from faultsuite.manifest import RunManifest, read_manifest, write_manifest


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
