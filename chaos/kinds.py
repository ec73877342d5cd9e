"""The kinds of fault, one small class each. Adding a kind means adding a class here (or in
any imported module) with `@register_kind`, and using its `kind:` in `failures.yaml`."""

import signal
from typing import Literal

import gevent
from pydantic import Field

from chaos.context import FaultContext
from chaos.models import Injection, register_kind
from deployments.interface import FaultTarget
from faultsuite.events import EventKind, FaultOutcome, TargetScope

__all__ = ["HangInjection", "SignalInjection"]


@register_kind
class SignalInjection(Injection):
    """Send one signal: SIGKILL (a crash), SIGTERM (a graceful stop), SIGINT or SIGQUIT."""

    kind: Literal["signal"] = "signal"
    signal: Literal["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"] = "SIGKILL"
    down_s: float | None = Field(
        None, gt=0, le=86_400, description="keep the replica down this long before its restart (default: its restart policy's delay_s)"
    )

    @property
    def signal_name(self) -> str:
        return self.signal

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        for target in targets:
            note = ""
            if self.down_s is not None and target.scope != TargetScope.CHILD:
                held = context.deployment.hold_down(target.replica, self.down_s)
                note = f"kept down {self.down_s:g} s" if held else "cannot be kept down: the deployment does not restart it"
            if context.send(target, signal.Signals[self.signal], note=note) != FaultOutcome.DELIVERED and note:
                context.deployment.hold_down(target.replica, None)  # no exit of its is coming: nothing to hold


@register_kind
class HangInjection(Injection):
    """A gray failure: SIGSTOP, so the process is alive but silent, then SIGCONT after
    `duration_s` (a `resume` event)."""

    kind: Literal["hang"] = "hang"
    duration_s: float = Field(gt=0, description="seconds the process stays stopped")

    @property
    def signal_name(self) -> str:
        return "SIGSTOP"

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        stopped = [t for t in targets if context.send(t, signal.SIGSTOP) == FaultOutcome.DELIVERED]
        cut_short = True
        try:
            gevent.sleep(self.duration_s)
            cut_short = False
        finally:
            # Even when the run ends mid-hang: a stopped process would ignore its SIGTERM.
            for target in stopped:
                context.send(target, signal.SIGCONT, kind=EventKind.RESUME, at_teardown=cut_short)
