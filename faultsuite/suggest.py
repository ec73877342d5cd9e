"""Close matches for a mistyped name, as Locust suggests a mistyped option."""

import difflib

__all__ = ["did_you_mean"]


def did_you_mean(name: str, known: list[str]) -> str:
    """` (did you mean 'x'?)` for the known names closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
