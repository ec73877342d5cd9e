"""Regenerate the README's screenshots: the report, from a run's results directory, and the
web UI's Chaos tab, from a run driven through the UI:

    python docs/screenshots.py results/agg-dp4/decode_worker-<timestamp>
    python docs/screenshots.py --web-ui

The first opens the run's report.html offline in Chromium (tests/browser.py: Debian's
chromium, never a download) at 1280 × 2000 and writes docs/report.png: the top of the report
(identity, verdict, summary and the first charts), not the whole page. The second starts
Locust's web UI on a free loopback port in a temporary directory, starts agg-dp4 ×
decode_worker from its form (4 clients × 12 requests, the fault at 2 s), and once the killed
worker is ready again writes docs/webui.png: the Chaos tab, its timeline and first rows.
"""

import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the browser helper lives in tests/, at the repository's root

from tests.browser import launch_chromium, offline_page  # noqa: E402
from tests.e2e.harness import start_from_the_form, web_ui_running  # noqa: E402

VIEWPORT = {"width": 1280, "height": 2000}
WEB_UI_VIEWPORT = {"width": 1280, "height": 900}
RUN_TIMEOUT_MS = 60_000


def web_ui_screenshot() -> int:
    with tempfile.TemporaryDirectory(prefix="faultsuite-screenshot-") as scratch, web_ui_running(Path(scratch)) as (_, base, _tag):
        with launch_chromium() as browser:
            page = browser.new_page(viewport=WEB_UI_VIEWPORT)
            page.goto(base + "/")
            start_from_the_form(page, "agg-dp4", "decode_worker", clients=4, requests_per_client=12, fault_at=2)
            page.get_by_role("tab", name="Chaos").click()
            page.locator('.ft-timeline .ft-mark[data-what="restart"]').first.wait_for(state="attached", timeout=RUN_TIMEOUT_MS)
            page.locator('tr[data-what="ready"]').first.wait_for()
            page.wait_for_timeout(3000)  # the restarted worker ready, on the timeline too
            page.screenshot(path=str(DOCS / "webui.png"))
    print(DOCS / "webui.png")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--web-ui"]:
        return web_ui_screenshot()
    if len(argv) != 1:
        print("usage: python docs/screenshots.py RUN_DIR | --web-ui", file=sys.stderr)
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
