"""Read series out of a Prometheus text page, cheaply and by exact name.

Only the lines of the wanted series reach Prometheus's own parser (prometheus-client): they are
picked out of the page by one regular expression first, so a page of many megabytes of other
series costs milliseconds, not seconds of a blocked hub.
"""

import re

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["series_totals"]


def _wanted_lines(page: bytes, names: list[str]) -> str:
    """The sample lines of `names` in a Prometheus text page, and nothing else."""
    if not names:
        return ""
    pattern = rb"^(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")(?:\{[^\n]*\})?[ \t][^\n]*$"
    return "\n".join(m.group().decode("utf-8", errors="replace") for m in re.finditer(pattern, page, re.MULTILINE)) + "\n"


def series_totals(page: bytes, names: list[str]) -> dict[str, float]:
    """Each of `names` (sample names, as exposed) found on the page, summed over its label
    sets; a name absent from the page is absent from the answer. ValueError for a page the
    parser cannot read."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(_wanted_lines(page, list(dict.fromkeys(names)))):
        for sample in family.samples:
            if sample.name in names:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals
