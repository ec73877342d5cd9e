"""What a fault kind is given to do its damage: the deployment to act through, how to
record each action as an event, and the proof that it took effect (`chaos.proof`)."""

import signal
from dataclasses import dataclass, field

from chaos.proof import Proofs, warn_no_effect
from deployments.interface import Deployment, FaultTarget, LinkTarget
from faultsuite.events import Event, EventKind, FaultOutcome, TargetScope

__all__ = ["FaultContext"]

#: How an event's `detail` names what a signal reached, for people reading the log.
SCOPE_DETAIL = {TargetScope.GROUP: "process group", TargetScope.LEADER: "its own process only", TargetScope.CHILD: "{child} child"}


@dataclass(frozen=True)
class FaultContext:
    failure_name: str
    deployment: Deployment
    scheduled_offset_s: float | None = None
    proofs: Proofs = field(default_factory=Proofs)
    #: Who acts, for every event: the fault agent (`--fault-agent`; empty for the runner) and its host.
    agent: str = ""
    host: str = ""

    def record(
        self,
        target: FaultTarget,
        outcome: FaultOutcome,
        kind: EventKind = EventKind.FAULT,
        signal_name: str = "",
        at_teardown: bool = False,
        detail: str | None = None,
        note: str = "",
    ) -> Event:
        """Write the event of one action on `target`, with the failure, its scope and child as
        fields. `at_teardown` marks an action taken because the run is ending, not on
        schedule: it says nothing of recovery. Without a `detail`, one is made for people,
        ending with `note` (e.g. a rollout's step) and why the target was chosen."""
        if detail is None:
            detail = "teardown" if at_teardown else f"failure {self.failure_name}: {SCOPE_DETAIL[target.scope].format(child=target.child)}"
            if note:
                detail += f"; {note}"
            if target.chosen_because and kind == EventKind.FAULT:
                detail += f"; {target.chosen_because}"
        return self.deployment.events.emit(
            kind,
            component=target.replica.role,
            replica=target.replica.index,
            pid=target.pid,
            signal=signal_name,
            outcome=outcome,
            scheduled_offset_s=self.scheduled_offset_s,
            detail=detail,
            failure=self.failure_name,
            scope=target.scope,
            child=target.child or "",
            teardown=at_teardown,
            agent=self.agent,
            host=self.host,
        )

    def record_link(
        self, target: LinkTarget, outcome: FaultOutcome, kind: EventKind, detail: str, at_teardown: bool = False, at: tuple[float, float] | None = None
    ) -> Event:
        """Write the event of one action on a link's route: the callee's instance, the
        caller in `link_from`, the fault proxy's pid. A proof's `detail` is its evidence
        alone; any other's is prefixed with the failure and the link, for people. `at`: when
        the action was asked of the proxy (see `EventLog.emit`)."""
        route = target.route
        if kind == EventKind.FAULT and target.chosen_because:
            detail += f"; {target.chosen_because}"
        if kind != EventKind.PROOF:
            detail = f"failure {self.failure_name}: link {route.caller} -> {route.callee}_{route.replica}: {detail}"
        return self.deployment.events.emit(
            kind,
            at,
            component=route.callee,
            replica=route.replica,
            pid=target.pid,
            outcome=outcome,
            scheduled_offset_s=self.scheduled_offset_s,
            detail=detail,
            failure=self.failure_name,
            scope=TargetScope.LINK,
            teardown=at_teardown,
            link_from=route.caller,
            agent=self.agent,
            host=self.host,
        )

    def send(self, target: FaultTarget, sig: signal.Signals, kind: EventKind = EventKind.FAULT, at_teardown: bool = False, note: str = "") -> FaultOutcome:
        """Signal the target through the deployment, record the event, and return the outcome;
        a delivered fault's proof follows as an event of its own."""
        outcome = self.deployment.signal(target, sig)
        self.record(target, outcome, kind, sig.name, at_teardown, note=note)
        if outcome == FaultOutcome.DELIVERED and kind == EventKind.FAULT and not at_teardown:
            self.proofs.after_signal(lambda result, detail: self.prove(target, result, detail, sig.name), target.pid, sig.name)
        return outcome

    def prove(self, target: FaultTarget, outcome: FaultOutcome, detail: str, signal_name: str = "") -> None:
        """Record the proof of a fault on `target`, `detail` its evidence; a `no_effect` is
        also a warning in the log."""
        event = self.record(target, outcome, EventKind.PROOF, signal_name, detail=detail)
        if outcome == FaultOutcome.NO_EFFECT:
            warn_no_effect(self.failure_name, f"{event.instance} (pid {target.pid})", detail)

    def prove_toxic(self, target: LinkTarget, kind: str, counted: dict) -> None:
        """The proof of a toxic, from what the proxy counted while it was on."""

        def proved(outcome: FaultOutcome, detail: str) -> None:
            event = self.record_link(target, outcome, EventKind.PROOF, detail)
            if outcome == FaultOutcome.NO_EFFECT:
                warn_no_effect(self.failure_name, f"link {target.route.caller} -> {event.instance}", detail)

        Proofs.of_toxic(proved, kind, counted)
