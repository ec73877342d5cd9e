"""Benchmark: re-rendering a results directory of 100,000 requests (`python -m reports DIR`).

    python benchmarks/render_100k.py [--requests 100000] [--clients 500] [--repeats 3] [--keep DIR]

Writes a synthetic `agg-dp4 × decode_worker` run (`benchmarks.synthetic_run`: 500 clients ×
200 requests by default) and times, side by side in each repeat, two fresh interpreters:

- baseline: `python -c` that only reads the records (`faultsuite.records.read_records`): the cost
  of parsing the data at all, imports included;
- target: `python -m reports DIR`, the real command (requests.csv, summary.*, report.html).

It prints a table of the median and minimum wall seconds of each, the ratio target/baseline
(medians), and the size of report.html, then PASS when the target's median is within
`BUDGET_S`, else FAIL (exit status 1). Timings depend on the machine: its CPU count and the
Python version are printed with them; compare ratios, or numbers taken on the same machine.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.synthetic_run import write_synthetic_run  # noqa: E402
from faultsuite.layout import RunLayout  # noqa: E402

BUDGET_S = 15.0

BASELINE_CODE = "import sys; from pathlib import Path; from faultsuite.records import read_records; print(len(read_records(Path(sys.argv[1]))))"


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of one subprocess run from the repository root, and its result."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    return time.perf_counter() - started, result


def check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        print(f"{what} failed with exit status {result.returncode}:\n{result.stderr}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests in the synthetic run (default 100000)")
    parser.add_argument("--clients", type=int, default=500, help="clients they are spread over (default 500)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the run into DIR (absent or empty) and leave it there")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1 or args.repeats < 1:
        parser.error("--requests, --clients and --repeats must be at least 1")
    clients = min(args.clients, args.requests)
    per_client = max(1, round(args.requests / clients))

    if args.keep is not None:
        if args.keep.exists() and any(args.keep.iterdir()):
            parser.error(f"--keep {args.keep}: not empty")
        run_dir, scratch = args.keep.resolve(), None
    else:
        scratch = Path(tempfile.mkdtemp(prefix="render_100k-"))
        run_dir = scratch / "agg-dp4" / "decode_worker-synthetic"

    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()} ({sys.executable})")
    try:
        started = time.perf_counter()
        write_synthetic_run(run_dir, clients, per_client, seed=args.seed)
        records_mib = sum(p.stat().st_size for p in RunLayout(run_dir).record_files()) / 2**20
        print(
            f"synthetic run: {clients} clients × {per_client} requests = {clients * per_client} records "
            f"({records_mib:.1f} MiB of client_*.jsonl) in {run_dir}, written in {time.perf_counter() - started:.1f} s"
        )

        baseline_argv = [sys.executable, "-c", BASELINE_CODE, str(run_dir)]
        target_argv = [sys.executable, "-m", "reports", str(run_dir)]
        baseline_s, target_s = [], []
        for repeat in range(1, args.repeats + 1):
            seconds, result = timed(baseline_argv)
            check(result, "baseline (read_records)")
            baseline_s.append(seconds)
            seconds, result = timed(target_argv)
            check(result, "target (python -m reports)")
            target_s.append(seconds)
            print(f"  repeat {repeat}: baseline {baseline_s[-1]:.2f} s, target {target_s[-1]:.2f} s", flush=True)

        report = RunLayout(run_dir).report
        base_median, target_median = statistics.median(baseline_s), statistics.median(target_s)
        verdict = "PASS" if target_median <= BUDGET_S else "FAIL"
        rows = [
            ("baseline: read_records only", f"{base_median:.2f}", f"{min(baseline_s):.2f}", "1.00"),
            ("target: python -m reports DIR", f"{target_median:.2f}", f"{min(target_s):.2f}", f"{target_median / base_median:.2f}"),
        ]
        print()
        print(f"| {'command (fresh interpreter)':<31} | median s | min s | ratio |")
        print(f"|{'-' * 33}|----------|-------|-------|")
        for name, median, minimum, ratio in rows:
            print(f"| {name:<31} | {median:>8} | {minimum:>5} | {ratio:>5} |")
        print()
        print(f"report.html: {report.stat().st_size / 2**20:.2f} MiB ({report.stat().st_size} bytes)")
        print(f"{verdict}: target median {target_median:.2f} s against a budget of {BUDGET_S:.0f} s ({args.repeats} repeats)")
        return 0 if verdict == "PASS" else 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
