"""Benchmark: where one Locust process stops keeping up, and what `--processes N` buys.

    python benchmarks/processes_knee.py [--clients 64,256,512,1024] [--processes 1,2]
                                        [--seconds 8] [--delay-ms 100]

It starts the minimal streaming server of `benchmarks/sse_server.py`, holding each answer
`--delay-ms` (a timer: the server stays cheap), so that a client's latency has a floor, and
runs the suite against it with `--host URL --failure none`, every client at once, for each
client count and each `--processes` (1: the runner alone; N: N forked workers). Per run it
prints requests per second, latency p50/p99, and the CPU of each Locust process over the load
(the runner, then its workers), sampled with psutil.

Below the knee, latency sits at the server's delay and req/s grows with the clients; past it,
the Locust processes are at a core each, req/s stops growing and latency grows instead. Numbers
depend on the machine: with the server and every Locust process on the same cores, `--processes`
can only help up to the cores there are.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.load_generator import CHILD_GRACE_S, OUR_LOCUSTFILE, Children, run_suite, run_with_children, start_server  # noqa: E402
from reports.summary import percentile  # noqa: E402

@dataclass
class TreeCpu:
    """CPU seconds of the runner and each of its child processes, sampled with wall times."""

    samples: list[tuple[float, dict[int, float]]] = field(default_factory=list)

    def sample(self, runner: psutil.Process) -> None:
        seen: dict[int, float] = {}
        try:
            for process in [runner, *runner.children()]:
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system
        except psutil.Error:
            return  # a process ended between the listing and the reading
        self.samples.append((time.time(), seen))

    def over(self, start: float, end: float) -> list[float]:
        """Each process's CPU between two wall times, in % of a core, the runner first."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return []
        (t0, first), (t1, last) = inside[0], inside[-1]
        return [100 * (last[pid] - first[pid]) / (t1 - t0) for pid in first if pid in last]


@dataclass
class Row:
    processes: int
    clients: int
    requests: int
    failed: int
    rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    cpu_pct: list[float]  # the runner's, then each worker's


def suite_argv(port: int, clients: int, processes: int, seconds: int, out: Path) -> list[str]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(OUR_LOCUSTFILE), "--headless", "--host", f"http://127.0.0.1:{port}",
        "--failure", "none", "--clients", str(clients), "--ramp-up", "0", "--requests-per-client", "10000000",
        "--max-run-time", str(seconds), "--results-dir", str(out),
    ]  # fmt: skip
    if processes > 1:
        argv += ["--processes", str(processes)]
    return argv


def run(children: Children, port: int, clients: int, processes: int, seconds: int, work: Path) -> Row:
    out = work / f"p{processes}-c{clients}"
    cpu = TreeCpu()
    records = run_suite(children, suite_argv(port, clients, processes, seconds, out), out, seconds + CHILD_GRACE_S, cpu.sample)
    # The middle of the load: past every client's first request, before the run's stop.
    start = statistics.median(min(r.start_time for r in records if r.client == c) for c in {r.client for r in records})
    end = max(r.end_time for r in records)
    steady = [r for r in records if start <= r.start_time and r.end_time <= end]
    latencies = [1000 * r.latency_s for r in steady if r.ok]
    return Row(
        processes=processes,
        clients=clients,
        requests=len(steady),
        failed=sum(not r.ok for r in steady),
        rps=len(steady) / (end - start) if end > start else float("nan"),
        latency_p50_ms=percentile(latencies, 50) if latencies else float("nan"),
        latency_p99_ms=percentile(latencies, 99) if latencies else float("nan"),
        cpu_pct=cpu.over(start, end),
    )


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| --processes | clients | requests | failed | req/s | latency p50 / p99 (ms) | CPU per Locust process (% of a core: runner, workers) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        cpu = ", ".join(f"{c:.0f}" for c in row.cpu_pct) or "-"
        lines.append(
            f"| {row.processes} | {row.clients} | {row.requests} | {row.failed} | {row.rps:.0f} | {row.latency_p50_ms:.0f} / {row.latency_p99_ms:.0f} | {cpu} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="64,256,512,1024", help="comma-separated client counts (default 64,256,512,1024)")
    parser.add_argument("--processes", default="1,2", help="comma-separated --processes values, 1 for the runner alone (default 1,2)")
    parser.add_argument("--seconds", type=int, default=8, help="seconds of load per run (default 8)")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="how long the server holds each answer (default 100)")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.clients.split(",") if c.strip()]
        processes = [int(p) for p in args.processes.split(",") if p.strip()]
    except ValueError:
        parser.error("--clients and --processes take comma-separated whole numbers")
    if not counts or not processes or min(counts + processes) < 1 or args.seconds < 1 or args.delay_ms < 0:
        parser.error("--clients, --processes and --seconds must be at least 1, --delay-ms at least 0")
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}")
    print(f"server: benchmarks/sse_server.py, each answer (32 tokens) held {args.delay_ms:g} ms; {args.seconds} s of load per run", flush=True)
    started = time.perf_counter()
    rows: list[Row] = []

    def measure(children: Children, work: Path) -> None:
        _, port = start_server(children, work / "server.log", args.delay_ms)
        for count in processes:
            for clients in counts:
                rows.append(run(children, port, clients, count, args.seconds, work))
                print(table(rows[-1:])[-1], flush=True)

    status = run_with_children("processes_knee-", measure)
    if status:
        return status
    print()
    print("\n".join(table(rows)))
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
