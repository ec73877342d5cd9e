"""`events.csv`: every field of an event reads back as written, and files from before the
fault fields were columns still read."""

from faultsuite.clock import RunClock
from faultsuite.events import EventKind, EventLog, FaultOutcome, TargetScope, log_line, read_events


def test_an_event_reads_back_with_its_fault_fields(tmp_path):
    log = EventLog(tmp_path / "events.csv", RunClock())
    written = log.emit(
        EventKind.FAULT, component="decode_worker", replica=1, pid=42, signal="SIGKILL", outcome=FaultOutcome.DELIVERED,
        scheduled_offset_s=5.0, detail="failure engine: engine child", failure="engine", scope=TargetScope.CHILD, child="engine",
    )  # fmt: skip
    resumed = log.emit(EventKind.RESUME, component="decode_worker", replica=1, pid=42, signal="SIGCONT", teardown=True)
    log.close()
    assert read_events(tmp_path / "events.csv") == [written, resumed]
    assert written.delivered_fault and not resumed.delivered_fault


def test_a_file_without_the_fault_columns_reads_teardown_from_its_detail(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "time,offset_s,kind,component,replica,pid,signal,outcome,scheduled_offset_s,detail\n"
        "1.0,1.0,resume,decode_worker,0,7,SIGCONT,delivered,,teardown\n"
        "2.0,2.0,fault,decode_worker,0,7,SIGKILL,delivered,2.0,failure x: process group\n"
    )
    resume, fault = read_events(path)
    assert (resume.teardown, fault.teardown, fault.scope, fault.failure) == (True, False, None, "")


def test_event_lines_line_up_and_say_nothing_of_what_is_missing(tmp_path):
    log = EventLog(tmp_path / "events.csv", RunClock())
    events = [
        log.emit(EventKind.LAUNCH, component="decode_worker", replica=1, pid=1439, outcome="started", detail="port 44965"),
        log.emit(EventKind.WARMUP, outcome="ok"),
        log.emit(EventKind.FAULT, component="decode_worker", replica=3, pid=1441, signal="SIGKILL", outcome=FaultOutcome.DELIVERED),
        log.emit(EventKind.NOT_APPLICABLE, component="prefill_worker", outcome=FaultOutcome.NOT_APPLICABLE),
    ]
    log.close()
    lines = [log_line(e) for e in events]
    assert not [line for line in lines if "None" in line or "pid=" in line]
    outcomes = [line.index(str(e.outcome)) for line, e in zip(lines, events)]
    assert len(set(outcomes)) == 1, lines
    assert lines[0].endswith("started  port 44965") and lines[1].endswith(" ok")
