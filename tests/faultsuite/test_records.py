"""Request records on disk: the open-loop field round-trips, and older lines without it read."""

import json

from faultsuite.records import RequestRecord

BASE = {"client": 0, "seq": 3, "start_time": 1000.0, "end_time": 1001.0, "start_offset_s": 2.5, "latency_s": 1.25, "status": "success"}


def test_an_open_loop_record_keeps_its_schedule_through_json():
    record = RequestRecord(**BASE, scheduled_offset_s=2.0)

    assert RequestRecord.from_json(record.to_json()) == record
    assert (record.send_lag_s, record.end_offset_s) == (0.5, 3.25)


def test_a_line_written_before_open_loop_load_reads_as_closed_loop():
    record = RequestRecord.from_json(json.dumps(BASE))

    assert (record.scheduled_offset_s, record.send_lag_s, record.end_offset_s) == (None, None, 3.75)
