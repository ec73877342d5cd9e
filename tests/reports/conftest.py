"""Browser fixtures for the report tests (see tests/browser.py).

``chromium_browser`` is a headless Chromium, ``offline_page`` an offline page on it. Both
are per test (about half a second each): a Playwright instance left open between tests
would mark an asyncio loop as running in the main thread (see tests/browser.py). Both skip
(or fail, under FAULTSUITE_REQUIRE_BROWSER=1) where no Chromium is installed.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import OfflinePage, launch_chromium
from tests.browser import offline_page as _offline_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def chromium_browser() -> Iterator["Browser"]:
    """A headless Chromium (playwright.sync_api.Browser)."""
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def offline_page(chromium_browser) -> Iterator[OfflinePage]:
    """An offline page of its own: ``offline_page.open(path)`` returns a PageCheck."""
    with _offline_page(chromium_browser) as page:
        yield page
