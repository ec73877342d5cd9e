"""The watcher: samples the deployment's Prometheus `/metrics` into `watcher.csv`.

Which series mean "pending requests", "active workers" and "migrations" is the deployment's to say
(`metrics:` in its YAML). A scrape that fails is recorded as a row with `up=0`, never
skipped, so a gap in the chart is a gap in the deployment: that includes a scrape that takes
longer than its timeout in all (not per read), and a page larger than `MAX_PAGE_BYTES`.

The page is read by `faultsuite.prometheus`, which hands Prometheus's parser only the wanted
series' lines, so a page of many megabytes of other series costs the run milliseconds.
"""

import logging
from dataclasses import astuple, dataclass
from pathlib import Path

from faultsuite.bounded_http import HttpError, fetch
from faultsuite.clock import RunClock
from faultsuite.prometheus import series_totals
from faultsuite.samples import WATCHER_COLUMNS, WatcherSample
from samplers.sampling import CsvSampler

__all__ = ["MAX_PAGE_BYTES", "MetricNames", "Watcher", "parse_metrics"]

log = logging.getLogger(__name__)

#: A /metrics page larger than this is a failed scrape.
MAX_PAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class MetricNames:
    """The series (sample names, as exposed) to read; unset ones are left blank."""

    pending: str | None
    active_workers: str | None
    migrations: str | None = None


def parse_metrics(page: bytes, names: MetricNames) -> tuple[float | None, float | None, float | None]:
    """(pending, active workers, migrations) from a Prometheus text page; each summed over its
    label sets, `None` where the series is unset or absent from the page. A declared migration
    counter absent from the page reads 0: counters with labels appear at their first count."""
    # A name may be declared for two meanings; each slot takes its own.
    slots = (names.pending, names.active_workers, names.migrations)
    totals = series_totals(page, [name for name in slots if name])
    pending, active, migrations = (totals.get(name) if name else None for name in slots)
    if names.migrations and migrations is None:
        migrations = 0.0
    return pending, active, migrations


class Watcher(CsvSampler):
    """Scrapes `url` every `interval_s`, appending one row per scrape."""

    columns = WATCHER_COLUMNS

    def __init__(
        self,
        url: str,
        names: MetricNames,
        path: Path,
        clock: RunClock,
        interval_s: float = 0.5,
        timeout_s: float = 2.0,
    ):
        super().__init__(path, clock, interval_s)
        self.url = url
        self.names = names
        self.timeout_s = timeout_s

    def scrape(self, wall: float, offset: float) -> WatcherSample:
        try:
            status, page = fetch(self.url, self.timeout_s, MAX_PAGE_BYTES)
            if status != 200:
                raise HttpError(f"HTTP {status}")
            pending, active, migrations = parse_metrics(page, self.names)
        except (OSError, HttpError, ValueError) as exc:
            log.debug("metrics scrape of %s failed: %s", self.url, exc)
            return WatcherSample(wall, offset, up=False)
        return WatcherSample(wall, offset, True, pending, active, migrations)

    def sample(self, wall: float, offset: float) -> list[tuple]:
        return [astuple(self.scrape(wall, offset))]  # WATCHER_COLUMNS are its fields, in order
