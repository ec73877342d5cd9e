"""The watcher: samples the deployment's Prometheus `/metrics` into `watcher.csv`.

Which series mean "pending requests" and "active workers" is the deployment's to say
(`metrics:` in its YAML). A scrape that fails is recorded as a row with `up=0`, never
skipped, so a gap in the chart is a gap in the deployment.
"""

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from faultsuite.clock import RunClock
from faultsuite.samples import WATCHER_COLUMNS, WatcherSample
from samplers.sampling import CsvSampler

__all__ = ["MetricNames", "Watcher", "parse_metrics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricNames:
    """The series (sample names, as exposed) to read; unset ones are left blank."""

    pending: str | None
    active_workers: str | None


def parse_metrics(text: str, names: MetricNames) -> tuple[float | None, float | None]:
    """(pending, active workers) from Prometheus text; each summed over its label sets."""
    wanted = {names.pending: 0, names.active_workers: 1}
    totals: list[float | None] = [None, None]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            slot = wanted.get(sample.name)
            if slot is not None and sample.name is not None:
                totals[slot] = (totals[slot] or 0.0) + sample.value
    return totals[0], totals[1]


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
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:
                text = response.read().decode("utf-8", errors="replace")
            pending, active = parse_metrics(text, self.names)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.debug("metrics scrape of %s failed: %s", self.url, exc)
            return WatcherSample(wall, offset, up=False)
        return WatcherSample(wall, offset, True, pending, active)

    def sample(self, wall: float, offset: float) -> list[tuple]:
        s = self.scrape(wall, offset)
        return [(s.time, s.offset_s, s.up, s.pending_requests, s.active_workers)]
