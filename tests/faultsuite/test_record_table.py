"""The columnar record table: it reads what `read_records` reads, skips what it skips, pools
inter-token gaps at the fault, and writes `requests.csv` cell for cell."""

import csv
import json
import math

import numpy as np
import pytest

from faultsuite.record_table import RecordTable, read_record_table, write_requests_csv
from faultsuite.records import FailureKind, RecordWriter, RequestRecord, read_records
from reports.summary import compute_summary


def record(client: int, seq: int, start: float, **fields) -> RequestRecord:
    values = {
        "client": client,
        "seq": seq,
        "start_time": 1000.0 + start,
        "end_time": 1000.5 + start,
        "start_offset_s": start,
        "latency_s": 0.5,
        "status": "success",
        "ttft_s": 0.05,
        "itl_s": (0.01, 0.02, 0.03),
        "output_tokens": 4,
        "finish_reason": "stop",
        "http_status": 200,
    }
    return RequestRecord(**(values | fields))


MIXED = [
    record(0, 0, 1.0),
    record(0, 1, 6.0, itl_s=(0.1,)),
    record(1, 0, 1.0, status="failure", ttft_s=None, itl_s=(0.5,), finish_reason=None, http_status=None,
           error_kind=FailureKind.CONNECTION_RESET, error="connection reset by peer, \"mid-stream\""),
    record(1, 1, 3.0, scheduled_offset_s=2.5, migrations=1),
    record(2, 0, 0.5, status="failure", ttft_s=None, itl_s=(), output_tokens=0, http_status=503,
           error_kind=FailureKind.HTTP_STATUS, error="HTTP 503"),
]  # fmt: skip


def write_run(run_dir, records, extra_lines=()):
    writers: dict[int, RecordWriter] = {}
    for r in records:
        if r.client not in writers:
            writers[r.client] = RecordWriter(run_dir / f"client_{r.client}.jsonl")
        writers[r.client].write(r)
    for w in writers.values():
        w.close()
    with (run_dir / "client_9.jsonl").open("w") as out:
        out.writelines(f"{line}\n" for line in extra_lines)


def columns_of(table: RecordTable) -> dict[str, list]:
    return {name: getattr(table, name).tolist() for name in RecordTable.__dataclass_fields__ if name not in ("itl_split_s", "itl_before", "itl_after")}


def test_the_table_read_from_disk_is_the_table_of_the_records_read_one_by_one(tmp_path):
    write_run(tmp_path, MIXED)

    from_disk = read_record_table(tmp_path, itl_split_s=5.0)
    one_by_one = RecordTable.from_records(read_records(tmp_path), itl_split_s=5.0)

    assert json.dumps(columns_of(from_disk)) == json.dumps(columns_of(one_by_one))
    # Ordered as read_records orders them: start time, then client, then seq.
    assert list(zip(from_disk.client.tolist(), from_disk.seq.tolist())) == [(2, 0), (0, 0), (1, 0), (1, 1), (0, 1)]
    assert from_disk.error.tolist()[2] == 'connection reset by peer, "mid-stream"'
    assert from_disk.send_lag_s.tolist()[3] == 0.5 and math.isnan(from_disk.send_lag_s[0])
    assert from_disk.end_offset_s.tolist() == [1.0, 1.5, 1.5, 3.0, 6.5]


def test_inter_token_gaps_of_successes_pool_on_each_side_of_the_split(tmp_path):
    write_run(tmp_path, MIXED)

    table = read_record_table(tmp_path, itl_split_s=5.0)

    # The failure's 0.5 is in neither pool; the record starting at 6.0 is after the split.
    assert sorted(table.itl_before.tolist()) == pytest.approx([0.01, 0.01, 0.02, 0.02, 0.03, 0.03])
    assert table.itl_after.tolist() == pytest.approx([0.1])
    assert table.mean_itl_s.tolist()[1] == pytest.approx(0.02) and table.itl_count.tolist() == [0, 3, 1, 3, 1]


def test_lines_that_are_not_whole_records_are_skipped_as_read_records_skips_them(tmp_path):
    older = {k: v for k, v in json.loads(MIXED[0].to_json()).items() if k not in ("migrations", "scheduled_offset_s")}
    older |= {"client": 9, "seq": 0}
    write_run(
        tmp_path,
        MIXED,
        extra_lines=[
            json.dumps(older),  # written before those fields existed: read with their defaults
            json.dumps(json.loads(MIXED[0].to_json()) | {"client": 9, "seq": 1, "surprise": 1}),  # an unknown field
            json.dumps(json.loads(MIXED[2].to_json()) | {"client": 9, "seq": 2, "error_kind": "gremlins"}),  # an unknown kind
            json.dumps([1, 2]),  # no object
            MIXED[0].to_json()[:40],  # cut short by a crash
        ],
    )

    table = read_record_table(tmp_path)

    assert len(table) == len(read_records(tmp_path)) == len(MIXED) + 1
    nine = table.client == 9
    assert table.seq[nine].tolist() == [0] and math.isnan(table.scheduled_offset_s[nine][0]) and math.isnan(table.migrations[nine][0])


def test_a_summary_refuses_a_table_pooled_at_another_time_than_the_fault(tmp_path):
    write_run(tmp_path, MIXED)
    table = read_record_table(tmp_path, itl_split_s=5.0)

    with pytest.raises(ValueError, match="split at 5.0"):
        compute_summary(failure="none", records=table, events=[], samples=[], startup_time_s=None, sla_latency_s=1.0)
    summary = compute_summary(failure="none", records=read_record_table(tmp_path), events=[], samples=[], startup_time_s=None, sla_latency_s=1.0)
    assert summary.itl_p50_before_ms == pytest.approx(20.0) and (summary.success, summary.failed) == (3, 2)


def test_requests_csv_has_one_row_per_request_in_milliseconds_where_named(tmp_path):
    write_run(tmp_path, MIXED)

    write_requests_csv(read_record_table(tmp_path), tmp_path / "requests.csv")

    with (tmp_path / "requests.csv").open(newline="") as rows:
        read = list(csv.DictReader(rows))
    assert [(r["client"], r["seq"]) for r in read] == [("2", "0"), ("0", "0"), ("1", "0"), ("1", "1"), ("0", "1")]
    assert {k: read[0][k] for k in ("status", "error_kind", "http_status", "ttft_ms", "mean_itl_ms", "finish_reason", "error", "migrations")} == {
        "status": "failure", "error_kind": "http_status", "http_status": "503", "ttft_ms": "", "mean_itl_ms": "", "finish_reason": "stop", "error": "HTTP 503", "migrations": "",
    }  # fmt: skip
    assert {k: read[3][k] for k in ("start_time", "latency_s", "ttft_ms", "mean_itl_ms", "scheduled_offset_s", "migrations", "http_status")} == {
        "start_time": "1003.000000", "latency_s": "0.500000", "ttft_ms": "50.000", "mean_itl_ms": "20.000", "scheduled_offset_s": "2.500000", "migrations": "1", "http_status": "200",
    }  # fmt: skip
    assert read[2]["error"] == 'connection reset by peer, "mid-stream"'


def test_an_empty_run_is_an_empty_table(tmp_path):
    table = read_record_table(tmp_path)

    assert len(table) == 0 and table.itl_before.size == 0 and table.error.dtype == np.dtype(object)
    write_requests_csv(table, tmp_path / "requests.csv")
    assert (tmp_path / "requests.csv").read_text().count("\n") == 1
