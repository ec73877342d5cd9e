"""The verdict sentence of a run, on hand-made records and events."""

from pathlib import Path

import pandas as pd

from faultsuite.events import Event
from faultsuite.manifest import RunManifest
from faultsuite.records import RequestRecord
from reports.rundata import RunData
from reports.summary import compute_summary
from reports.verdict import verdict

T0 = 1_700_000_000.0
WORKER = "decode_worker"


def record(start: float, ok: bool = True, error_kind: str | None = "stream_error") -> RequestRecord:
    return RequestRecord(
        client=0,
        seq=0,
        start_time=T0 + start,
        end_time=T0 + start + 0.5,
        start_offset_s=start,
        latency_s=0.5,
        status="success" if ok else "failure",
        error_kind=None if ok else error_kind,
    )


def event(offset: float, kind: str, replica: int | None = 2, **attrs) -> Event:
    return Event(time=T0 + offset, offset_s=offset, kind=kind, component=WORKER, replica=replica, **attrs)  # type: ignore[arg-type]


def fault(offset: float = 10.0, replica: int = 2, signal: str = "SIGKILL", **attrs) -> Event:
    attrs.setdefault("outcome", "delivered")
    attrs.setdefault("detail", "failure decode_worker: process group")
    return event(offset, "fault", replica, pid=4000 + replica, signal=signal, **attrs)


def run(records: list[RequestRecord], events: list[Event], error: str | None = None) -> RunData:
    manifest = RunManifest(deployment="agg", failure="decode_worker", command="locust", started_at=T0, error=error, versions={})
    summary = compute_summary(
        failure=manifest.failure, records=records, events=events, samples=[], startup_time_s=None, sla_latency_s=2.0
    )
    return RunData(
        run_dir=Path("results/agg/decode_worker-1"),
        manifest=manifest,
        records=records,
        events=events,
        samples=[],
        gpu=pd.DataFrame(columns=["time", "offset_s", "gpu", "scope"]),
        processes=pd.DataFrame(columns=["time", "offset_s", "instance", "pid"]),
        summary=summary,
        gpu_findings=[],
    )


def mixed(total: int, failed: int, kind: str = "stream_error") -> list[RequestRecord]:
    return [record(i * 0.1, ok=i >= failed, error_kind=kind) for i in range(total)]


def test_failures_by_kind_and_the_recovery_of_the_faulted_instance():
    data = run(mixed(160, 4), [fault(10.0), event(16.1, "ready", pid=5000)])
    assert verdict(data) == "4 of 160 requests failed (stream_error=4); decode_worker_2 back after 6.1 s."


def test_no_failure_with_a_recovery():
    data = run(mixed(10, 0), [fault(10.0), event(13.6, "ready")])
    assert verdict(data) == "No request failed; decode_worker_2 back after 3.6 s."


def test_a_child_fault_that_never_recovered_names_the_child():
    child = fault(5.0, replica=0, detail="failure engine_crash: engine child", scope="child", child="engine")
    data = run(mixed(64, 20, "timeout"), [child])
    assert verdict(data) == "20 of 64 requests failed (timeout=20); engine child of decode_worker_0 never came back."


def test_a_run_without_a_fault_counts_its_successes():
    assert verdict(run(mixed(160, 0), [])) == "No fault was injected; 160 of 160 requests succeeded."


def test_a_run_without_a_fault_lists_its_failures():
    text = verdict(run(mixed(10, 3, "timeout"), []))
    assert text == "No fault was injected; 7 of 10 requests succeeded (timeout=3 failed)."


def test_a_not_applicable_failure_says_why_nothing_was_injected():
    na = event(3.0, "not_applicable", replica=None, outcome="not applicable", detail="failure prefill: no prefill_worker")
    expected = "No fault was injected (failure prefill: no prefill_worker); 5 of 5 requests succeeded."
    assert verdict(run(mixed(5, 0), [na])) == expected


def test_an_undelivered_fault_is_no_fault():
    gone = fault(outcome="process gone")
    assert verdict(run(mixed(5, 0), [gone])).startswith("No fault was delivered (process gone); ")


def test_a_ready_before_the_fault_or_of_another_replica_is_not_a_recovery():
    events = [event(1.0, "ready"), fault(10.0), event(12.0, "ready", replica=1)]
    assert verdict(run(mixed(5, 0), events)) == "No request failed; decode_worker_2 never came back."


def test_a_resume_at_teardown_is_not_a_recovery_but_a_scheduled_resume_is():
    hang = fault(10.0, signal="SIGSTOP")
    teardown = event(30.0, "resume", signal="SIGCONT", outcome="delivered", detail="teardown", teardown=True)
    assert verdict(run(mixed(5, 0), [hang, teardown])).endswith("decode_worker_2 never came back.")
    resumed = event(25.0, "resume", signal="SIGCONT", outcome="delivered", detail="failure hang: process group")
    assert verdict(run(mixed(5, 0), [hang, resumed])).endswith("decode_worker_2 back after 15.0 s.")


def test_every_instance_hit_by_the_first_scheduled_fault_is_reported():
    events = [
        fault(10.0, replica=0, scheduled_offset_s=10.0),
        fault(10.001, replica=1, scheduled_offset_s=10.0),
        event(14.0, "ready", replica=0),
        fault(40.0, replica=2, scheduled_offset_s=40.0),
    ]
    text = verdict(run(mixed(5, 0), events))
    assert text == (
        "No request failed; decode_worker_0 back after 4.0 s, decode_worker_1 never came back. 2 faults were delivered in all."
    )


def test_a_launch_error_is_said_first():
    assert verdict(run([], [], error="component decode_worker_0: cannot start 'vllm'")) == (
        "The run did not start: component decode_worker_0: cannot start 'vllm'."
    )


def test_an_empty_interrupted_run_has_a_verdict():
    assert verdict(run([], [])) == "No fault was injected; no request was made."


def test_a_fault_with_no_request_says_so():
    assert verdict(run([], [fault(1.0), event(2.0, "ready")])) == "No request was made; decode_worker_2 back after 1.0 s."


def test_a_healed_link_is_back_and_named_as_a_link():
    partition = fault(10.0, signal="", scope="link", link_from="processor", detail="failure worker_partition: link processor -> decode_worker_2: partition")
    healed = event(15.0, "heal", outcome="delivered", scope="link", link_from="processor")
    assert verdict(run(mixed(5, 0), [partition, healed])) == "No request failed; link processor -> decode_worker_2 back after 5.0 s."


def test_a_fault_without_effect_is_said_last_and_a_confirmed_one_is_not():
    kill = fault(10.0, signal="SIGTERM")
    no_effect = event(13.0, "proof", pid=4002, signal="SIGTERM", outcome="no_effect", detail="pid 4002 still runs 3.00 s after the signal when the run ended")
    assert verdict(run(mixed(5, 0), [kill, no_effect])) == (
        "No request failed; decode_worker_2 never came back. "
        "The fault on decode_worker_2 had no effect: pid 4002 still runs 3.00 s after the signal when the run ended."
    )
    confirmed = event(10.01, "proof", pid=4002, signal="SIGTERM", outcome="confirmed", detail="pid 4002 ended 0.01 s after the signal")
    assert "no effect" not in verdict(run(mixed(5, 0), [kill, confirmed, event(12.0, "ready")]))


def test_a_silent_stall_is_named_after_the_recovery():
    events = [fault(10.0, signal="SIGSTOP"), event(15.0, "resume", outcome="delivered"), event(15.2, "stall", outcome="over", detail="for 5.0 s, with 4 requests held")]
    sentence = verdict(run(mixed(10, 0), events))
    assert sentence.endswith("Health said ok while decode_worker_2 served nothing for 5.0 s, with 4 requests held.")


def test_a_stall_that_only_began_is_not_named_twice():
    events = [fault(10.0), event(13.0, "stall", outcome="health ok, nothing served", detail="health says ok, nothing served for 3.0 s, with 1 request held")]
    assert "Health said ok" not in verdict(run(mixed(10, 0), events))


def test_a_failure_that_found_fewer_targets_than_it_asked_for_says_so():
    short = event(10.0, "not_applicable", replica=None, outcome="fewer targets",
                  detail="failure two_decode_workers: 2 decode_worker asked for, 1 found; 1 hit")  # fmt: skip
    data = run(mixed(40, 2), [short, fault(10.0), event(13.6, "ready", pid=5000)])
    assert verdict(data) == (
        "2 of 40 requests failed (stream_error=2); decode_worker_2 back after 3.6 s. "
        "Fewer targets than asked: 2 decode_worker asked for, 1 found; 1 hit."
    )


def test_the_verdict_names_the_client_outage_beside_the_process_recovery():
    # The fault at 10: requests starting 10.0 to 10.9 fail (the first ends at 10.5, the last at 11.4);
    # the first to start after that, at 11.4, succeeds.
    records = [record(9.0 + i * 0.1, ok=not 10.0 <= 9.0 + i * 0.1 < 10.95) for i in range(40)]
    text = verdict(run(records, [fault(10.0), event(13.6, "ready")]))
    assert text == (
        "10 of 40 requests failed (stream_error=10); decode_worker_2 back after 3.6 s. "
        "Client outage: 1.4 s from the fault until the clients were served again (the first failure 0.50 s after it)."
    )


def test_a_client_outage_that_never_ended_says_so():
    records = [record(9.0), record(9.5), record(10.2, ok=False), record(11.0, ok=False)]
    text = verdict(run(records, [fault(10.0), event(10.8, "ready")]))
    assert text.endswith(
        "decode_worker_2 back after 0.8 s. Client outage to the end: no request succeeded after the last failure (the first 0.70 s after the fault)."
    ), text
