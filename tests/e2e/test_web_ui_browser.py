"""A run driven through Locust's web UI in headless Chromium, as a user would.

The form's Deployment and Failure dropdowns pick agg-dp4 × decode_worker; Start launches it;
the Chaos tab shows the fault on a decode worker and, later, the same instance ready again
under a new pid (the supervisor's restart); once the shape ends the run, the Download Data
tab links the run's HTML report, which opens without console errors.
"""


import pytest

from faultsuite.events import read_events
from locustfiles.web_ui import COLUMNS, REPORT_TITLE
from tests.browser import launch_chromium
from tests.e2e.harness import start_from_the_form, web_ui_running

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TITLES = [title for _, title in COLUMNS]
WHAT, INSTANCE, PID, STATE, DETAIL = (TITLES.index(t) for t in ("What", "Instance", "PID", "State", "Detail"))

# The rows of the table whose header is the Chaos table's, as lists of cell texts.
CHAOS_ROWS_JS = """
(titles) => {
  for (const table of document.querySelectorAll('table')) {
    const head = Array.from(table.querySelectorAll('thead th')).map(th => th.innerText.trim());
    if (head.join('|') !== titles.join('|')) continue;
    return Array.from(table.querySelectorAll('tbody tr'))
      .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()));
  }
  return null;
}
"""

# The first fault on a decode worker: [instance, pid].
FAULT_JS = f"""
(titles) => {{
  const rows = ({CHAOS_ROWS_JS})(titles) || [];
  const hit = rows.find(r => r[{WHAT}] === 'fault' && r[{INSTANCE}].startsWith('decode_worker_') && r[{PID}] !== '');
  return hit ? [hit[{INSTANCE}], hit[{PID}]] : null;
}}
"""

# A ready event of that instance under another pid: that pid.
RESTART_JS = f"""
([titles, instance, faultedPid]) => {{
  const rows = ({CHAOS_ROWS_JS})(titles) || [];
  const hit = rows.find(r => r[{WHAT}] === 'ready' && r[{INSTANCE}] === instance && r[{PID}] !== '' && r[{PID}] !== faultedPid);
  return hit ? hit[{PID}] : null;
}}
"""

# The summary row, once the run is torn down and its report written.
SUMMARY_JS = f"""
(titles) => {{
  const rows = ({CHAOS_ROWS_JS})(titles) || [];
  const hit = rows.find(r => r[{WHAT}] === 'summary' && r[{STATE}] === 'done');
  return hit ? hit.join(' | ') : null;
}}
"""

# The fault lines on each of Locust's charts, read from ECharts' own model: [[epoch ms, name], ...]
# per chart, from the top point of each line. The instances live in the state of Locust's React components (see suite.js).
CHART_FAULTS_JS = """
() => [...document.querySelectorAll('[_echarts_instance_]')].map(div => {
  const key = Object.keys(div).find(k => k.startsWith('__reactFiber$'));
  for (let fiber = div[key]; fiber; fiber = fiber.return) {
    for (let hook = fiber.memoizedState; hook; hook = hook.next) {
      const chart = hook.memoizedState;
      if (chart && typeof chart.getOption === 'function') {
        const series = chart.getOption().series.find(s => s.id === 'ft-faults');
        return series ? series.data.filter(d => d.name).map(d => [Date.parse(d.value[0]), d.name]) : [];
      }
    }
  }
  return null;
})
"""

# The Chaos table's rows once they are only a refused Start's row, else null.
REFUSED_JS = f"""
(titles) => {{
  const rows = ({CHAOS_ROWS_JS})(titles) || [];
  return rows.length === 1 && rows[0][{STATE}] === 'refused' ? rows : null;
}}
"""

UI_TIMEOUT_S = 30
RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def locust_ui(tmp_path):
    """Locust's UI on a free loopback port, in tmp_path, tagged; (base URL, tag)."""
    with web_ui_running(tmp_path, UI_TIMEOUT_S) as (_, base, tag):
        yield base, tag


# Each visible field of the form, top down: (the name of its input or select, its label).
FORM_FIELDS_JS = """
() => [...document.querySelectorAll('form input[name], form select[name]')]
  .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0 && el.closest('.MuiFormControl-root, label'))
  .map(el => {
    const box = el.closest('.MuiFormControl-root, label');
    const label = box.querySelector('label') || box;
    return [el.name, label.innerText.trim(), el.getBoundingClientRect().top];
  })
  .sort((a, b) => a[2] - b[2])
  .map(([name, label]) => [name, label]);
"""


def test_the_form_starts_with_the_suites_fields_and_hides_what_it_ignores(locust_ui, tmp_path):
    base, _ = locust_ui
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/")
        page.locator("select[name=deployment]").wait_for()
        page.screenshot(path=str(tmp_path / "form.png"), full_page=True)
        fields = page.evaluate(FORM_FIELDS_JS)
        names = [name for name, _ in fields]
        assert names[:5] == ["deployment", "failure", "clients", "requestsPerClient", "faultAt"], names
        labels = dict(fields)
        assert labels["deployment"] == "Deployment (empty: agg-dp4; empty with Host: attach to that endpoint)"
        assert all(len(label) < 90 for label in labels.values()), labels
        # Locust's user count and spawn rate are hidden, with a note; one Ramp Up, the suite's.
        assert "userCount" not in names and "spawnRate" not in names
        assert [label for label in labels.values() if "ramp up" in label.lower()] == [labels["rampUp"]]
        note = page.evaluate("() => getComputedStyle(document.querySelector('form > .MuiBox-root'), '::before').content")
        assert "Locust's user count and ramp-up are not used" in note
        # No "provide a host" banner, and no field for what only prints and exits.
        assert "no host attribute set" not in page.locator("body").inner_text()
        assert not {"suiteHelp", "listDeployments", "listFailures", "validate"} & set(names)

        # A refused Start says why beside the Start button (before a first run there is no
        # Chaos tab yet: Locust shows its form alone), and the form stays for the next try.
        page.locator("input[name=faultAt]").fill("soon")
        page.get_by_role("button", name="Start", exact=True).click()
        alert = page.get_by_role("alert").filter(has_text="--fault-at")
        alert.wait_for()
        page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)
        assert alert.inner_text().strip() == "--fault-at: expected a number, got 'soon'"
        assert page.get_by_role("button", name="Start", exact=True).is_enabled()


def test_a_run_from_the_web_ui_shows_its_chaos_and_links_its_report(locust_ui, tmp_path):
    base, _ = locust_ui
    with launch_chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(base + "/")

        start_from_the_form(page, "agg-dp4", "decode_worker", clients=4, requests_per_client=12, fault_at=2)

        page.get_by_role("tab", name="Chaos").click()
        fault = page.wait_for_function(FAULT_JS, arg=TITLES, timeout=RUN_TIMEOUT_MS).json_value()
        instance, faulted_pid = fault
        restarted_pid = page.wait_for_function(RESTART_JS, arg=[TITLES, instance, faulted_pid], timeout=RUN_TIMEOUT_MS).json_value()
        assert restarted_pid != faulted_pid

        # The fault's row in red, and the timeline above the table: the fault, then its
        # instance ready again, each a mark at its time.
        fault_row = page.locator('tr[data-what="fault"]').filter(has_text=instance).first
        assert fault_row.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor") == "rgb(253, 236, 236)"
        page.locator('.ft-timeline .ft-mark[data-what="ready"]').last.wait_for(state="attached")
        page.screenshot(path=str(tmp_path / "chaos-tab.png"), full_page=True)
        marks = page.evaluate("() => [...document.querySelectorAll('.ft-timeline .ft-mark')].map(m => [m.dataset.what, +m.dataset.time, m.textContent])")
        faults = [t for what, t, text in marks if what == "fault" and instance in text]
        assert faults and any(what == "ready" and instance in text and t > faults[0] for what, t, text in marks), marks
        assert f"fault {instance} at" in page.locator(".ft-timeline .ft-legend").inner_text()

        # Locust's charts: a dashed line at the fault, on each, named after it.
        page.get_by_role("tab", name="Charts").click()
        page.wait_for_function(f"() => ({CHART_FAULTS_JS})().some(marks => marks && marks.length > 0)", timeout=10_000)
        page.screenshot(path=str(tmp_path / "charts-tab.png"), full_page=True)
        charts = page.evaluate(CHART_FAULTS_JS)
        (events,) = tmp_path.glob("results/agg-dp4/decode_worker-*/events.csv")
        (fault_event,) = [e for e in read_events(events) if e.delivered_fault and str(e.pid) == faulted_pid]
        assert len(charts) >= 3, charts
        for marks in charts:
            assert [name for _, name in marks] == [f"{instance} SIGKILL pid {faulted_pid}"], charts
            assert abs(marks[0][0] - fault_event.time * 1000) <= 1, (marks, fault_event.time)
        page.get_by_role("tab", name="Chaos").click()

        # The shape ends the run once every client has sent its requests.
        summary = page.wait_for_function(SUMMARY_JS, arg=TITLES, timeout=RUN_TIMEOUT_MS).json_value()
        assert "agg-dp4 × decode_worker" in summary and "Success " in summary, summary

        page.get_by_role("tab", name="Download Data").click()
        link = page.get_by_role("link", name=REPORT_TITLE)
        href = link.evaluate("a => a.href")
        assert href == base + "/fault-tolerance/report"

        report = context.new_page()
        console_errors, page_errors = [], []
        report.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
        report.on("pageerror", lambda error: page_errors.append(str(error)))
        response = report.goto(href, wait_until="load")
        assert response is not None and response.status == 200
        report.wait_for_load_state("networkidle")
        assert report.title() == "agg-dp4 × decode_worker"
        assert report.locator("h1").inner_text() == "agg-dp4 × decode_worker"
        assert console_errors == [] and page_errors == [], (console_errors, page_errors)
        report.close()

        # A refused Start after the run: said in the form, and in the Chaos tab, where it
        # replaces the run's summary, which is no longer the latest news.
        page.get_by_role("button", name="New", exact=True).click()
        page.locator("input[name=faultAt]").fill("soon")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("alert").filter(has_text="--fault-at").wait_for()
        page.keyboard.press("Escape")
        page.get_by_role("tab", name="Chaos").click()
        (refused,) = page.wait_for_function(REFUSED_JS, arg=TITLES, timeout=10_000).json_value()
        page.screenshot(path=str(tmp_path / "refused-after-a-run.png"), full_page=True)
        assert (refused[WHAT], refused[DETAIL]) == ("run", "--fault-at: expected a number, got 'soon'"), refused
        context.close()
