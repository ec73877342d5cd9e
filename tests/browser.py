"""Headless Chromium for tests that open the suite's HTML pages, offline.

The browser is the distribution's Chromium (Debian: ``apt-get install chromium``), driven
by Playwright for Python through ``executable_path``. Playwright's own browser download
(``playwright install``) is never used.

Every page opens in a context that is offline and whose route aborts every request that is
not ``file:``, ``data:`` or ``blob:``; the aborted URLs are recorded. Console messages of
type error and uncaught page exceptions are recorded too. ``PageCheck`` is what one page
load gave: those three lists, and for each ``<canvas>`` whether anything was drawn on it.

Typical use, with the fixtures of ``tests/reports/conftest.py``::

    def test_report_opens(offline_page, tmp_path):
        check = offline_page.open(tmp_path / "report.html")
        check.screenshot(tmp_path / "report.png")
        assert not check.problems(), check.problems()

Playwright's sync API runs its asyncio loop in a greenlet of its own; it works under the
gevent monkey-patching of ``tests/conftest.py`` (the loop's selector and the driver's
subprocess are gevent's then). While a Playwright instance is open, asyncio considers its
loop running in this thread: a second sync_playwright() (e.g. open_report() without a
browser) or asyncio.run() inside it raises. Hence the fixtures are per test, and are closed
before the next test starts.

No browser: the tests skip, naming the package to install, unless
``FAULTSUITE_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which makes them fail instead.
``FAULTSUITE_CHROMIUM`` names the browser executable explicitly.

Run by hand, ``python -m tests.browser report.html [shot.png]`` prints the check as JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, Route

CHROMIUM_ENV = "FAULTSUITE_CHROMIUM"
REQUIRE_ENV = "FAULTSUITE_REQUIRE_BROWSER"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Launcher scripts and the binaries they run. Debian's /usr/bin/chromium is a shell script
# that sources /etc/chromium.d/*, which adds flags (remote extensions, --load-extension) and
# may print shell errors; the binary behind it starts faster and takes only our flags.
_WRAPPED_BINARIES = {
    "chromium": "/usr/lib/chromium/chromium",
    "chromium-browser": "/usr/lib/chromium-browser/chromium-browser",
}

# Passed on top of Playwright's own defaults (which already include --headless, and
# --no-sandbox unless chromium_sandbox=True). As root in a container Chromium's sandbox
# cannot start ("Chromium sandboxing failed!"), hence --no-sandbox; a small /dev/shm in
# containers crashes renderers, hence --disable-dev-shm-usage; there is no GPU to use.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")

LOCAL_SCHEMES = ("file", "data", "blob")
LAUNCH_TIMEOUT_MS = 30_000
PAGE_TIMEOUT_MS = 30_000

NO_BROWSER = (
    "no Chromium found: install Debian's package (apt-get install chromium), "
    f"or set {CHROMIUM_ENV} to a Chromium/Chrome executable"
)


def chromium_executable() -> str | None:
    """The Chromium to launch: $FAULTSUITE_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return _unwrapped(name, found)
    return None


def _unwrapped(name: str, found: str) -> str:
    """The binary behind a distribution's launcher script, or ``found`` itself."""
    binary = _WRAPPED_BINARIES.get(name)
    if binary and os.access(binary, os.X_OK):
        try:
            with open(found, "rb") as f:
                is_script = f.read(2) == b"#!"
        except OSError:
            is_script = False
        if is_script:
            return binary
    return found


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _unavailable(reason: str) -> None:
    """Skip the test, or fail it where a browser is required (CI)."""
    if browser_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(reason)


def require_chromium() -> str:
    """The executable; skips (or fails, under FAULTSUITE_REQUIRE_BROWSER=1) when there is none."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    executable = chromium_executable()
    if executable is None:
        _unavailable(NO_BROWSER)
    elif not os.access(executable, os.X_OK):
        _unavailable(f"{CHROMIUM_ENV}={executable} is not an executable file")
    return executable  # type: ignore[return-value]


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """A headless Chromium (skips or fails as require_chromium does when there is none)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            chromium_sandbox=False,
            args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class CanvasInfo:
    """What one <canvas> holds: painted = pixels with alpha > 0, colours = distinct RGBA
    values over all its pixels (every transparent pixel counts as one colour)."""

    index: int
    id: str
    width: int
    height: int
    painted: int
    colours: int
    error: str = ""  # why its pixels could not be read (e.g. a tainted canvas)

    @property
    def nonblank(self) -> bool:
        """Something was drawn: some pixel is not transparent, and not all pixels are alike."""
        return not self.error and self.painted > 0 and self.colours > 1

    def describe(self) -> str:
        name = f"#{self.index}" + (f" id={self.id}" if self.id else "")
        found = self.error or f"{self.painted} painted pixels, {self.colours} colours"
        return f"{name} {self.width}x{self.height}: {found}"


# Reads each canvas through a 2-D copy (drawImage works for any canvas, whatever context it
# has, and leaves the original untouched). Distinct colours are counted up to a cap.
_CANVAS_JS = """
() => Array.from(document.querySelectorAll('canvas')).map((c, index) => {
  const info = {index, id: c.id || '', width: c.width, height: c.height,
                painted: 0, colours: 0, error: ''};
  if (!c.width || !c.height) return info;
  try {
    const copy = document.createElement('canvas');
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(c, 0, 0);
    const px = new Uint32Array(ctx.getImageData(0, 0, c.width, c.height).data.buffer);
    const seen = new Set();
    for (let i = 0; i < px.length; i++) {
      const p = px[i];
      const transparent = (p >>> 24) === 0;
      if (!transparent) info.painted++;
      if (seen.size < 4096) seen.add(transparent ? 0 : p);
    }
    info.colours = seen.size;
  } catch (e) {
    info.error = String(e);
  }
  return info;
})
"""

# Two animation frames: drawing scheduled by requestAnimationFrame after load is done.
_SETTLE_JS = (
    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
)


@dataclass
class PageCheck:
    """What opening one page gave. ``screenshot`` needs the page, i.e. the OfflinePage (or
    fixture) it came from still open."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    aborted_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(
        default_factory=list
    )  # every failure, aborted too
    canvases: list[CanvasInfo] = field(default_factory=list)
    _page: Page | None = field(default=None, repr=False, compare=False)

    @property
    def blank_canvases(self) -> list[CanvasInfo]:
        return [c for c in self.canvases if not c.nonblank]

    def problems(self) -> list[str]:
        """Everything that should not happen to a self-contained page; empty when clean.
        Blank canvases count; an empty list of canvases does not (check that yourself)."""
        return (
            [f"console error: {e}" for e in self.console_errors]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"network request (aborted): {u}" for u in self.aborted_requests]
            + [f"blank canvas: {c.describe()}" for c in self.blank_canvases]
        )

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """A full-page PNG of the page as it is now."""
        if self._page is None or self._page.is_closed():
            raise RuntimeError(
                "the page is closed: take screenshots inside offline_page()"
            )
        path = Path(path)
        self._page.screenshot(path=str(path), full_page=True)
        return path

    def as_dict(self) -> dict:
        """The findings as plain data (JSON-ready), without the page."""
        return {
            "url": self.url,
            "console_errors": list(self.console_errors),
            "page_errors": list(self.page_errors),
            "aborted_requests": list(self.aborted_requests),
            "failed_requests": list(self.failed_requests),
            "canvases": [{**asdict(c), "nonblank": c.nonblank} for c in self.canvases],
            "problems": self.problems(),
        }


class OfflinePage:
    """One offline page of its own browser context, recording what went wrong on it."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(offline=True, service_workers="block")
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.aborted_requests: list[str] = []
        self.failed_requests: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_page_error)
        self.page.on("requestfailed", self._on_request_failed)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if url.split(":", 1)[0].lower() in LOCAL_SCHEMES:
            route.continue_()
        else:
            self.aborted_requests.append(url)
            route.abort("blockedbyclient")

    def _on_console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url") or ""
            if where:
                where = f" ({where}:{message.location.get('lineNumber', 0)})"
            self.console_errors.append(message.text + where)

    def _on_page_error(self, error) -> None:
        self.page_errors.append(
            f"{error.name}: {error.message}" if error.name else error.message
        )

    def _on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.url}: {request.failure}")

    def _reset(self) -> None:
        for records in (
            self.console_errors,
            self.page_errors,
            self.aborted_requests,
            self.failed_requests,
        ):
            records.clear()

    def open(self, path: str | os.PathLike[str]) -> PageCheck:
        """Load a local file, wait for load, network idle and two frames; check it."""
        url = Path(path).resolve().as_uri()
        self._reset()
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate(_SETTLE_JS)
        canvases = [CanvasInfo(**c) for c in self.page.evaluate(_CANVAS_JS)]
        return PageCheck(
            url=url,
            console_errors=list(self.console_errors),
            page_errors=list(self.page_errors),
            aborted_requests=list(self.aborted_requests),
            failed_requests=list(self.failed_requests),
            canvases=canvases,
            _page=self.page,
        )

    def close(self) -> None:
        self.context.close()


@contextmanager
def offline_page(browser: Browser | None = None) -> Iterator[OfflinePage]:
    """An OfflinePage on ``browser``, or on a Chromium launched for it alone."""
    with ExitStack() as stack:
        if browser is None:
            browser = stack.enter_context(launch_chromium())
        page = OfflinePage(browser)
        stack.callback(page.close)
        yield page


def open_report(
    path: str | os.PathLike[str],
    *,
    browser: Browser | None = None,
    screenshot: str | os.PathLike[str] | None = None,
) -> PageCheck:
    """One-shot: open ``path`` offline, screenshot it if asked, and close the page again
    (the returned check can no longer take screenshots)."""
    with offline_page(browser) as page:
        check = page.open(path)
        if screenshot is not None:
            check.screenshot(screenshot)
    return check


def _main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(
            "usage: python -m tests.browser PAGE.html [SCREENSHOT.png]", file=sys.stderr
        )
        return 2
    try:
        check = open_report(argv[0], screenshot=argv[1] if len(argv) > 1 else None)
    except (pytest.skip.Exception, pytest.fail.Exception) as unavailable:
        print(unavailable.msg, file=sys.stderr)
        return 2
    print(json.dumps(check.as_dict(), indent=2))
    return 1 if check.problems() else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
