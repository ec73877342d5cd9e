"""What a CI load stage reads: JUnit XML of the run's checks, and GitHub's step summary.

One JUnit test case per check (each expectation, and the early-abort rule), failed with its
one-line reason. The step summary (`$GITHUB_STEP_SUMMARY`, when set) gets the summary table
and a line per check, appended as GitHub expects.
"""

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from gate.expectations import Outcome

__all__ = ["append_step_summary", "checks_markdown", "write_junit"]

STEP_SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"


def write_junit(outcomes: list[Outcome], path: Path, suite: str, duration_s: float | None = None) -> None:
    """A JUnit XML file with one `testsuite` named `suite` and a `testcase` per outcome."""
    failures = sum(1 for o in outcomes if not o.passed)
    attributes = {"name": suite, "tests": str(len(outcomes)), "failures": str(failures), "errors": "0"}
    if duration_s is not None:
        attributes["time"] = f"{duration_s:.3f}"
    testsuite = ET.Element("testsuite", attributes)
    for outcome in outcomes:
        case = ET.SubElement(testsuite, "testcase", {"classname": suite, "name": outcome.name})
        if not outcome.passed:
            ET.SubElement(case, "failure", {"message": outcome.reason}).text = outcome.reason
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(testsuite)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def checks_markdown(outcomes: list[Outcome]) -> str:
    """A Markdown list of the checks, ✅ or ❌ and the reason; empty without checks."""
    return "".join(f"- {'✅' if o.passed else '❌'} {o.reason}\n" for o in outcomes)


def append_step_summary(markdown: str) -> Path | None:
    """Append to `$GITHUB_STEP_SUMMARY` when it is set; returns the file, or None."""
    target = os.environ.get(STEP_SUMMARY_VARIABLE)
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown.rstrip("\n") + "\n\n")
    return path
