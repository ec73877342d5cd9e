"""Events: what the supervisor and chaos did, with pid, time and outcome, in `events.csv`.

Each event is appended and flushed as it happens. Listeners (the web UI, later) may subscribe;
a listener that raises is logged and never stops the run.
"""

import csv
import logging
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Literal

from faultsuite.clock import RunClock

__all__ = ["EVENT_KINDS", "Event", "EventLog", "read_events"]

log = logging.getLogger(__name__)

EventKind = Literal[
    "launch",  # a component process was started
    "ready",  # a component passed its ready probe
    "exit",  # a component process ended (outcome: exit code or signal)
    "restart",  # the supervisor is starting a replacement
    "fault",  # chaos signalled a process
    "resume",  # chaos ended a hang (SIGCONT)
    "not_applicable",  # a failure named a role the deployment lacks, or nothing to select
    "warmup",  # the warm-up request after launch
    "stop",  # teardown signalled a component
    "attach",  # a process of an attached deployment was matched by its selector
]
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Event:
    """One thing that happened to the deployment. `component` is the role, `replica` its index."""

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

    @property
    def instance(self) -> str:
        """`decode_worker_1`, or just the role for a component with no replica index."""
        return self.component if self.replica is None else f"{self.component}_{self.replica}"


COLUMNS = tuple(f.name for f in fields(Event))


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
        self._listeners: list[Callable[[Event], None]] = []

    def emit(self, kind: EventKind, **attrs) -> Event:
        """Stamp, write and broadcast one event; returns it."""
        wall, offset = self.clock.stamp()
        event = Event(time=wall, offset_s=offset, kind=kind, **attrs)
        with self._lock:
            self._events.append(event)
            if not self._file.closed:
                self._writer.writerow(["" if v is None else v for v in asdict(event).values()])
                self._file.flush()
        log.info(
            "event %s %s pid=%s %s %s %s",
            kind,
            event.instance,
            event.pid,
            event.signal,
            event.outcome,
            event.detail,
        )
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        return event

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

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

    return Event(
        time=float(row["time"]),
        offset_s=float(row["offset_s"]),
        kind=row["kind"],  # type: ignore[arg-type]
        component=row["component"],
        replica=opt_int(row["replica"]),
        pid=opt_int(row["pid"]),
        signal=row["signal"],
        outcome=row["outcome"],
        scheduled_offset_s=opt_float(row["scheduled_offset_s"]),
        detail=row["detail"],
    )


def read_events(path: Path) -> list[Event]:
    """Events from an `events.csv`; an absent file reads as no events."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as src:
        return [_parse(row) for row in csv.DictReader(src)]
