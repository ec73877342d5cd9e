"""The browser helper (tests/browser.py) checked on a small page with known faults."""

import asyncio
import json

import pytest

from tests.browser import (
    CHROMIUM_ENV,
    REQUIRE_ENV,
    CanvasInfo,
    chromium_executable,
    open_report,
    require_chromium,
)

pytestmark = pytest.mark.browser

EXTERNAL_SCRIPT = "https://example.com/x.js"

FAULTY_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>faulty</title>
<script src="{EXTERNAL_SCRIPT}"></script>
<script src="data:text/javascript,window.fromDataUrl%20%3D%20true"></script>
</head><body>
<canvas id="drawn" width="60" height="40"></canvas>
<canvas id="blank" width="60" height="40"></canvas>
<canvas id="flat" width="60" height="40"></canvas>
<canvas id="late" width="60" height="40"></canvas>
<script>
  const drawn = document.getElementById("drawn").getContext("2d");
  drawn.fillStyle = "#c00";
  drawn.fillRect(5, 5, 20, 20);
  drawn.strokeStyle = "#00c";
  drawn.beginPath(); drawn.moveTo(0, 39); drawn.lineTo(59, 0); drawn.stroke();
  // One colour over every pixel: painted, yet nothing to see.
  const flat = document.getElementById("flat").getContext("2d");
  flat.fillStyle = "#fff";
  flat.fillRect(0, 0, 60, 40);
  // Drawn in a frame a little after load, as chart libraries may.
  window.addEventListener("load", () => setTimeout(() => requestAnimationFrame(() => {{
    document.getElementById("late").getContext("2d").fillRect(10, 10, 5, 5);
  }}), 200));
  console.error("deliberate console error");
  console.log("a log line, not an error");
  setTimeout(() => {{ throw new Error("deliberate page error"); }}, 0);
</script>
</body></html>
"""

CLEAN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>clean</title></head><body>
<canvas id="chart" width="80" height="50"></canvas>
<script>
  const c = document.getElementById("chart").getContext("2d");
  c.fillStyle = "#fff"; c.fillRect(0, 0, 80, 50);
  c.strokeStyle = "#08f"; c.beginPath(); c.moveTo(0, 50); c.lineTo(80, 0); c.stroke();
</script>
</body></html>
"""


@pytest.fixture
def faulty_page(tmp_path):
    path = tmp_path / "faulty.html"
    path.write_text(FAULTY_PAGE, encoding="utf-8")
    return path


def by_id(canvases: list[CanvasInfo]) -> dict[str, CanvasInfo]:
    return {c.id: c for c in canvases}


def test_the_faults_of_a_page_are_reported(offline_page, faulty_page, tmp_path):
    check = offline_page.open(faulty_page)

    canvases = by_id(check.canvases)
    assert list(canvases) == ["drawn", "blank", "flat", "late"]
    assert canvases["drawn"].nonblank
    assert canvases["drawn"].painted > 0 and canvases["drawn"].colours > 2
    assert not canvases["blank"].nonblank
    assert canvases["blank"].painted == 0 and canvases["blank"].colours == 1
    assert canvases["flat"].painted == 60 * 40 and not canvases["flat"].nonblank
    assert canvases["late"].nonblank
    assert [c.id for c in check.blank_canvases] == ["blank", "flat"]

    assert any("deliberate console error" in e for e in check.console_errors)
    assert not any("a log line" in e for e in check.console_errors)
    assert any("deliberate page error" in e for e in check.page_errors)
    assert check.aborted_requests == [EXTERNAL_SCRIPT]
    assert any(r.startswith(EXTERNAL_SCRIPT) for r in check.failed_requests)

    # data: URLs are local: they load, and are not counted as network requests.
    assert offline_page.page.evaluate("window.fromDataUrl") is True

    problems = check.problems()
    assert any(EXTERNAL_SCRIPT in p for p in problems)
    assert any("deliberate page error" in p for p in problems)
    assert any("id=blank" in p and "0 painted" in p for p in problems)

    shot = check.screenshot(tmp_path / "faulty.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_clean_page_has_no_problems(offline_page, tmp_path):
    path = tmp_path / "clean.html"
    path.write_text(CLEAN_PAGE, encoding="utf-8")

    check = offline_page.open(path)

    assert check.problems() == []
    assert [c.id for c in check.canvases] == ["chart"]
    assert check.canvases[0].nonblank


def test_each_open_reports_only_its_own_page(offline_page, faulty_page, tmp_path):
    offline_page.open(faulty_page)
    path = tmp_path / "clean.html"
    path.write_text(CLEAN_PAGE, encoding="utf-8")

    assert offline_page.open(path).problems() == []


def test_open_report_launches_a_browser_of_its_own(faulty_page, tmp_path):
    shot = tmp_path / "shot.png"

    check = open_report(faulty_page, screenshot=shot)

    assert check.aborted_requests == [EXTERNAL_SCRIPT]
    assert shot.stat().st_size > 0
    as_json = json.loads(json.dumps(check.as_dict()))
    assert as_json["aborted_requests"] == [EXTERNAL_SCRIPT]
    assert [c["nonblank"] for c in as_json["canvases"]] == [True, False, False, True]
    with pytest.raises(RuntimeError, match="page is closed"):
        check.screenshot(tmp_path / "late.png")
    # Playwright's loop is no longer marked as running in this thread.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_the_browser_is_found_or_named(monkeypatch, tmp_path):
    monkeypatch.setenv(CHROMIUM_ENV, "/bin/true")
    assert chromium_executable() == "/bin/true"

    missing = str(tmp_path / "no-such-chromium")
    monkeypatch.setenv(CHROMIUM_ENV, missing)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="not an executable"):
        require_chromium()
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_ENV):
        require_chromium()
