"""What a fault kind is given to do its damage: how to signal a target and record it."""

import os
import signal
from dataclasses import dataclass

from chaos.targets import SignalTarget
from reports.events import EventKind, EventLog

__all__ = ["FaultContext"]

SCOPE_DETAIL = {"group": "process group", "leader": "its own process only", "child": "{child} child"}


@dataclass(frozen=True)
class FaultContext:
    failure_name: str
    events: EventLog
    scheduled_offset_s: float | None = None

    def send(self, target: SignalTarget, sig: signal.Signals, kind: EventKind = "fault", at_teardown: bool = False) -> str:
        """Signal the target (its whole process group, or the one process), record an event
        with the outcome, and return the outcome: `delivered` or `process gone`.

        `at_teardown` marks a signal sent because the run is ending, not on schedule: its
        event's detail is `teardown`, like the launcher's, and it says nothing of recovery."""
        try:
            if target.scope == "group":
                os.killpg(target.pid, sig)
            else:
                os.kill(target.pid, sig)
            outcome = "delivered"
        except ProcessLookupError:
            outcome = "process gone"
        self.events.emit(
            kind,
            component=target.replica.role,
            replica=target.replica.index,
            pid=target.pid,
            signal=sig.name,
            outcome=outcome,
            scheduled_offset_s=self.scheduled_offset_s,
            detail="teardown" if at_teardown else f"failure {self.failure_name}: {SCOPE_DETAIL[target.scope].format(child=target.child)}",
        )
        return outcome
