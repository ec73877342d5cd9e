"""The fault-tolerance matrix: every deployment × failure, its load sizes, and its group tables."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from chaos.models import load_catalogue
from chaos.rollout import RollingRestartInjection
from chaos.targets import STATE_FIELDS
from deployments.models import embedded_deployments, load_deployment
from reports.render import render_group
from reports.results import summary_markdown
from reports.rundata import RunData, in_group_order, load_run

__all__ = ["FULL", "REDUCED", "GroupTables", "LoadSize", "Progress", "matrix_deployments", "matrix_pairs"]


@dataclass(frozen=True)
class LoadSize:
    """How hard and how long each run of the matrix is."""

    clients: int
    request_timeout_s: float
    fault_at_s: float
    #: Load goes on this long after the last injection, so recovery can happen and be seen.
    after_last_fault_s: float

    def options(self, last_fault_at_s: float) -> list[str]:
        return [
            "--clients", str(self.clients),
            # Effectively unbounded: the run is timed by --max-run-time, not by a request budget.
            "--requests-per-client", "100000",
            "--request-timeout", str(self.request_timeout_s),
            "--fault-at", str(self.fault_at_s),
            "--max-run-time", str(last_fault_at_s + self.after_last_fault_s),
        ]  # fmt: skip


#: What CI runs: fewer clients, short timeouts, just long enough to see each recovery.
REDUCED = LoadSize(clients=4, request_timeout_s=3.0, fault_at_s=1.5, after_last_fault_s=6.0)
#: `--ft-full`: the demo's load and the reference's timeouts.
FULL = LoadSize(clients=8, request_timeout_s=30.0, fault_at_s=5.0, after_last_fault_s=30.0)


def matrix_pairs() -> list[tuple[str, str]]:
    """The (embedded deployment, failure) pairs, by canonical failure name (no aliases).

    - A failure on links (one with a network fault) runs on each deployment that declares
      every link it faults. A deployment that declares links runs those and `none`: it is its
      base behind the fault proxy, and its base's runs cover every other failure.
    - A failure that chooses its target by state (`select: busiest`, ...) runs where there is a
      choice: more than one replica of its role.
    - A failure on roles no embedded deployment has (etcd, nats) is a backend's, tested with it
      (tests/findings), not here.
    - Every other pair runs, a role the deployment lacks included (the run says "not
      applicable").
    - A deployment that says `matrix: false` (agg-dp16, sized for benchmarks) runs none.
    """
    failures = load_catalogue().failures
    specs = {name: spec for name, spec in ((name, load_deployment(name)) for name in embedded_deployments()) if spec.matrix}
    embedded_roles = {role for spec in specs.values() for role in spec.roles}
    pairs = []
    for deployment, spec in specs.items():
        declared = {(link.caller, link.callee) for link in spec.links}
        for name, failure in failures.items():
            injections = failure.injections
            if injections and not {i.target.role for i in injections} & embedded_roles:
                continue
            links = {(i.link_caller, i.target.role) for i in injections if i.link_caller is not None}
            if not (links and links <= declared or not links and (not declared or name == "none")):
                continue
            by_state = [i for i in injections if i.select in STATE_FIELDS]
            if by_state and all((c := spec.component(i.target.role)) is None or c.replicas < 2 for i in by_state):
                continue
            pairs.append((deployment, name))
    return pairs


def matrix_deployments() -> list[str]:
    """The deployments the matrix runs, in its order."""
    return list(dict.fromkeys(deployment for deployment, _ in matrix_pairs()))


#: How long the embedded graph takes to replace one decode worker in a rolling restart: its
#: exit, 2 s of simulated model loading and its ready probe (2.7 s measured on agg-dp4).
ROLLING_STEP_S = 3.5


def last_fault_at_s(failure: str, size: LoadSize, deployment: str) -> float:
    """When the last injection of `failure` fires, with its first moved to `size.fault_at_s`;
    for a rolling restart, when its last step is due to be done on `deployment`."""
    shifted = load_catalogue().failures[failure].shifted_to(size.fault_at_s)
    spec = load_deployment(deployment)
    ends = []
    for injection in shifted.injections:
        for at in injection.schedule():
            steps = 0
            if isinstance(injection, RollingRestartInjection) and (component := spec.component(injection.target.role)) is not None:
                steps = -(-min(injection.count, component.replicas) // injection.max_unavailable)
            ends.append(at + steps * ROLLING_STEP_S)
    return max(ends, default=size.fault_at_s)


@dataclass
class GroupTables:
    """One group per deployment: its table and `group_report.html`, rewritten after every run
    so they are always on disk."""

    results: Path
    command: str
    runs: dict[str, list[RunData]] = field(default_factory=dict)

    def add(self, deployment: str, run_dir: Path) -> None:
        self.runs.setdefault(deployment, []).append(load_run(run_dir))
        render_group(self.results / deployment, self.runs[deployment])

    def rerun_command(self, deployment: str) -> str:
        """The command that runs exactly this group's rows again: the deployment's every pair
        when all of them ran, else the failures that did."""
        ran = list(dict.fromkeys(r.manifest.failure for r in in_group_order(self.runs[deployment])))
        every = [f for d, f in matrix_pairs() if d == deployment]
        failures = "" if set(ran) == set(every) else f" --ft-failure {','.join(ran)}"
        return f"{self.command} --ft-deployment {deployment}{failures}"

    def markdown(self, deployment: str) -> str:
        heading = f"## Test group: {deployment}\n\n`{self.rerun_command(deployment)}`\n\n"
        # In the group report's order: the `none` baseline first, then by failure.
        return heading + summary_markdown([r.summary.row() for r in in_group_order(self.runs[deployment])])


@dataclass
class Progress:
    """Run k of n, time elapsed, and an estimate of the time left from the mean so far."""

    total: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0

    def line(self, name: str) -> str:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        return f"[matrix] run {self.done} of {self.total} ({name}) done; elapsed {elapsed:.0f} s, about {left:.0f} s left"
