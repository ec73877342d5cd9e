"""Network faults on a deployment's declared links, one small class per toxic of the fault
proxy (`deployments.fault_proxy`, which says what each does to the bytes).

Each takes the role whose connections are faulted (`caller`: a component's role, or `client`
for the load's own) and the callee (`target.role`, `count` of its replicas, picked by
`select`). The toxic is put on each chosen route at `at_s` (a `fault` event), and taken off
`duration_s` later (a `heal` event, with the proxy's counters for the route over that time),
and the counters then prove it took effect, or not (a `proof` event, `chaos.proof`).
"""

from typing import Literal

import gevent
from pydantic import Field, model_validator

from chaos.context import FaultContext
from chaos.models import Injection, register_kind
from deployments.interface import LinkTarget
from faultsuite.events import EventKind, FaultOutcome

__all__ = [
    "BandwidthInjection",
    "LatencyInjection",
    "LimitDataInjection",
    "LinkInjection",
    "PartitionInjection",
    "ResetInjection",
    "SlowCloseInjection",
]


def _counted(counters: dict) -> str:
    """The proxy's non-zero counters, `name=value` each, for an event's detail."""
    return " ".join(f"{name}={value}" for name, value in counters.items() if value) or "nothing counted"


class LinkInjection(Injection):
    """What every network fault shares: the link, how long, and the fault-then-heal."""

    caller: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="whose connections to target.role are faulted; `client` for the load's")
    duration_s: float = Field(gt=0, le=86_400, description="seconds before the link is healed")

    @model_validator(mode="after")
    def _a_role_not_a_process(self) -> "LinkInjection":
        if self.target.child is not None or self.target.leader_only:
            raise ValueError("a network fault acts on a link to a role's replicas: target takes no child or leader_only")
        return self

    def toxic(self) -> dict:
        """The proxy's toxic: `kind` and the kind's own fields."""
        return self.model_dump(include={"kind", *self.toxic_fields()})

    def toxic_fields(self) -> set[str]:
        return set(type(self).model_fields) - set(LinkInjection.model_fields)

    @property
    def link_caller(self) -> str:
        return self.caller

    def apply(self, targets: list[LinkTarget], context: FaultContext) -> None:  # type: ignore[override]
        toxic = self.toxic()
        faulted = []
        events = context.deployment.events
        for target in targets:
            # Dated from the request: the proxy acts on it, and clients may see it, before it answers.
            asked = events.clock.stamp()
            outcome, counters = context.deployment.put_toxic(target, toxic)
            context.record_link(target, outcome, EventKind.FAULT, f"{self.kind} {self._settings()}".rstrip(), at=asked)
            if outcome == FaultOutcome.DELIVERED:
                faulted.append((target, counters))
        cut_short = True
        try:
            gevent.sleep(self.duration_s)
            cut_short = False
        finally:
            # Even when the run ends mid-fault: a partitioned link would hold the teardown's traffic.
            for target, before in faulted:
                asked = events.clock.stamp()
                outcome, after = context.deployment.heal_link(target)
                done = {name: value - before.get(name, 0) for name, value in after.items() if name != "open"}
                context.record_link(target, outcome, EventKind.HEAL, f"healed {self.kind}; proxy counted {_counted(done)}", at_teardown=cut_short, at=asked)
                if outcome == FaultOutcome.DELIVERED:
                    context.prove_toxic(target, self.kind, done)

    def _settings(self) -> str:
        return " ".join(f"{name}={value:g}" if isinstance(value, (int, float)) else f"{name}={value}" for name, value in self.toxic().items() if name != "kind")


@register_kind
class LatencyInjection(LinkInjection):
    """Every chunk the callee sends reaches the caller `ms` later (give or take `jitter_ms`)."""

    kind: Literal["latency"] = "latency"
    ms: float = Field(gt=0, le=600_000)
    jitter_ms: float = Field(0.0, ge=0, le=600_000)


@register_kind
class BandwidthInjection(LinkInjection):
    """The callee's bytes reach the caller at most `kib_per_s` KiB a second."""

    kind: Literal["bandwidth"] = "bandwidth"
    kib_per_s: float = Field(gt=0, le=10_000_000)


@register_kind
class ResetInjection(LinkInjection):
    """Every open connection, and every new one until healed, ends with a TCP RST."""

    kind: Literal["reset"] = "reset"


@register_kind
class PartitionInjection(LinkInjection):
    """No byte passes either way, on open connections and new ones, until healed."""

    kind: Literal["partition"] = "partition"


@register_kind
class SlowCloseInjection(LinkInjection):
    """A close by either side reaches the other `delay_ms` later."""

    kind: Literal["slow_close"] = "slow_close"
    delay_ms: float = Field(gt=0, le=600_000)


@register_kind
class LimitDataInjection(LinkInjection):
    """Each connection is closed once `bytes` more of the callee's have passed: streams end
    mid-answer. `at: event` closes it at the end of the event in flight, so the client sees a
    stream that ended between two events (`incomplete_stream`); `at: byte` exactly there,
    mid-chunk (`connection_reset`)."""

    kind: Literal["limit_data"] = "limit_data"
    bytes: int = Field(gt=0, le=1 << 40)
    at: Literal["event", "byte"] = Field("event", description="where the cut falls once `bytes` have passed")
