"""The replica sampler: each replica's own requests in flight, progress and health, into
`replicas.csv`; and the silent stalls it sees, as events, as they happen.

Only the roles whose component declares `metrics.in_flight` or `metrics.progress` (the embedded
decode workers and vLLM do) are read, every `interval_s`, all at once: one read of each
replica's metrics page and one of its health probe. A replica that does not answer (down,
restarting) is a row with no value, never skipped. With these rows the summary can say what a
fault did to the replicas it did not touch (the load they took over), and whether a replica's
health probe said ok while it served nothing (`faultsuite.stalls`): a `stall` event when such a
stall has lasted long enough to count, and another when it is over.
"""

from dataclasses import astuple
from pathlib import Path

import gevent

from deployments.interface import Deployment, Replica
from faultsuite.clock import RunClock
from faultsuite.events import EventKind, EventLog
from faultsuite.samples import REPLICA_COLUMNS, ReplicaSample
from faultsuite.stalls import StallChange, StallTracker
from samplers.sampling import CsvSampler

__all__ = ["ReplicaSampler", "sampled_roles"]

#: How long one replica's reads may take, within the sampler's interval.
READ_TIMEOUT_S = 0.4


def sampled_roles(deployment: Deployment) -> dict[str, list[str]]:
    """Role → the series read from each of its replicas, for the roles that declare any."""
    spec = deployment.spec
    roles = {}
    for role in spec.roles:
        metrics = spec.replica_metrics(role)
        series = [] if metrics is None else [name for name in (metrics.in_flight, metrics.progress) if name]
        if series:
            roles[role] = series
    return roles


class ReplicaSampler(CsvSampler):
    columns = REPLICA_COLUMNS

    def __init__(self, deployment: Deployment, path: Path, clock: RunClock, events: EventLog | None = None, interval_s: float = 0.5):
        super().__init__(path, clock, interval_s)
        self.deployment = deployment
        self.events = events
        self.series = sampled_roles(deployment)
        self.stalls = StallTracker()

    def _read(self, replica: Replica, wall: float, offset: float) -> ReplicaSample:
        metrics = self.deployment.spec.replica_metrics(replica.role)
        assert metrics is not None
        reading = gevent.spawn(self.deployment.replica_metrics, replica, self.series[replica.role], READ_TIMEOUT_S)
        healthy = self.deployment.replica_healthy(replica, READ_TIMEOUT_S)
        values = reading.get()
        in_flight = values.get(metrics.in_flight) if metrics.in_flight else None
        progress = values.get(metrics.progress) if metrics.progress else None
        return ReplicaSample(wall, offset, replica.role, replica.index, in_flight, progress, healthy)

    def sample(self, wall: float, offset: float) -> list[tuple]:
        replicas = [r for r in self.deployment.replicas if r.role in self.series]
        reads = [gevent.spawn(self._read, r, wall, offset) for r in replicas]
        gevent.joinall(reads, raise_error=True)
        samples = [read.value for read in reads]
        for replica, sample in zip(replicas, samples):
            self._log(replica, self.stalls.feed(sample), offset)
        return [astuple(sample) for sample in samples]

    def stop(self) -> None:
        """Stop sampling; a stall still on is over with the run."""
        super().stop()
        replicas = {(r.role, r.index): r for r in self.deployment.replicas}
        for change in self.stalls.finish():
            self._log(replicas[(change.component, change.replica)], change, change.end_s or 0.0)

    def _log(self, replica: Replica, change: StallChange | None, offset: float) -> None:
        if change is None or self.events is None:
            return
        outcome = "health ok, nothing served" if change.kind == "began" else "over"
        self.events.emit(EventKind.STALL, component=replica.role, replica=replica.index, pid=replica.pid, outcome=outcome, detail=change.describe(offset))
