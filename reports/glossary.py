"""The report's glossary, read from the definitions `reports.summary` computes by: its module
docstring. One text defines the numbers and explains them, so the two cannot drift apart.

The docstring's shape, which this reads: a paragraph ending with ":" opens a section (its
title, less the colon); `- term: definition` is an entry, continued on lines indented by two
spaces; any other paragraph is a note of the section it is in.
"""

import re
from dataclasses import dataclass

from reports import summary

__all__ = ["Entry", "Section", "glossary", "spans"]


@dataclass(frozen=True)
class Entry:
    term: str
    definition: str


@dataclass(frozen=True)
class Section:
    title: str
    entries: tuple[Entry, ...]
    notes: tuple[str, ...]


def _paragraphs(text: str) -> list[str]:
    """Blank-line-separated paragraphs, each entry of a list its own paragraph."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            current = []
            continue
        if line.startswith("- ") or not current:
            current = [line]
            paragraphs.append(current)
        else:
            current.append(line.strip())
    return [" ".join(p) for p in paragraphs]


def glossary(doc: str | None = None) -> list[Section]:
    """The sections of the summary's definitions, in the docstring's order; the text before
    the first section (the module's own introduction) is left out."""
    sections: list[tuple[str, list[Entry], list[str]]] = []
    for paragraph in _paragraphs(doc if doc is not None else summary.__doc__ or ""):
        if paragraph.startswith("- "):
            term, _, definition = paragraph[2:].partition(": ")
            if sections:
                sections[-1][1].append(Entry(term, definition))
        elif paragraph.endswith(":"):
            sections.append((paragraph[:-1], [], []))
        elif sections:
            sections[-1][2].append(paragraph)
    return [Section(title, tuple(entries), tuple(notes)) for title, entries, notes in sections]


def spans(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_code) around its `backquoted` parts, for rendering."""
    pieces = re.split(r"`([^`]*)`", text)
    return [(piece, index % 2 == 1) for index, piece in enumerate(pieces) if piece]
