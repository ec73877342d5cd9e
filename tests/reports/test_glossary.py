"""The report's glossary is the summary's own definitions: every column has one."""

import itertools
import re

from reports.glossary import glossary, spans
from reports.summary import ALL_COLUMNS, WINDOWS

#: Units written with a slash: not alternatives.
UNITS = {"(MiB/min)", "(req/s)", "(tok/s)"}


def expand(term: str) -> set[str]:
    """The column names a term stands for: `Latency Before / After` is two, `TTFT p50/p90
    Before/After (ms)` four, `<window>` each window."""
    words = term.split()
    if " / " in term:
        first, _, second = term.partition(" / ")
        head = first.split()
        words_a, words_b = head, head[:-1] + second.split()
        return expand(" ".join(words_a)) | expand(" ".join(words_b))
    options = [
        list(WINDOWS) if word == "<window>" else word.split("/") if "/" in word and word not in UNITS else [word]
        for word in words
    ]
    return {" ".join(choice) for choice in itertools.product(*options)}


def test_every_summary_column_is_defined():
    entries = [entry for section in glossary() for entry in section.entries]
    named: set[str] = set()
    for entry in entries:
        named |= expand(entry.term.split(",")[0])
        # A second column defined in the same entry: "...; Max RSS Growth Of: its instance".
        named |= set(re.findall(r"([A-Z][A-Za-z ]+ Of): ", entry.definition))
    undefined = [column for column in ALL_COLUMNS if column not in named]
    assert undefined == []


def test_sections_and_entries_come_in_the_docstrings_order():
    titles = [section.title.split(" (")[0] for section in glossary()]
    assert titles[:3] == ["Definitions", "Windows", "Migration and integrity"]
    (recovery,) = [e for e in glossary()[0].entries if e.term == "Recovery Time"]
    assert recovery.definition.startswith("the instances (component, replica) faulted at the first fault time")
    assert recovery.definition.endswith("`None` if any never came back.")


def test_backquoted_text_becomes_code_spans():
    assert spans("mean `latency_s` of `success` records") == [
        ("mean ", False), ("latency_s", True), (" of ", False), ("success", True), (" records", False),
    ]  # fmt: skip
