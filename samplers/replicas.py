"""The replica sampler: each replica's own requests in flight, into `replicas.csv`.

Only the roles whose component declares `metrics.in_flight` (the embedded decode workers do)
are read, every `interval_s`, all at once. A replica that does not answer (down, restarting)
is a row with no value, never skipped. With these rows the summary can say what a fault did
to the replicas it did not touch: the load they took over.
"""

from dataclasses import astuple
from pathlib import Path

import gevent

from deployments.interface import Deployment
from faultsuite.clock import RunClock
from faultsuite.samples import REPLICA_COLUMNS, ReplicaSample
from samplers.sampling import CsvSampler

__all__ = ["ReplicaSampler", "sampled_roles"]


def sampled_roles(deployment: Deployment) -> dict[str, str]:
    """Role → its in-flight series, for the roles that declare one."""
    spec = deployment.spec
    return {role: metrics.in_flight for role in spec.roles if (metrics := spec.replica_metrics(role)) is not None and metrics.in_flight}


class ReplicaSampler(CsvSampler):
    columns = REPLICA_COLUMNS

    def __init__(self, deployment: Deployment, path: Path, clock: RunClock, interval_s: float = 0.5):
        super().__init__(path, clock, interval_s)
        self.deployment = deployment
        self.series = sampled_roles(deployment)

    def sample(self, wall: float, offset: float) -> list[tuple]:
        replicas = [r for r in self.deployment.replicas if r.role in self.series]
        reads = [gevent.spawn(self.deployment.replica_metric, r, self.series[r.role], 0.4) for r in replicas]
        gevent.joinall(reads)
        return [astuple(ReplicaSample(wall, offset, r.role, r.index, read.value)) for r, read in zip(replicas, reads)]
