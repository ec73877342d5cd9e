"""A synthetic, realistic results directory: what an `agg-dp4 × decode_worker` run writes.

`write_synthetic_run(run_dir, clients, requests_per_client, seed)` fills `run_dir` with the
files the suite writes during a run, in the same formats, so that `python -m reports RUN_DIR`
can be benchmarked (and tested) on any number of requests without launching anything:

- `run.json` through `faultsuite.manifest.write_manifest`;
- `events.csv` through `faultsuite.events.EventLog` (driven by a scripted clock): the launch and
  ready of 4 decode workers, 2 processors and the frontend, the warm-up, a SIGKILL `fault` of
  `decode_worker_2` at 40% of the load, its `exit`, the supervisor's `restart` 1 s later and
  the replacement's `ready` `RECOVERY_S` after the fault, then the teardown's `stop`/`exit`;
- `client_<i>.jsonl`: streaming request records, one `RequestRecord.to_json` line each,
  written a client's file at a time (`RecordWriter` flushes every line: too slow for
  100,000 records); latencies
  around 0.7 s (TTFT ~60 ms, 31 inter-token gaps of ~20 ms for 32 tokens); requests that were
  streaming from the killed worker, or were routed to it before the processors stopped doing
  so, fail (`stream_error`, `connection_reset`, `timeout`): about 0.5% of a 500-client run;
- `watcher.csv` (every 0.5 s), `processes.csv` (every 1 s, 11 processes: frontend, 2
  processors, 4 decode workers and their engine children) and `gpu.csv` (every 1 s, 4 GPUs,
  a device row each plus a row per process holding memory), with the columns of
  `faultsuite.samples`, each cell formatted as the samplers format it (`format_cell`).

Every file's name comes from `faultsuite.layout.RunLayout`.

Everything comes from one `numpy` generator seeded with `seed`: the same arguments write the
same bytes.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faultsuite.clock import RunClock
from faultsuite.events import EventKind, EventLog, FaultOutcome, TargetScope
from faultsuite.layout import RunLayout
from faultsuite.manifest import RunManifest, write_manifest
from faultsuite.records import FailureKind, RequestRecord
from faultsuite.samples import GPU_COLUMNS, PROCESS_COLUMNS, WATCHER_COLUMNS, format_cell

__all__ = ["FAULTED_INSTANCE", "RECOVERY_S", "write_synthetic_run"]

WALL_ORIGIN = 1_717_000_000.0  # epoch seconds of the run clock's origin
RAMP_UP_S = 5.0
MAX_TOKENS = 32
REQUEST_TIMEOUT_S = 10.0
RETRY_DELAY_S = 0.5
SLA_LATENCY_S = 1.0
FAULT_FRACTION = 0.4  # the fault is scheduled this far into the (estimated) load
WORKERS = 4
PROCESSORS = 2
FAULTED_REPLICA = 2
FAULTED_INSTANCE = f"decode_worker_{FAULTED_REPLICA}"
EXIT_AFTER_S = 0.004  # the supervisor sees the killed worker exit
RESTART_DELAY_S = 1.0  # agg-dp4's restart delay
RECOVERY_S = 3.5  # fault to the replacement's `ready`
DETECT_S = 2.5  # requests routed to the dead worker this long after the fault fail
SLOWDOWN = 1.3  # three workers carry four workers' load until the replacement is ready
SUPERVISOR_PID = 40000
GPU_NAME = "NVIDIA H100 80GB HBM3"
GPU_TOTAL_MIB = 81559.0


class _ScriptedClock(RunClock):
    """A run clock whose "now" is whatever the generator says it is."""

    def __init__(self, wall_origin: float):
        super().__init__(wall_origin=wall_origin, mono_origin=0.0)
        self.now = 0.0

    def offset(self) -> float:
        return self.now


@dataclass
class _Process:
    component: str
    replica: int
    role: str
    pid: int
    ppid: int
    leader_pid: int
    born: float
    died: float
    cpu_pct: float
    rss_mib: float
    threads: int
    gpu: int | None = None
    gpu_mib: float = 0.0
    gpu_from: float = math.inf  # offset from which it holds its GPU memory

    @property
    def instance(self) -> str:
        return f"{self.component}_{self.replica}"

    def alive(self, t: float) -> bool:
        return self.born <= t < self.died


def _processes(dw_launch: list[float], proc_launch: list[float], fe_launch: float, fault: float, restart: float, ready_again: float) -> list[_Process]:
    procs = []
    for r in range(WORKERS):
        pid = 40101 + 2 * r
        died = fault + EXIT_AFTER_S if r == FAULTED_REPLICA else math.inf
        procs.append(_Process("decode_worker", r, "main", pid, SUPERVISOR_PID, pid, dw_launch[r], died, 38.0, 182.0, 9, r, 418.0, dw_launch[r] + 0.4))
        procs.append(_Process("decode_worker", r, "engine", pid + 1, pid, pid, dw_launch[r] + 0.3, died, 91.0, 2210.0, 23, r, 61_440.0, dw_launch[r] + 1.2))
    r, pid = FAULTED_REPLICA, 40201
    procs.append(_Process("decode_worker", r, "main", pid, SUPERVISOR_PID, pid, restart, math.inf, 38.0, 182.0, 9, r, 418.0, restart + 0.4))
    procs.append(_Process("decode_worker", r, "engine", pid + 1, pid, pid, restart + 0.3, math.inf, 91.0, 2210.0, 23, r, 61_440.0, ready_again - 0.9))
    for r in range(PROCESSORS):
        pid = 40121 + r
        procs.append(_Process("processor", r, "main", pid, SUPERVISOR_PID, pid, proc_launch[r], math.inf, 16.0, 96.0, 6))
    procs.append(_Process("frontend", 0, "main", 40131, SUPERVISOR_PID, 40131, fe_launch, math.inf, 27.0, 121.0, 7))
    return sorted(procs, key=lambda p: (p.component, p.replica, p.pid))


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows([format_cell(v) for v in row] for row in rows)


def write_synthetic_run(run_dir: Path, clients: int, requests_per_client: int, seed: int = 0) -> None:
    """Write a complete `agg-dp4 × decode_worker` results directory into `run_dir` (created;
    files already there are replaced, except stray `client_<i>.jsonl` of more clients)."""
    if clients < 1 or requests_per_client < 1:
        raise ValueError("clients and requests_per_client must be at least 1")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    layout = RunLayout(run_dir)
    rng = np.random.default_rng(seed)
    events: list[tuple[float, str, dict]] = []  # (offset, kind, attributes), emitted in order at the end

    # -- startup: decode workers, then processors, then the frontend, then the warm-up ----------
    dw_port = [18001 + r for r in range(WORKERS)]
    dw_launch = [0.012 + 0.003 * r for r in range(WORKERS)]
    dw_ready = [2.0 + 0.35 + 0.07 * r + float(rng.uniform(0, 0.05)) for r in range(WORKERS)]
    for r in range(WORKERS):
        events.append((dw_launch[r], "launch", dict(component="decode_worker", replica=r, pid=40101 + 2 * r, outcome="started", detail=f"port {dw_port[r]}")))
        events.append((dw_ready[r], "ready", dict(component="decode_worker", replica=r, pid=40101 + 2 * r, outcome="ready")))
    proc_launch = [max(dw_ready) + 0.002 + 0.001 * r for r in range(PROCESSORS)]
    proc_ready = [t + 0.25 + float(rng.uniform(0, 0.03)) for t in proc_launch]
    for r in range(PROCESSORS):
        events.append((proc_launch[r], "launch", dict(component="processor", replica=r, pid=40121 + r, outcome="started", detail=f"port {18101 + r}")))
        events.append((proc_ready[r], "ready", dict(component="processor", replica=r, pid=40121 + r, outcome="ready")))
    fe_launch = max(proc_ready) + 0.002
    fe_ready = fe_launch + 0.3
    events.append((fe_launch, "launch", dict(component="frontend", replica=0, pid=40131, outcome="started", detail="port 18000")))
    events.append((fe_ready, "ready", dict(component="frontend", replica=0, pid=40131, outcome="ready")))
    warmup = fe_ready + 0.12
    events.append((warmup, "warmup", dict(outcome="ok")))
    startup_time_s = warmup - 0.01
    load_start = warmup + 0.03

    # -- the fault: scheduled at 40% of the load, the replacement ready RECOVERY_S later ---------
    latency_estimate = 0.061 + (MAX_TOKENS - 1) * 0.0203 + 0.001
    load_estimate = RAMP_UP_S * (clients - 1) / clients + requests_per_client * (latency_estimate + 0.002)
    fault_at_s = round(FAULT_FRACTION * load_estimate, 1)
    scheduled = load_start + fault_at_s
    fault = scheduled + 0.0004
    exit_at = fault + EXIT_AFTER_S
    restart = exit_at + RESTART_DELAY_S
    ready_again = fault + RECOVERY_S
    faulted_pid, new_pid = 40101 + 2 * FAULTED_REPLICA, 40201
    faulted = dict(component="decode_worker", replica=FAULTED_REPLICA)
    events.append((fault, "fault", dict(faulted, pid=faulted_pid, signal="SIGKILL", outcome=FaultOutcome.DELIVERED, scheduled_offset_s=scheduled, detail="failure decode_worker: process group", failure="decode_worker", scope=TargetScope.GROUP)))
    events.append((exit_at, "exit", dict(faulted, pid=faulted_pid, outcome="killed by SIGKILL")))
    events.append((restart, "restart", dict(faulted, pid=new_pid, outcome="started", detail=f"port {dw_port[FAULTED_REPLICA]}")))
    events.append((ready_again, "ready", dict(faulted, pid=new_pid, outcome="ready")))

    # -- the records ----------------------------------------------------------------------------
    n = clients * requests_per_client
    gaps_per_record = MAX_TOKENS - 1
    ttft = 0.045 + rng.gamma(4.0, 0.004, n)
    itl = rng.lognormal(math.log(0.0203), 0.12, (n, gaps_per_record))
    spikes = rng.random((n, gaps_per_record)) < 0.003
    itl[spikes] += rng.exponential(0.05, int(spikes.sum()))
    tokens = np.where(rng.random(n) < 0.92, MAX_TOKENS, rng.integers(12, MAX_TOKENS, n))
    gap_sum = np.where(np.arange(gaps_per_record) < (tokens - 1)[:, None], itl, 0.0).sum(axis=1)
    worker = rng.integers(0, WORKERS, n).tolist()
    think = rng.uniform(0.0005, 0.004, n).tolist()
    choice = rng.random(n).tolist()
    fail_latency = rng.uniform(0.002, 0.06, n).tolist()
    ttft_l, gap_sum_l, tokens_l, itl_rows = ttft.tolist(), gap_sum.tolist(), tokens.tolist(), itl.tolist()
    dead_url = f"http://127.0.0.1:{dw_port[FAULTED_REPLICA]}"

    starts: list[float] = []
    ends: list[float] = []
    for c in range(clients):
        t = load_start + RAMP_UP_S * c / clients
        lines = []
        for s in range(requests_per_client):
            i = c * requests_per_client + s
            k = tokens_l[i]
            first, gaps, gsum = ttft_l[i], itl_rows[i][: k - 1], gap_sum_l[i]
            if fault <= t < ready_again:
                first, gaps, gsum = first * SLOWDOWN, [g * SLOWDOWN for g in gaps], gsum * SLOWDOWN
            latency = first + gsum + 0.001
            on_dead = worker[i] == FAULTED_REPLICA
            kind = None
            if on_dead and t < fault < t + latency:
                # Streaming from the worker when it was killed: the stream breaks at the fault.
                received, at = 0, first
                while received < k and at < fault - t:
                    received += 1
                    at += gaps[received - 1] if received - 1 < len(gaps) else 0.0
                kind = "stream_error" if choice[i] < 0.7 else "connection_reset"
                latency = fault - t + fail_latency[i]
                first = first if received else None
                gaps = gaps[: max(received - 1, 0)]
                k = received
            elif on_dead and fault <= t < fault + DETECT_S:
                # Routed to the dead worker before the processors stopped choosing it.
                u = choice[i]
                kind = "connection_reset" if u < 0.6 else "stream_error" if u < 0.85 else "timeout"
                latency = REQUEST_TIMEOUT_S if kind == "timeout" else fail_latency[i]
                first, gaps, k = None, [], 0
            start_time = WALL_ORIGIN + t + 0.00012
            if kind is None:
                status, finish, http, error = "success", "length" if k == MAX_TOKENS else "stop", 200, None
            else:
                status, finish = "failure", None
                http = 200 if kind == "stream_error" or k else None
                error = {
                    "stream_error": f"worker {dead_url} disconnected" if k else f"worker {dead_url} unavailable: Connection refused",
                    "connection_reset": "ConnectionResetError: [Errno 104] Connection reset by peer",
                    "timeout": f"Timeout: {REQUEST_TIMEOUT_S} seconds",
                }[kind]
            record = RequestRecord(
                client=c,
                seq=s,
                start_time=start_time,
                end_time=start_time + latency,
                start_offset_s=t,
                latency_s=latency,
                status=status,
                ttft_s=first,
                itl_s=tuple(gaps),
                output_tokens=k,
                finish_reason=finish,
                http_status=http,
                error_kind=None if kind is None else FailureKind(kind),
                error=error,
            )
            lines.append(record.to_json())
            starts.append(t)
            ends.append(t + latency)
            t += latency + think[i] + (RETRY_DELAY_S if kind else 0.0)
        layout.client_records(c).write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- teardown -------------------------------------------------------------------------------
    load_end = max(ends)
    down = load_end + 0.3
    teardown = [("frontend", 0, 40131)] + [("processor", r, 40121 + r) for r in range(PROCESSORS)]
    teardown += [("decode_worker", r, new_pid if r == FAULTED_REPLICA else 40101 + 2 * r) for r in range(WORKERS)]
    for position, (component, replica, pid) in enumerate(teardown):
        at = down + 0.002 * position
        events.append((at, "stop", dict(component=component, replica=replica, pid=pid, signal="SIGTERM", outcome="delivered")))
        events.append((at + 0.001, "exit", dict(component=component, replica=replica, pid=pid, outcome="killed by SIGTERM", detail="teardown", teardown=True)))
    ended = down + 0.002 * len(teardown) + 0.05

    clock = _ScriptedClock(WALL_ORIGIN)
    log = EventLog(layout.events, clock)
    for offset, kind, attrs in sorted(events, key=lambda e: e[0]):
        clock.now = offset
        log.emit(EventKind(kind), **attrs)
    log.close()

    # -- samplers: they run from the start of the load to its end --------------------------------
    starts_sorted, ends_sorted = np.sort(np.array(starts)), np.sort(np.array(ends))
    watcher_rows = []
    for j in range(int((load_end - load_start) / 0.5) + 1):
        t = load_start + 0.5 * j + float(rng.uniform(0.0005, 0.004))
        in_flight = int(np.searchsorted(starts_sorted, t, "right") - np.searchsorted(ends_sorted, t, "right"))
        active = 3.0 if fault + 0.3 <= t < ready_again else 4.0
        watcher_rows.append((WALL_ORIGIN + t, t, True, float(in_flight), active))
    _write_csv(layout.watcher, WATCHER_COLUMNS, watcher_rows)

    procs = _processes(dw_launch, proc_launch, fe_launch, fault, restart, ready_again)
    seen: set[int] = set()
    process_rows, gpu_rows = [], []
    for j in range(int(load_end - load_start) + 1):
        t = load_start + j + float(rng.uniform(0.001, 0.006))
        wall = WALL_ORIGIN + t
        for p in procs:
            if not p.alive(t):
                continue
            cpu = p.cpu_pct * float(rng.uniform(0.8, 1.2)) if p.pid in seen else None
            seen.add(p.pid)
            rss = p.rss_mib + 0.02 * (t - p.born) + float(rng.uniform(0, 2))
            status = "running" if rng.random() < 0.3 else "sleeping"
            process_rows.append((wall, t, p.component, p.replica, p.instance, p.role, p.pid, p.ppid, p.leader_pid, False, status, cpu, rss, p.threads))
        for g in range(WORKERS):
            holders = [p for p in procs if p.gpu == g and p.alive(t) and t >= p.gpu_from]
            serving = any(p.role == "engine" for p in holders)
            used = 612.0 + sum(p.gpu_mib for p in holders)
            util = float(rng.uniform(82, 97)) if serving else 0.0
            power = float(rng.uniform(380, 520)) if serving else float(rng.uniform(68, 75))
            temp = float(rng.integers(58, 71)) if serving else float(rng.integers(38, 45))
            gpu_rows.append((wall, t, g, GPU_NAME, "device", util, used, GPU_TOTAL_MIB, power, temp) + (None,) * 8)
            for p in sorted(holders, key=lambda p: p.pid):
                owner = (p.component, p.replica, p.instance, p.role, p.leader_pid, False)
                gpu_rows.append((wall, t, g, GPU_NAME, "process") + (None,) * 5 + (p.pid, p.gpu_mib) + owner)
    _write_csv(layout.processes, PROCESS_COLUMNS, process_rows)
    _write_csv(layout.gpu, GPU_COLUMNS, gpu_rows)

    # -- the manifest ---------------------------------------------------------------------------
    load = {
        "clients": clients,
        "ramp_up_s": RAMP_UP_S,
        "requests_per_client": requests_per_client,
        "max_tokens": MAX_TOKENS,
        "prompt": "synthetic prompt of 64 words",
        "stream": True,
        "request_timeout_s": REQUEST_TIMEOUT_S,
        "retry_delay_s": RETRY_DELAY_S,
        "sla_latency_s": SLA_LATENCY_S,
        "max_run_time_s": math.ceil(load_estimate * 2),
    }
    command = (
        "locust -f locustfiles/fault_tolerance.py --headless --deployment agg-dp4 --failure decode_worker "
        f"--fault-at {fault_at_s} --clients {clients} --requests-per-client {requests_per_client}"
    )
    manifest = RunManifest(
        deployment="agg-dp4",
        failure="decode_worker",
        sla_latency_s=SLA_LATENCY_S,
        command=command,
        started_at=WALL_ORIGIN,
        ended_at=WALL_ORIGIN + ended,
        startup_time_s=startup_time_s,
        load=load,
        versions={"python": "3.11.7", "platform": f"synthetic (benchmarks.synthetic_run, seed {seed})", "llm-fault-suite": "0.1.0"},
    )
    write_manifest(manifest, run_dir)
