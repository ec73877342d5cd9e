"""Faults on other hosts: the injector's side of fault agents (`--fault-agent`).

An attach file's `hosts:` gives roles to agents, Locust workers on the machines where those
processes run. When an injection on such a role is due, the scheduler hands it to the agent
through `FaultAgents` (carried by Locust's messages: `locustfiles.fault_agent`), which
resolves and applies it there and sends back its events. An agent that cannot be reached when
its fault is due makes the fault `not_delivered`, with the reason, here.
"""

from typing import Protocol

from chaos.models import Injection

__all__ = ["FaultAgents"]


class FaultAgents(Protocol):
    def send(self, agent: str, failure_name: str, injection: Injection, scheduled_offset_s: float | None) -> str | None:
        """Hand `injection` to `agent` to apply now; None once it is on its way, else why it
        cannot be, as a clause: "not connected (...)", "its worker on HOST has left the run"."""

    def stop(self) -> None:
        """Have every agent end what it has under way (continue a hang) and settle its proofs."""
