"""The kinds of fault, one small class each. Adding a kind means adding a class here (or in
any imported module) with `@register_kind`, and using its `kind:` in `failures.yaml`."""

import signal
from typing import Literal

import gevent
from pydantic import Field

from chaos.context import FaultContext
from chaos.models import Injection, register_kind
from deployments.interface import FaultTarget
from faultsuite.events import EventKind, FaultOutcome

__all__ = ["HangInjection", "SignalInjection"]


@register_kind
class SignalInjection(Injection):
    """Send one signal: SIGKILL (a crash), SIGTERM (a graceful stop), SIGINT or SIGQUIT."""

    kind: Literal["signal"] = "signal"
    signal: Literal["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"] = "SIGKILL"

    @property
    def signal_name(self) -> str:
        return self.signal

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        for target in targets:
            context.send(target, signal.Signals[self.signal])


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
