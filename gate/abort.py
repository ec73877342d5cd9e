"""Early abort: stop a run whose failure is already certain, instead of waiting it out.

A rule reads `failed_pct > X over Y s` (`--abort-if`, or `abort_if:` in a scenario file): once
the load has run for Y seconds, the run stops as soon as more than X percent of the requests
that ended in the last Y seconds failed. Requests still waiting (a hung deployment) end only
at their timeout, so a hang aborts the run once the timeouts arrive.
"""

import re
from collections import deque
from dataclasses import dataclass, field

from faultsuite.errors import ConfigError
from faultsuite.records import RequestRecord
from gate.expectations import Outcome

__all__ = ["AbortRule", "AbortWatch", "parse_abort_rule"]

_RULE = re.compile(r"^\s*failed_pct\s*>\s*([0-9]+(?:\.[0-9]+)?)\s+over\s+([0-9]+(?:\.[0-9]+)?)\s*s?\s*$")


@dataclass(frozen=True)
class AbortRule:
    max_failed_pct: float
    window_s: float

    @property
    def text(self) -> str:
        return f"failed_pct > {self.max_failed_pct:g} over {self.window_s:g} s"


def parse_abort_rule(text: str, source: str = "--abort-if") -> AbortRule:
    match = _RULE.match(text)
    if match is None:
        raise ConfigError(f"{source}: cannot read {text.strip()!r}; expected 'failed_pct > PERCENT over SECONDS s'")
    percent, window = (float(g) for g in match.groups())
    if window <= 0:
        raise ConfigError(f"{source}: the window must be longer than 0 s, got {text.strip()!r}")
    return AbortRule(percent, window)


@dataclass
class AbortWatch:
    """Follows the requests as they end and says when the rule is broken (once, then stays so)."""

    rule: AbortRule
    _ended: deque = field(default_factory=deque)  # (end offset, ok), in the order they ended
    triggered: str | None = None  # the reason, once broken

    def observe(self, record: RequestRecord) -> None:
        self._ended.append((record.end_offset_s, record.ok))

    def check(self, now_s: float, load_started_s: float) -> str | None:
        """The reason to abort now, or None. `now_s` and `load_started_s` are run offsets."""
        if self.triggered is not None:
            return self.triggered
        if now_s - load_started_s < self.rule.window_s:
            return None
        while self._ended and self._ended[0][0] <= now_s - self.rule.window_s:
            self._ended.popleft()
        if not self._ended:
            return None
        failed = sum(1 for _, ok in self._ended if not ok)
        percent = 100.0 * failed / len(self._ended)
        if percent > self.rule.max_failed_pct:
            self.triggered = f"{self.rule.text}: {failed} of {len(self._ended)} requests ending in the last {self.rule.window_s:g} s failed ({percent:.0f}%), at {now_s - load_started_s:.1f} s of load"
        return self.triggered

    def outcome(self) -> Outcome:
        """The rule as a check of the run: passed unless it aborted the run."""
        if self.triggered is None:
            return Outcome(f"abort_if {self.rule.text}", True, f"abort_if {self.rule.text}: never reached")
        return Outcome(f"abort_if {self.rule.text}", False, f"run aborted early: {self.triggered}")
