"""Run the real CLI (`locust -f locustfiles/fault_tolerance.py --headless`) and read what it wrote.

Every process a run starts inherits the environment, so each run is tagged with a unique
environment variable: the tests find the run's processes (engines included) by that tag in
/proc, which matches nothing else on the host.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

from deployments.ports import free_port

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "locustfiles" / "fault_tolerance.py"
TAG_VARIABLE = "FAULTSUITE_TEST_RUN"
OUTPUT_FILES = ("stdout.txt", "stderr.txt")


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path
    tag: str

    @property
    def summary(self) -> dict:
        return json.loads((self.run_dir / "summary.json").read_text())

    @property
    def records(self) -> list[dict]:
        return records_in(self.run_dir)

    @property
    def events(self) -> list[dict]:
        return events_in(self.run_dir)


def records_in(run_dir: Path) -> list[dict]:
    """Every request record of a results directory, as dicts, client by client."""
    rows = []
    for path in sorted(run_dir.glob("client_*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def events_in(run_dir: Path) -> list[dict]:
    """The rows of a results directory's events.csv."""
    with (run_dir / "events.csv").open(newline="") as src:
        return list(csv.DictReader(src))


def locust_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *options]


def tagged_environment(tag: str) -> dict[str, str]:
    return {**os.environ, TAG_VARIABLE: tag}


def as_if_interactive() -> None:
    """In the child, before exec: SIGINT as a terminal's Ctrl-C would find it. A shell running
    pytest in the background (`pytest &`, as CI scripts may) sets SIGINT to ignored, which
    every child inherits, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_locust(
    tmp_path: Path,
    *options: str,
    output: Literal["pipe", "discard"] | Path = "pipe",
    run_dir: Path | None = None,
    env_extra: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str, Path]:
    """Start one headless run in `tmp_path`, tagged, writing into `run_dir` (default
    `tmp_path/run`), with `env_extra` added to its environment; returns (process, tag, run
    directory). Its stdout and stderr are pipes, discarded, or, where `output` is a folder,
    `stdout.txt` and `stderr.txt` there (see `output_of`): a run nobody reads while it goes
    must not block on a full pipe."""
    tag = uuid.uuid4().hex
    run_dir = run_dir or tmp_path / "run"
    with ExitStack() as files:
        if isinstance(output, Path):
            stdout, stderr = (files.enter_context((output / name).open("w")) for name in OUTPUT_FILES)
        else:
            stdout = stderr = subprocess.PIPE if output == "pipe" else subprocess.DEVNULL
        proc = subprocess.Popen(
            locust_command("--results-dir", str(run_dir), *options),
            cwd=tmp_path,
            env={**tagged_environment(tag), **(env_extra or {})},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
            preexec_fn=as_if_interactive,
        )
    return proc, tag, run_dir


def output_of(folder: Path) -> tuple[str, str]:
    """(stdout, stderr) of a run started with `output=folder`."""
    stdout, stderr = ((folder / name).read_text(errors="replace") for name in OUTPUT_FILES)
    return stdout, stderr


def run_locust(
    tmp_path: Path, *options: str, timeout_s: float = 240, run_dir: Path | None = None, env_extra: dict[str, str] | None = None
) -> RunResult:
    """Run one headless run to completion in `tmp_path`."""
    proc, tag, run_dir = start_locust(tmp_path, *options, run_dir=run_dir, env_extra=env_extra)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        kill_tagged(tag)
        raise
    return RunResult(proc.returncode, stdout, stderr, run_dir, tag)


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Running (not zombie) processes whose environment carries `tag`."""
    found = []
    needle = f"{TAG_VARIABLE}={tag}".encode()
    for proc in psutil.process_iter():
        try:
            with open(f"/proc/{proc.pid}/environ", "rb") as env:
                if needle not in env.read().split(b"\0"):
                    continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (OSError, psutil.Error):
            continue
    return found


def wait_for_no_tagged_processes(tag: str, timeout_s: float) -> list[psutil.Process]:
    """Tagged processes still running after `timeout_s` (empty when all are gone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = tagged_processes(tag)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def page_text(url: str) -> str | None:
    """The body of `url`, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


@contextmanager
def web_ui_running(tmp_path: Path, timeout_s: float = 30) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """Locust's web UI for the suite on a free loopback port, run in `tmp_path` and tagged;
    yields (process, base URL, tag) once its page answers, and stops it and its run after.
    Its stderr is in `tmp_path/locust.err`."""
    port = free_port()
    tag = uuid.uuid4().hex
    with (tmp_path / "locust.err").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1", "--web-port", str(port)],
            cwd=tmp_path,
            env=tagged_environment(tag),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while page_text(base + "/") is None:
            assert proc.poll() is None, (tmp_path / "locust.err").read_text()
            assert time.monotonic() < deadline, "Locust's web UI did not answer"
            time.sleep(0.2)
        yield proc, base, tag
    finally:
        stop_locust(proc, tag)


def start_from_the_form(page, deployment: str, failure: str, clients: int, requests_per_client: int, fault_at: float) -> None:
    """On Locust's web UI page (a Playwright page at its `/`), fill the suite's fields, as a
    user would, and press Start. The dropdowns are native selects."""
    page.locator("select[name=deployment]").select_option(deployment)
    page.locator("select[name=failure]").select_option(failure)
    page.locator("input[name=clients]").fill(str(clients))
    page.locator("input[name=requestsPerClient]").fill(str(requests_per_client))
    page.locator("input[name=faultAt]").fill(f"{fault_at:g}")
    page.get_by_role("button", name="Start", exact=True).click()


def stop_locust(proc: subprocess.Popen, tag: str, timeout_s: float = 20) -> None:
    """End a Locust process we started (SIGTERM, then SIGKILL) and anything left of its run."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
    kill_tagged(tag)
    wait_for_no_tagged_processes(tag, 10)


def kill_tagged(tag: str) -> None:
    """Clean up after a failed assertion, so one broken test does not leak into the next."""
    for proc in tagged_processes(tag):
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            continue


def engine_timing(deployment_yaml: dict) -> dict[str, float]:
    """The simulated engine's timing flags from a deployment's decode_worker command."""
    worker = next(c for c in deployment_yaml["components"] if c["name"] == "decode_worker")
    command = worker["command"]
    flags = {}
    for flag in ("--prefill-ms-per-token", "--decode-ms-per-token", "--batch-ms-per-seq", "--max-num-seqs"):
        flags[flag.strip("-").replace("-", "_")] = float(command[command.index(flag) + 1])
    return flags
