"""The watcher scrapes a real `/metrics` on loopback into `watcher.csv`, through outages too."""

import http.server
import threading

import gevent

from faultsuite.clock import RunClock
from faultsuite.samples import read_samples
from samplers.watcher import MetricNames, Watcher

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
