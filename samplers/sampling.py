"""A sampler that appends rows to a CSV file at a fixed interval, in a greenlet.

Each tick's rows are written and flushed at once, so an interrupted run keeps every sample
taken. Ticks keep to the schedule (a slow sample delays the next, never shifts them all).
A tick that raises is logged and skipped: a sampler never stops the run.
"""

import csv
import logging
from pathlib import Path
from typing import IO, Iterable, Sequence

import gevent

from faultsuite.clock import RunClock
from faultsuite.samples import format_cell

__all__ = ["CsvSampler"]

log = logging.getLogger(__name__)


class CsvSampler:
    """Subclasses set `columns` and implement `sample(wall, offset)`, returning the tick's rows
    (each a sequence in `columns` order)."""

    columns: tuple[str, ...] = ()

    def __init__(self, path: Path, clock: RunClock, interval_s: float):
        self.path = path
        self.clock = clock
        self.interval_s = interval_s
        self._greenlet: gevent.Greenlet | None = None
        self._file: IO[str] | None = None

    def sample(self, wall: float, offset: float) -> Iterable[Sequence]:
        raise NotImplementedError

    def tick(self) -> None:
        """Take one sample now and append its rows."""
        assert self._file is not None, "start() first"
        wall, offset = self.clock.stamp()
        try:
            rows = list(self.sample(wall, offset))
        except Exception:
            log.exception("%s: sample failed", type(self).__name__)
            return
        writer = csv.writer(self._file)
        writer.writerows([format_cell(v) for v in row] for row in rows)
        self._file.flush()

    def _run(self) -> None:
        next_at = self.clock.offset()
        while True:
            self.tick()
            next_at += self.interval_s
            gevent.sleep(max(0.0, next_at - self.clock.offset()))

    def start(self) -> None:
        """Write the header and sample every `interval_s` until `stop()`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", encoding="utf-8")
        csv.writer(self._file).writerow(self.columns)
        self._file.flush()
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop sampling and close the file; safe to call twice or before start()."""
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None
        if self._file is not None:
            self._file.close()
            self._file = None
