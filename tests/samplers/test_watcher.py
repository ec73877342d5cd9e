"""The watcher scrapes a real `/metrics` on loopback into `watcher.csv`, through outages too."""

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import gevent
import pytest

from faultsuite.clock import RunClock
from faultsuite.samples import read_samples
from samplers.watcher import MetricNames, Watcher, parse_metrics

METRICS = b"""# TYPE llm_requests_pending gauge
llm_requests_pending{worker="0"} 2
llm_requests_pending{worker="1"} 3
# TYPE llm_active_workers gauge
llm_active_workers 4
"""
NAMES = MetricNames(pending="llm_requests_pending", active_workers="llm_active_workers")


class MetricsHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(METRICS)

    def log_message(self, *_args):
        pass


def test_samples_sum_each_series_and_an_outage_is_rows_with_up_0(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), MetricsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    watcher = Watcher(url, NAMES, tmp_path / "watcher.csv", RunClock(), interval_s=0.05, timeout_s=0.5)
    watcher.start()
    try:
        gevent.sleep(0.3)
        server.shutdown()
        server.server_close()
        gevent.sleep(0.3)
    finally:
        watcher.stop()
    samples = read_samples(tmp_path / "watcher.csv")
    up = [s for s in samples if s.up]
    down = [s for s in samples if not s.up]
    assert up and {(s.pending_requests, s.active_workers) for s in up} == {(5.0, 4.0)}
    assert down and all(s.pending_requests is None for s in down)
    assert max(s.offset_s for s in up) < min(s.offset_s for s in down)


def test_a_declared_migration_counter_is_summed_and_reads_0_until_it_first_appears():
    names = MetricNames(pending="llm_requests_pending", active_workers=None, migrations="migrations_total")
    counting = b"""# TYPE migrations counter
migrations_total{model="a",reason="disconnected"} 2
migrations_total{model="a",reason="cannot_connect"} 1
"""

    assert parse_metrics(METRICS + counting, names) == (5.0, None, 3.0)
    assert parse_metrics(METRICS, names) == (5.0, None, 0.0)
    assert parse_metrics(METRICS, NAMES) == (5.0, 4.0, None)


# --- a hostile /metrics, served from a process of its own ------------------------------------

NAMES_OF_THE_HOSTILE_PAGE = MetricNames(pending="pending", active_workers="workers")


@pytest.fixture(scope="module")
def hostile_url() -> Iterator[str]:
    server = subprocess.Popen([sys.executable, "-m", "tests.locustfiles.misbehaving_server"], stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    finally:
        server.kill()
        server.wait()


def watch(url: str, path, seconds: float, timeout_s: float = 0.5) -> list:
    watcher = Watcher(url, NAMES_OF_THE_HOSTILE_PAGE, path, RunClock(), interval_s=0.1, timeout_s=timeout_s)
    watcher.start()
    try:
        gevent.sleep(seconds)
    finally:
        watcher.stop()
    return read_samples(path)


def test_a_page_that_drips_is_a_failed_scrape_at_the_timeout_so_rows_keep_coming(hostile_url, tmp_path):
    samples = watch(f"{hostile_url}/drip", tmp_path / "watcher.csv", 2.0)

    assert len(samples) >= 2 and not any(s.up for s in samples)


def test_a_page_past_the_bound_is_a_failed_scrape(hostile_url, tmp_path):
    samples = watch(f"{hostile_url}/metrics-huge", tmp_path / "watcher.csv", 1.0, timeout_s=5.0)

    assert samples and not any(s.up for s in samples)


def test_a_large_page_within_the_bound_is_read_without_blocking_the_hub(hostile_url, tmp_path):
    gaps = []

    def tick():
        last = time.monotonic()
        while True:
            gevent.sleep(0.01)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    ticker = gevent.spawn(tick)
    samples = watch(f"{hostile_url}/metrics-large", tmp_path / "watcher.csv", 1.5, timeout_s=5.0)
    ticker.kill()

    assert {(s.pending_requests, s.active_workers) for s in samples if s.up} == {(3.0, 2.0)}
    assert max(gaps) < 0.25
