"""Regenerate the README's screenshot of the report, from a run's results directory:

    python docs/screenshots.py results/agg-dp4/decode_worker-<timestamp>

It opens the run's report.html offline in Chromium (tests/browser.py: Debian's chromium,
never a download) at 1280 × 2000 and writes docs/report.png: the top of the report (identity,
verdict, summary and the first charts), not the whole page.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the browser helper lives in tests/, at the repository's root

from tests.browser import offline_page  # noqa: E402
VIEWPORT = {"width": 1280, "height": 2000}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python docs/screenshots.py RUN_DIR", file=sys.stderr)
        return 2
    report = Path(argv[0]) / "report.html"
    if not report.is_file():
        print(f"error: {report}: no report there", file=sys.stderr)
        return 2
    with offline_page() as page:
        page.page.set_viewport_size(VIEWPORT)
        check = page.open(report)
        if check.problems():
            print("error: " + "; ".join(check.problems()), file=sys.stderr)
            return 1
        page.page.screenshot(path=str(DOCS / "report.png"))
    print(DOCS / "report.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
