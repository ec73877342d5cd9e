"""Benchmark: how many chat requests per second our chat client sends, beside two Locust users.

    python benchmarks/load_generator.py [--seconds 12] [--users 32] [--repeat 1]

It starts one minimal OpenAI-compatible server (`benchmarks/sse_server.py`: answers built
once, 32 tokens each, no simulated latency), then runs three headless Locust runs against it,
one after another, each with `--users` users sending back to back for `--seconds` seconds:

- raw: a plain FastHttpUser streaming the same request and only counting `data:` lines
  (`benchmarks/locustfiles/raw_fasthttp.py`): the least a streaming Locust user can do;
- ours: the suite itself, `locustfiles/fault_tolerance.py --host ... --failure none`, whose
  clients stream, parse every event, time every token and write a record per request;
- openai: Locust's contrib `OpenAIUser`, non-streaming (`benchmarks/locustfiles/openai_user.py`;
  needs `pip install openai httpx`).

With `--repeat N` the trio runs N times, interleaved (raw, ours, openai, raw, ...), so that a
machine that slows down mid-way slows all three alike; each run is printed, then the medians.

Each client's req/s is its requests over the span of its own load, which leaves out process
start-up, our suite's launch and warm-up phase, and the time OpenAIUser takes to build its
clients (seconds, for 32 users):

- raw and openai: Locust's `--json-file` stats: requests and failures summed over entries,
  over the first to the last request Locust logged;
- ours: the run's `client_*.jsonl` records (`faultsuite.records.read_records`), over the
  earliest `start_time` to the latest `end_time`.

It prints one table (client, requests, failed, span, req/s, ratio to raw, and the share of a
core the server used meanwhile: near 1.0, the server is the bottleneck and the ratios
understate the differences), then the two ratios the project follows: ours/raw and
ours/openai. Every child runs in a process group of its own, and only those groups are ended
when the benchmark ends, Ctrl-C included. Numbers depend on the machine: compare ratios.
"""

import argparse
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from faultsuite.records import RequestRecord, read_records  # noqa: E402

SERVER = REPO / "benchmarks" / "sse_server.py"
RAW_LOCUSTFILE = REPO / "benchmarks" / "locustfiles" / "raw_fasthttp.py"
OPENAI_LOCUSTFILE = REPO / "benchmarks" / "locustfiles" / "openai_user.py"
OUR_LOCUSTFILE = REPO / "locustfiles" / "fault_tolerance.py"
CLIENTS = ("raw", "ours", "openai")

SERVER_START_S = 10.0
#: Beyond --seconds, how long a Locust child may take: interpreter and imports, our suite's
#: launch, warm-up and reports, OpenAIUser's client construction.
CHILD_GRACE_S = 120.0
#: How long a child is given to exit on SIGTERM (our suite writes its reports then).
STOP_GRACE_S = 15.0


class BenchmarkError(Exception):
    """A child that did not start or left no results; the message says which and why."""


@dataclass(frozen=True)
class Result:
    client: str
    requests: int
    failed: int
    span_s: float  # from the first request of the load to the last
    server_cpu_s: float  # CPU seconds the server spent while this client ran

    @property
    def rps(self) -> float:
        return self.requests / self.span_s if self.span_s > 0 else 0.0

    @property
    def server_cores(self) -> float:
        """Share of one core the server used over the load's span."""
        return self.server_cpu_s / self.span_s if self.span_s > 0 else 0.0


class Children:
    """The processes this benchmark started, each the leader of a process group of its own
    (`start_new_session`): stopping one ends its group, and nothing else on the machine."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self._running.append(process)
        return process

    def wait(self, process: subprocess.Popen, timeout_s: float) -> int:
        """Its exit status; a child still running after `timeout_s` is stopped, and -1 returned."""
        try:
            status = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(process)
            return -1
        self._running.remove(process)
        return status

    def stop(self, process: subprocess.Popen) -> None:
        """SIGTERM to its group, SIGKILL if it is still there after `STOP_GRACE_S`."""
        if process in self._running:
            self._running.remove(process)
        if process.poll() is not None:
            return  # reaped: its pid, and so its group id, may already be someone else's
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(STOP_GRACE_S)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop_all(self) -> None:
        for process in reversed(self._running[:]):
            self.stop(process)


def start_server(children: Children, log: Path, delay_ms: float = 0.0) -> tuple[subprocess.Popen, int]:
    """Start the SSE server on a free port, each answer held `delay_ms`, and read the port
    from its first line."""
    argv = [sys.executable, str(SERVER), "--port", "0", "--delay-ms", f"{delay_ms:g}"]
    with log.open("w") as log_file:
        process = children.start(argv, stdout=subprocess.PIPE, stderr=log_file, text=True)
    ready, _, _ = select.select([process.stdout], [], [], SERVER_START_S)
    line = process.stdout.readline() if ready else ""
    process.stdout.close()  # the port is all it prints; its errors go to `log`
    if not line.startswith("port "):
        raise BenchmarkError(f"the server did not start within {SERVER_START_S:g} s: {line!r} {log.read_text()[-2000:]}")
    return process, int(line.split()[1])


def locust_argv(client: str, host: str, users: int, seconds: int, out: Path) -> list[str]:
    """The command line of one client's Locust run; its results go under `out`."""
    if client == "ours":
        # The suite's own options; --ramp-up 0 starts every client at once, like -r USERS.
        return [
            sys.executable, "-m", "locust", "-f", str(OUR_LOCUSTFILE), "--headless", "--host", host,
            "--failure", "none", "--clients", str(users), "--ramp-up", "0", "--requests-per-client", "10000000",
            "--max-run-time", str(seconds), "--results-dir", str(out),
        ]  # fmt: skip
    locustfile = RAW_LOCUSTFILE if client == "raw" else OPENAI_LOCUSTFILE
    return [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", host,
        "-u", str(users), "-r", str(users), "--run-time", f"{seconds}s", "--only-summary",
        "--json-file", str(out),
    ]  # fmt: skip


def child_env(client: str) -> dict[str, str]:
    env = dict(os.environ)
    # httpx (OpenAIUser) would send even 127.0.0.1 through a proxy set in the environment.
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
    if client == "openai":
        env.setdefault("OPENAI_API_KEY", "dummy")  # locust.contrib.oai refuses to import without one
    return env


def locust_result(client: str, json_file: Path) -> tuple[int, int, float]:
    """(requests, failed, span) from Locust's `--json-file`: every entry's counts, over the
    first to the last request logged (an entry's `start_time` is its first request's)."""
    entries = json.loads(json_file.read_text())
    logged = [e for e in entries if e["num_requests"]]
    if not logged:
        raise BenchmarkError(f"{client}: no request was logged ({json_file})")
    span = max(e["last_request_timestamp"] for e in logged) - min(e["start_time"] for e in logged)
    return sum(e["num_requests"] for e in logged), sum(e["num_failures"] for e in logged), span


def our_result(run_dir: Path) -> tuple[int, int, float]:
    """(requests, failed, span) from our run's records: the span of the load itself, from
    the earliest request's start to the latest one's end, without launch and warm-up."""
    records = read_records(run_dir)
    if not records:
        raise BenchmarkError(f"ours: no request records in {run_dir}")
    span = max(r.end_time for r in records) - min(r.start_time for r in records)
    return len(records), sum(not r.ok for r in records), span


#: How often `run_suite` calls its `sample` while the suite runs.
SAMPLE_EVERY_S = 0.25


def run_suite(
    children: Children, argv: list[str], out: Path, timeout_s: float, sample: Callable[[psutil.Process], None] | None = None
) -> list[RequestRecord]:
    """Run the suite (`argv`, its results directory `out`) as a child, its output in
    `out`.log, calling `sample` with its process every `SAMPLE_EVERY_S` until it ends or
    `timeout_s` passes; its records, or BenchmarkError with the log's end when it left none."""
    log = out.with_suffix(".log")
    with log.open("w") as log_file:
        process = children.start(argv, cwd=REPO, env=child_env("ours"), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        deadline = time.monotonic() + timeout_s
        if sample is not None:
            watched = psutil.Process(process.pid)
            while process.poll() is None and time.monotonic() < deadline:
                sample(watched)
                time.sleep(SAMPLE_EVERY_S)
        status = children.wait(process, max(0.0, deadline - time.monotonic()))
    records = read_records(out) if out.is_dir() else []
    if not records:
        raise BenchmarkError(f"{out.name}: no records (exit status {status}): {log.read_text(errors='replace')[-2000:]}")
    return records


def cpu_seconds(process: subprocess.Popen) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


def run_client(children: Children, client: str, server: subprocess.Popen, port: int, args, work: Path, repeat: int) -> Result:
    """One client's Locust run against the server, and what it measured."""
    out = work / f"{client}-{repeat}"
    log = work / f"{client}-{repeat}.log"
    argv = locust_argv(client, f"http://127.0.0.1:{port}", args.users, args.seconds, out)
    server_cpu = cpu_seconds(server)
    with log.open("w") as log_file:
        process = children.start(argv, cwd=REPO, env=child_env(client), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        status = children.wait(process, args.seconds + CHILD_GRACE_S)
    server_cpu = cpu_seconds(server) - server_cpu
    try:
        requests, failed, span = our_result(out) if client == "ours" else locust_result(client, out.with_suffix(".json"))
    except (OSError, ValueError, KeyError, BenchmarkError) as exc:
        tail = log.read_text(errors="replace")[-3000:]
        raise BenchmarkError(f"{client}: no results (exit status {status}): {exc}\n--- {log} (end) ---\n{tail}") from None
    # Locust exits 1 when any request failed: the table says so; other statuses are worth a word.
    if status not in (0, 1):
        print(f"warning: {client} exited with status {status} (log: {log})", file=sys.stderr)
    return Result(client, requests, failed, span, server_cpu)


def table(rows: list[tuple[str, str, Result]], raw_rps: dict[str, float]) -> list[str]:
    """Markdown rows: run, client, requests, failed, span, req/s, ratio to raw, server cores."""
    lines = [
        "| run    | client | requests | failed | span s |   req/s | vs raw | server cores |",
        "|--------|--------|---------:|-------:|-------:|--------:|-------:|-------------:|",
    ]
    for run, client, r in rows:
        ratio = r.rps / raw_rps[run] if raw_rps[run] else float("nan")
        lines.append(
            f"| {run:<6} | {client:<6} | {r.requests:>8} | {r.failed:>6} | {r.span_s:>6.2f} | {r.rps:>7.1f} | {ratio:>6.2f} | {r.server_cores:>12.2f} |"
        )
    return lines


def report(runs: list[dict[str, Result]]) -> None:
    rows = [(str(i), client, run[client]) for i, run in enumerate(runs, 1) for client in CLIENTS]
    raw_rps = {str(i): run["raw"].rps for i, run in enumerate(runs, 1)}
    median_rps = {client: statistics.median(run[client].rps for run in runs) for client in CLIENTS}
    print()
    print("\n".join(table(rows, raw_rps)))
    if len(runs) > 1:
        print()
        print(f"median of {len(runs)} runs (req/s: the median of each run's req/s):")
        for client in CLIENTS:
            ratio = median_rps[client] / median_rps["raw"] if median_rps["raw"] else float("nan")
            print(f"  {client:<6} {median_rps[client]:>8.1f} req/s  {ratio:.2f} × raw")
    print()
    for name, other in (("ours/raw", "raw"), ("ours/openai", "openai")):
        each = " ".join(f"{run['ours'].rps / run[other].rps:.2f}" if run[other].rps else "nan" for run in runs)
        median = median_rps["ours"] / median_rps[other] if median_rps[other] else float("nan")
        print(f"{name + ':':<13} {median:.2f}" + (f" (medians; each run: {each})" if len(runs) > 1 else ""))


def _interrupt(signum, _frame) -> None:
    # SIGTERM and SIGHUP end the benchmark as Ctrl-C does: through `finally`, which stops the
    # children (their own sessions spare them the terminal's signals).
    raise KeyboardInterrupt


def run_with_children(prefix: str, measure: Callable[[Children, Path], None]) -> int:
    """Run `measure(children, scratch)` as a benchmark's main does, in a scratch directory
    (named from `prefix`, removed after): 0 when it is done, 2 with one `error:` line when it
    raised BenchmarkError, 130 on Ctrl-C, SIGTERM or SIGHUP. Its children are stopped in every
    case."""
    # Explicitly: a shell that starts a job in the background sets it to ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    children = Children()
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        try:
            measure(children, Path(scratch))
            return 0
        except BenchmarkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted: stopping the children", file=sys.stderr)
            return 130
        finally:
            children.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=12, help="seconds of load per client run (default 12)")
    parser.add_argument("--users", type=int, default=32, help="concurrent users, all started at once (default 32)")
    parser.add_argument("--repeat", type=int, default=1, help="run the three clients this many times, interleaved (default 1)")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.users < 1 or args.repeat < 1:
        parser.error("--seconds, --users and --repeat must be at least 1")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()} ({sys.executable})")
    started = time.perf_counter()
    runs: list[dict[str, Result]] = []

    def measure(children: Children, work: Path) -> None:
        server, port = start_server(children, work / "server.log")
        print(f"server: {SERVER.relative_to(REPO)} on 127.0.0.1:{port}, pid {server.pid}")
        print(f"load: {args.users} users × {args.seconds} s per run; {' → '.join(CLIENTS)}, × {args.repeat}", flush=True)
        for repeat in range(1, args.repeat + 1):
            run = {}
            for client in CLIENTS:
                run[client] = run_client(children, client, server, port, args, work, repeat)
                r = run[client]
                print(f"  run {repeat} {client:<6} {r.requests:>7} requests, {r.failed} failed, {r.rps:8.1f} req/s", flush=True)
            runs.append(run)

    status = run_with_children("load_generator-", measure)
    if status:
        return status
    report(runs)
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
