"""Events: what the supervisor and chaos did, with pid, time and outcome, in `events.csv`.

Each event is appended and flushed as it happens. Kinds, fault outcomes and a fault's scope
are enums, and what a fault aimed at (its failure, scope, child role, whether the run was
ending) are fields of their own: readers use those, never the `detail` text, which is for
people.
"""

import csv
import logging
import threading
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

from faultsuite.clock import RunClock

__all__ = ["Event", "EventKind", "EventLog", "FaultOutcome", "TargetScope", "log_line", "read_events"]

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    LAUNCH = "launch"  # a component process was started
    READY = "ready"  # a component passed its ready probe
    EXIT = "exit"  # a component process ended (outcome: exit code or signal)
    RESTART = "restart"  # the supervisor is starting a replacement
    FAULT = "fault"  # chaos acted on a process
    RESUME = "resume"  # chaos ended a hang (SIGCONT)
    HEAL = "heal"  # chaos took a network fault off a link
    PROOF = "proof"  # chaos checked that a fault took effect (outcome confirmed or no_effect)
    ROLLOUT = "rollout"  # a rolling restart's step ended (outcome replaced or timed out) or the rollout did
    NOT_APPLICABLE = "not_applicable"  # a failure named a role the deployment lacks, or nothing to select
    WARMUP = "warmup"  # the warm-up request after launch
    STOP = "stop"  # teardown signalled a component
    ATTACH = "attach"  # a process of an attached deployment was matched by its selector
    STALL = "stall"  # a replica's health probe said ok while it served nothing (faultsuite.stalls), or that is over


class FaultOutcome(StrEnum):
    """What became of one fault action, as its event's `outcome`."""

    DELIVERED = "delivered"
    PROCESS_GONE = "process gone"
    NOT_APPLICABLE = "not applicable"
    #: A `not_applicable` event beside faults that were delivered: fewer targets than asked.
    FEWER_TARGETS = "fewer targets"
    CONFIRMED = "confirmed"  # a proof event: the fault's effect was seen
    NO_EFFECT = "no_effect"  # a proof event: it was not; the run's numbers say nothing of that fault
    #: A fault for a role another host's fault agent owns, when that agent could not be reached.
    NOT_DELIVERED = "not_delivered"


class TargetScope(StrEnum):
    """What a fault reached: a replica's process group, its own process alone, one child, or
    the link from another role (`Event.link_from`) to the replica."""

    GROUP = "group"
    LEADER = "leader"
    CHILD = "child"
    LINK = "link"


@dataclass(frozen=True)
class Event:
    """One thing that happened to the deployment. `component` is the role, `replica` its index.

    For chaos's events, `failure` names the failure, `scope` and `child` say what was aimed at,
    `link_from` names the caller of a faulted link (`client` for the load's own connections;
    its `pid` is then the fault proxy's), and `teardown` marks an action taken because the run
    was ending, not on schedule. `host` is the machine that acted and `agent` the fault agent
    there (`--fault-agent`), empty when the runner itself acted."""

    time: float
    offset_s: float
    kind: EventKind
    component: str = ""
    replica: int | None = None
    pid: int | None = None
    signal: str = ""
    outcome: str = ""
    scheduled_offset_s: float | None = None
    detail: str = ""
    failure: str = ""
    scope: TargetScope | None = None
    child: str = ""
    teardown: bool = False
    link_from: str = ""
    agent: str = ""
    host: str = ""

    @property
    def instance(self) -> str:
        """`decode_worker_1`, or just the role for a component with no replica index."""
        return self.component if self.replica is None else f"{self.component}_{self.replica}"

    @property
    def delivered_fault(self) -> bool:
        return self.kind == EventKind.FAULT and self.outcome == FaultOutcome.DELIVERED


COLUMNS = tuple(f.name for f in fields(Event))


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


def log_line(event: Event) -> str:
    """The event as one terminal line, in columns that line up from event to event: kind,
    instance, pid, signal, outcome, detail; a field it lacks is blank, not `None`."""
    pid = f"pid {event.pid}" if event.pid is not None else ""
    line = f"event {event.kind:<14} {event.instance:<18} {pid:<10} {event.signal or '':<8} {event.outcome}"
    return f"{line}  {event.detail}" if event.detail else line


class EventLog:
    """Thread- and greenlet-safe appender of events to one CSV file."""

    def __init__(self, path: Path, clock: RunClock):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()
        self._events: list[Event] = []

    def emit(self, kind: EventKind, at: tuple[float, float] | None = None, **attrs) -> Event:
        """Stamp and write one event; returns it. `at`, a (wall, offset) stamp taken earlier,
        dates an action from when it was asked for: one whose effect may be seen before the
        call that made it returns."""
        wall, offset = self.clock.stamp() if at is None else at
        event = Event(time=wall, offset_s=offset, kind=kind, **attrs)
        with self._lock:
            self._events.append(event)
            if not self._file.closed:
                self._writer.writerow([_cell(getattr(event, name)) for name in COLUMNS])
                self._file.flush()
        log.info("%s", log_line(event))
        return event

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _parse(row: dict[str, str]) -> Event:
    def opt_float(text: str) -> float | None:
        return float(text) if text else None

    def opt_int(text: str) -> int | None:
        return int(text) if text else None

    # Files written before `failure`, `scope`, `child` and `teardown` were columns lack them;
    # there, a teardown action was the one whose detail read "teardown".
    teardown = row["teardown"] == "1" if "teardown" in row else row["detail"] == "teardown"
    return Event(
        time=float(row["time"]),
        offset_s=float(row["offset_s"]),
        kind=EventKind(row["kind"]),
        component=row["component"],
        replica=opt_int(row["replica"]),
        pid=opt_int(row["pid"]),
        signal=row["signal"],
        outcome=row["outcome"],
        scheduled_offset_s=opt_float(row["scheduled_offset_s"]),
        detail=row["detail"],
        failure=row.get("failure") or "",
        scope=TargetScope(row["scope"]) if row.get("scope") else None,
        child=row.get("child") or "",
        teardown=teardown,
        link_from=row.get("link_from") or "",
        agent=row.get("agent") or "",
        host=row.get("host") or "",
    )


def read_events(path: Path) -> list[Event]:
    """Events from an `events.csv`; an absent file reads as no events."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as src:
        return [_parse(row) for row in csv.DictReader(src)]
