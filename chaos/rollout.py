"""A rolling restart under load: every replica of a role replaced, a few at a time.

Each step stops `max_unavailable` replicas with a graceful signal (a `fault` event each, with
its proof), has the deployment start each anew at once, whatever its restart policy, and
waits until every replacement is ready, at most `step_timeout_s`. Each replacement is a
`rollout` event: `replaced` (old pid, new pid, seconds) or `timed out`, which halts the
rollout, as `kubectl rollout` does. The rollout's end is one more: `done` or `halted`.
A deployment that cannot start processes (an attached one) gets a `not_applicable` event,
and nothing is stopped.
"""

import signal
import time
from typing import Literal

from pydantic import Field, model_validator

from chaos.context import FaultContext
from chaos.models import Injection, Select, register_kind
from deployments.interface import FaultTarget
from faultsuite.events import EventKind, FaultOutcome

__all__ = ["RollingRestartInjection"]


@register_kind
class RollingRestartInjection(Injection):
    """Replace every replica of `target.role` (or `count` of them), `max_unavailable` at a time,
    in the order `select` gives (default: the oldest first)."""

    kind: Literal["rolling_restart"] = "rolling_restart"
    signal: Literal["SIGTERM", "SIGINT", "SIGQUIT"] = "SIGTERM"
    max_unavailable: int = Field(1, ge=1, le=10_000, description="replicas replaced at once")
    step_timeout_s: float = Field(60.0, gt=0, le=3600, description="how long each step's replacements may take to be ready")
    count: int = Field(10_000, ge=1, le=10_000, description="how many replicas to replace (default: all)")
    select: Select = "oldest"

    @property
    def count_is_a_ceiling(self) -> bool:
        return True

    @model_validator(mode="after")
    def _whole_replicas(self) -> "RollingRestartInjection":
        if self.target.child is not None or self.target.leader_only:
            raise ValueError("a rolling restart replaces whole replicas: target takes no child or leader_only")
        return self

    @property
    def signal_name(self) -> str:
        return self.signal

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        started = time.monotonic()
        steps = [targets[i : i + self.max_unavailable] for i in range(0, len(targets), self.max_unavailable)]
        role = targets[0].replica.role
        for number, step in enumerate(steps, 1):
            note = f"rolling restart step {number} of {len(steps)}"
            if not all(context.deployment.will_replace(target.replica) for target in step):
                context.deployment.events.emit(
                    EventKind.NOT_APPLICABLE, component=role, outcome=FaultOutcome.NOT_APPLICABLE, failure=context.failure_name,
                    scheduled_offset_s=context.scheduled_offset_s, detail=f"failure {context.failure_name}: this deployment cannot start replicas, so none is stopped",
                )  # fmt: skip
                return
            stopped = [t for t in step if context.send(t, signal.Signals[self.signal], note=note) == FaultOutcome.DELIVERED]
            if not self._replaced(stopped, note, context):
                self._end(context, role, "halted", f"step {number} of {len(steps)} timed out after {time.monotonic() - started:.1f} s")
                return
        self._end(context, role, "done", f"{len(targets)} replicas of {role} replaced in {len(steps)} steps, {time.monotonic() - started:.1f} s")

    def _replaced(self, stopped: list[FaultTarget], note: str, context: FaultContext) -> bool:
        """Wait for each stopped replica's replacement; False when one was not ready in time."""
        all_ready = True
        for target in stopped:
            waited = time.monotonic()
            new_pid = context.deployment.ready_replacement(target.replica, target.pid, self.step_timeout_s)
            took = time.monotonic() - waited
            if new_pid is None:
                all_ready = False
                context.record(target, "timed out", EventKind.ROLLOUT, detail=f"{note}: no replacement of pid {target.pid} ready within {self.step_timeout_s:g} s")  # type: ignore[arg-type]
            else:
                context.record(target, "replaced", EventKind.ROLLOUT, detail=f"{note}: pid {target.pid} replaced by pid {new_pid}, ready {took:.2f} s later")  # type: ignore[arg-type]
        return all_ready

    @staticmethod
    def _end(context: FaultContext, role: str, outcome: str, detail: str) -> None:
        context.deployment.events.emit(
            EventKind.ROLLOUT, component=role, outcome=outcome, failure=context.failure_name,
            scheduled_offset_s=context.scheduled_offset_s, detail=f"failure {context.failure_name}: {detail}",
        )  # fmt: skip
