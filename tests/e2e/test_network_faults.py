"""Network faults on agg-dp4-links, end to end: each kind's effect on the clients, then its heal.

Each run is the real CLI: the launcher puts the fault proxy on the deployment's three links,
the failure puts its toxic on at 3 s and takes it off `duration_s` later, and what the clients
saw is read from their records. The proxy's own counters (`fault_proxy/counters.json`) say
what it did to the bytes.
"""

import json
import statistics

import pytest

from tests.e2e.harness import kill_tagged, run_locust

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAULT_AT_S = 3.0
#: Requests are watched this long after the heal, to see that the clients are served again.
AFTER_HEAL_S = 4.0
REQUEST_TIMEOUT_S = 3.0
#: Added latency is asked as 300 ms; measured within this much of it.
LATENCY_TOLERANCE_S = 0.1


def network_run(tmp_path, failure: str, duration_s: float, clients: int = 8):
    result = run_locust(
        tmp_path,
        "--deployment", "agg-dp4-links",
        "--failure", failure,
        "--clients", str(clients),
        "--requests-per-client", "100000",
        "--fault-at", str(FAULT_AT_S),
        "--request-timeout", str(REQUEST_TIMEOUT_S),
        "--retry-delay", "0.2",
        "--max-run-time", str(FAULT_AT_S + duration_s + AFTER_HEAL_S),
    )  # fmt: skip
    kill_tagged(result.tag)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def link_events(result) -> tuple[dict, dict]:
    """The run's one link fault and its heal."""
    (fault,) = [e for e in result.events if e["kind"] == "fault" and e["scope"] == "link"]
    (heal,) = [e for e in result.events if e["kind"] == "heal"]
    assert fault["outcome"] == heal["outcome"] == "delivered"
    assert (heal["component"], heal["replica"], heal["link_from"]) == (fault["component"], fault["replica"], fault["link_from"])
    assert heal["teardown"] == "0", "healed on schedule, not by the run's end"
    return fault, heal


def proxy_counters(result, route: str) -> dict:
    return json.loads((result.run_dir / "fault_proxy" / "counters.json").read_text())[route]["counters"]


def end(record: dict) -> float:
    return record["start_offset_s"] + record["latency_s"]


def started_after_heal(result, heal: dict) -> list[dict]:
    return [r for r in result.records if r["start_offset_s"] >= float(heal["offset_s"])]


def check_served_after_heal(result, heal: dict) -> None:
    after = started_after_heal(result, heal)
    assert after, "no request was sent after the heal"
    assert all(r["status"] == "success" for r in after), [r["error"] for r in after if r["status"] != "success"]


def test_latency_adds_what_it_asks_to_each_answer_and_heals(tmp_path):
    result = network_run(tmp_path, "frontend_latency", duration_s=4)
    fault, heal = link_events(result)
    fault_at, heal_at = float(fault["offset_s"]), float(heal["offset_s"])
    assert (fault["component"], fault["link_from"]) == ("frontend", "client")
    ok = [r for r in result.records if r["status"] == "success"]
    assert len(ok) == len(result.records), "latency alone fails nothing"
    before = [r["ttft_s"] for r in ok if end(r) < fault_at]
    during = [r["ttft_s"] for r in ok if r["start_offset_s"] >= fault_at and end(r) < heal_at]
    after = [r["ttft_s"] for r in ok if r["start_offset_s"] >= heal_at + 0.1]
    assert len(before) >= 8 and len(during) >= 8 and len(after) >= 8, (len(before), len(during), len(after))
    added = statistics.median(during) - statistics.median(before)
    assert abs(added - 0.300) <= LATENCY_TOLERANCE_S, f"TTFT grew by {added * 1000:.0f} ms, asked 300"
    assert abs(statistics.median(after) - statistics.median(before)) <= LATENCY_TOLERANCE_S, "the heal took the latency off"
    assert proxy_counters(result, "client.frontend.0")["delayed_chunks"] > 0


def test_bandwidth_slows_answers_to_its_rate_and_heals(tmp_path):
    result = network_run(tmp_path, "frontend_bandwidth", duration_s=4)
    fault, heal = link_events(result)
    fault_at, heal_at = float(fault["offset_s"]), float(heal["offset_s"])
    before = [r["latency_s"] for r in result.records if r["status"] == "success" and end(r) < fault_at]
    within = [r for r in result.records if fault_at <= r["start_offset_s"] and end(r) < heal_at]
    # An answer is about 6 KiB: at 2 KiB/s it needs about 3 s, against 0.7 s unthrottled, so
    # each request sent and ended inside the window took at least twice as long, or timed out.
    assert within, "no request ran within the window"
    for record in within:
        assert record["latency_s"] >= 2 * statistics.median(before) or record["error_kind"] == "timeout", record
    assert proxy_counters(result, "client.frontend.0")["paced_bytes"] > 0
    check_served_after_heal(result, heal)


def test_reset_is_seen_as_connection_reset_until_healed(tmp_path):
    result = network_run(tmp_path, "frontend_reset", duration_s=2)
    fault, heal = link_events(result)
    fault_at, heal_at = float(fault["offset_s"]), float(heal["offset_s"])
    failed = [r for r in result.records if r["status"] == "failure"]
    assert len(failed) >= 8, "every client's connection was reset at least once"
    assert {r["error_kind"] for r in failed} == {"connection_reset"}
    assert all(fault_at <= end(r) <= heal_at + 0.05 for r in failed), "only while the toxic was on"
    assert proxy_counters(result, "client.frontend.0")["reset"] >= len(failed)
    check_served_after_heal(result, heal)


def test_partition_stalls_open_streams_until_they_time_out_then_heals(tmp_path):
    result = network_run(tmp_path, "worker_partition", duration_s=5)
    fault, heal = link_events(result)
    fault_at = float(fault["offset_s"])
    assert (fault["component"], fault["link_from"]) == ("decode_worker", "processor")
    failed = [r for r in result.records if r["status"] == "failure"]
    assert failed and {r["error_kind"] for r in failed} == {"timeout"}
    # Streams open on the partitioned worker at the fault stalled, and the client's timeout
    # ended them: whatever tokens they had came before the fault, none after.
    stalled = [r for r in failed if r["start_offset_s"] < fault_at]
    assert stalled, "no stream was open on the partitioned worker at the fault"
    for record in stalled:
        assert record["ttft_s"] is None or record["start_offset_s"] + record["ttft_s"] < fault_at + 0.05
        assert record["latency_s"] >= REQUEST_TIMEOUT_S
    # The other three workers served meanwhile: the partition cost one worker's share.
    during = [r for r in result.records if fault_at <= r["start_offset_s"] < float(heal["offset_s"])]
    assert sum(r["status"] == "success" for r in during) > len(failed)
    assert proxy_counters(result, f"processor.decode_worker.{fault['replica']}")["held"] >= len(stalled)
    check_served_after_heal(result, heal)


def test_limit_data_ends_streams_between_two_events_until_healed(tmp_path):
    result = network_run(tmp_path, "frontend_limit_data", duration_s=3)
    fault, heal = link_events(result)
    fault_at, heal_at = float(fault["offset_s"]), float(heal["offset_s"])
    failed = [r for r in result.records if r["status"] == "failure"]
    assert failed
    # The cut falls at the end of the event in flight: each stream stopped after its 200,
    # between two events, with neither a finish reason nor [DONE]; most after some tokens, a
    # few right after the headers of a kept-alive connection's next answer.
    for record in failed:
        assert (record["error_kind"], record["http_status"]) == ("incomplete_stream", 200), record
        assert record["error"].startswith("the connection closed between two events"), record
        assert fault_at <= end(record) <= heal_at + 0.05
    assert sum(r["output_tokens"] > 0 for r in failed) > len(failed) / 2, "streams were cut mid-answer"
    # One cut for each failed stream, and at most one for each stream that ended in the window
    # anyway (a cut after its finish reason costs nothing).
    cut = proxy_counters(result, "client.frontend.0")["cut"]
    ended_within = [r for r in result.records if r["status"] == "success" and fault_at <= end(r) <= heal_at + 0.05]
    assert len(failed) <= cut <= len(failed) + len(ended_within), (cut, len(failed), len(ended_within))
    check_served_after_heal(result, heal)


def test_slow_close_delays_the_news_of_a_dead_worker(tmp_path):
    result = network_run(tmp_path, "worker_slow_close", duration_s=6)
    fault, heal = link_events(result)
    (kill,) = [e for e in result.events if e["kind"] == "fault" and e["signal"] == "SIGKILL"]
    assert (kill["component"], kill["replica"]) == (fault["component"], fault["replica"]), "the killed worker is the slowed link's"
    killed_at = float(kill["offset_s"])
    cut_short = [r for r in result.records if r["status"] == "failure" and r["start_offset_s"] < killed_at < end(r)]
    assert cut_short, "no stream was open on the killed worker"
    for record in cut_short:
        # Without the toxic the processor hears of the death at once; with it, 2 s later.
        assert end(record) - killed_at >= 1.9, record
        assert record["error_kind"] == "stream_error"
    assert proxy_counters(result, f"processor.decode_worker.{fault['replica']}")["delayed_closes"] >= len(cut_short)
    check_served_after_heal(result, heal)
