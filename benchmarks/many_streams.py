"""Benchmark: how many concurrent streaming clients a deployment holds, and what gives first.

    python benchmarks/many_streams.py [--deployment agg-dp16] [--clients 64,256,1000]
                                      [--requests-per-client 3] [--fault-clients 1000]

For each client count it runs the suite itself, headless, with `--failure none`, every client
started at once (`--ramp-up 0`) and the suite's default 10 s request timeout, and prints one
row: requests, failed (by kind), latency and TTFT p50/p99, and what each part used meanwhile:

- the runner (the Locust process): its CPU over the load (first request's start to last one's
  end), peak RSS and peak open file descriptors, sampled here with psutil every 0.25 s, and
  the whole machine's CPU over the load (100% is every core busy);
- the deployment: each component's hottest process, by its mean CPU over the load, from the
  run's own `processes.csv`. The one nearest a whole core (100%) is where the graph saturates
  first: a gevent process uses one core at most.

Then, with `--fault-clients N`, one more run at N clients with `--failure decode_worker`
(SIGKILL of one worker's process group at --fault-at), and the fault's lag: when the signal
went out after its scheduled time, from `events.csv` (`offset_s - scheduled_offset_s`).

Each run's results directory is kept under `--keep DIR` if given. Numbers depend on the
machine, and with everything on one machine the deployment and the clients share its cores.
"""

import argparse
import csv
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.load_generator import CHILD_GRACE_S, OUR_LOCUSTFILE, Children, run_suite, run_with_children  # noqa: E402
from faultsuite.events import read_events  # noqa: E402
from faultsuite.layout import RunLayout  # noqa: E402
from reports.summary import percentile  # noqa: E402

FAULT_AT_S = 5.0


@dataclass
class RunnerUse:
    """What the Locust process used, sampled over the run: its CPU and the machine's, with
    their times, and its peak RSS and open file descriptors."""

    peak_rss_mib: float = 0.0
    peak_fds: int = 0
    #: (wall time, the runner's CPU seconds so far, the machine's CPU % since the last sample)
    samples: list[tuple[float, float, float]] = field(default_factory=list)

    def sample(self, process: psutil.Process) -> None:
        machine = psutil.cpu_percent()
        try:
            with process.oneshot():
                times = process.cpu_times()
                self.peak_rss_mib = max(self.peak_rss_mib, process.memory_info().rss / 2**20)
                self.peak_fds = max(self.peak_fds, process.num_fds())
        except psutil.Error:
            return  # it has just exited
        self.samples.append((time.time(), times.user + times.system, machine))

    def cpu_over(self, start: float, end: float) -> tuple[float, float]:
        """(the runner's CPU, the machine's), in % of a core and of all cores, between two wall times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan")
        runner = 100 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
        return runner, sum(s[2] for s in inside[1:]) / (len(inside) - 1)


@dataclass
class Row:
    clients: int
    requests: int
    failed: Counter
    latency_p50_s: float
    latency_p99_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    runner: RunnerUse
    runner_cpu_pct: float  # over the load, from its first request's start to its last one's end
    machine_cpu_pct: float
    hottest: dict[str, float]  # component -> mean CPU % of its hottest process over the load
    fault_lag_ms: list[float]


def suite_argv(args, clients: int, failure: str, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(OUR_LOCUSTFILE), "--headless", "--deployment", args.deployment,
        "--failure", failure, "--clients", str(clients), "--ramp-up", "0", "--requests-per-client", str(args.requests_per_client),
        "--fault-at", f"{FAULT_AT_S:g}", "--max-run-time", str(args.max_run_time), "--results-dir", str(out),
    ]  # fmt: skip


def hottest_processes(run_dir: Path, start_offset_s: float, end_offset_s: float) -> dict[str, float]:
    """Each component's hottest process over the load: the largest mean of `cpu_pct` among
    its processes (main and children alike), from `processes.csv` samples inside the load."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    with RunLayout(run_dir).processes.open(newline="") as rows:
        for row in csv.DictReader(rows):
            if row["cpu_pct"] and start_offset_s <= float(row["offset_s"]) <= end_offset_s:
                samples[(row["component"], row["pid"])].append(float(row["cpu_pct"]))
    hottest: dict[str, float] = {}
    for (component, _), cpu in samples.items():
        hottest[component] = max(hottest.get(component, 0.0), sum(cpu) / len(cpu))
    return hottest


def run(children: Children, args, clients: int, failure: str, work: Path) -> Row:
    out = work / f"{failure}-{clients}"
    runner = RunnerUse()
    records = run_suite(children, suite_argv(args, clients, failure, out), out, args.max_run_time + CHILD_GRACE_S, runner.sample)
    if args.keep:
        os.replace(out, args.keep / out.name)
        out = args.keep / out.name
    latencies = [r.latency_s for r in records if r.ok]
    ttfts = [r.ttft_s for r in records if r.ok and r.ttft_s is not None]
    start, end = min(r.start_offset_s for r in records), max(r.end_offset_s for r in records)
    runner_cpu, machine_cpu = runner.cpu_over(min(r.start_time for r in records), max(r.end_time for r in records))
    faults = [e for e in read_events(RunLayout(out).events) if e.kind == "fault" and not e.teardown]
    return Row(
        clients=clients,
        requests=len(records),
        failed=Counter(r.error_kind for r in records if not r.ok),
        latency_p50_s=percentile(latencies, 50) if latencies else float("nan"),
        latency_p99_s=percentile(latencies, 99) if latencies else float("nan"),
        ttft_p50_s=percentile(ttfts, 50) if ttfts else float("nan"),
        ttft_p99_s=percentile(ttfts, 99) if ttfts else float("nan"),
        runner=runner,
        runner_cpu_pct=runner_cpu,
        machine_cpu_pct=machine_cpu,
        hottest=hottest_processes(out, start, end),
        fault_lag_ms=[(e.offset_s - e.scheduled_offset_s) * 1000 for e in faults if e.scheduled_offset_s is not None],
    )


def table(rows: list[Row]) -> list[str]:
    components = sorted({c for row in rows for c in row.hottest})
    header = ["clients", "requests", "failed", "latency p50/p99 (s)", "TTFT p50/p99 (s)", "machine CPU (%)", "runner CPU (%)", "runner RSS (MiB)", "runner fds"]
    header += [f"{c} hottest CPU (%)" for c in components]
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for row in rows:
        failed = str(sum(row.failed.values())) + "".join(f" {kind}={n}" for kind, n in row.failed.most_common())
        cells = [
            str(row.clients), str(row.requests), failed,
            f"{row.latency_p50_s:.2f} / {row.latency_p99_s:.2f}", f"{row.ttft_p50_s:.2f} / {row.ttft_p99_s:.2f}",
            f"{row.machine_cpu_pct:.0f}", f"{row.runner_cpu_pct:.0f}", f"{row.runner.peak_rss_mib:.0f}", str(row.runner.peak_fds),
        ]  # fmt: skip
        cells += [f"{row.hottest[c]:.0f}" if c in row.hottest else "-" for c in components]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployment", default="agg-dp16", help="the deployment to load (default agg-dp16)")
    parser.add_argument("--clients", default="64,256,1000", help="comma-separated client counts, one run each (default 64,256,1000)")
    parser.add_argument("--requests-per-client", type=int, default=3, help="requests each client sends (default 3)")
    parser.add_argument("--fault-clients", type=int, default=0, help="then one decode_worker run at this many clients, for the fault's lag")
    parser.add_argument("--max-run-time", type=int, default=120, help="seconds of load before a run is stopped anyway (default 120)")
    parser.add_argument("--keep", type=Path, default=None, help="move each run's results directory here")
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients: expected comma-separated whole numbers, got {args.clients!r}")
    if not counts or min(counts) < 1 or args.requests_per_client < 1 or args.fault_clients < 0:
        parser.error("--clients and --requests-per-client must be at least 1")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}")
    print(f"load: {args.deployment}, --failure none, {args.requests_per_client} requests per client, all clients at once", flush=True)
    started = time.perf_counter()
    rows: list[Row] = []
    fault_row: list[Row] = []

    def measure(children: Children, work: Path) -> None:
        for clients in counts:
            rows.append(run(children, args, clients, "none", work))
            print("\n".join(table(rows[-1:])[2:]), flush=True)
        if args.fault_clients:
            fault_row.append(run(children, args, args.fault_clients, "decode_worker", work))

    status = run_with_children("many_streams-", measure)
    if status:
        return status
    print()
    print("\n".join(table(rows)))
    for row in rows:
        if row.hottest:
            component, cpu = max(row.hottest.items(), key=lambda item: item[1])
            hottest = f"hottest process is a {component}'s, at {cpu:.0f}% of a core"
        else:  # the load was over before processes.csv, sampled every second, had a row in it
            hottest = "no process sampled during the load"
        print(f"{row.clients} clients: {hottest}; the runner at {row.runner_cpu_pct:.0f}%; the machine at {row.machine_cpu_pct:.0f}%")
    for row in fault_row:
        lags = f"sent {', '.join(f'{lag:.1f}' for lag in row.fault_lag_ms)} ms after its schedule" if row.fault_lag_ms else "no fault delivered"
        print(f"\nfault at {row.clients} clients (decode_worker, at {FAULT_AT_S:g} s): {lags}; {row.requests} requests, {sum(row.failed.values())} failed")
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
