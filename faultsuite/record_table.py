"""A run's request records as columns: what the summary, the charts and `requests.csv` read.

A million requests as `RequestRecord` objects take gigabytes (each holds its inter-token gaps
as a tuple of Python floats); as columns they take about 100 bytes each. The inter-token gaps
are not kept per request: each record keeps its mean and count, and the gaps of successful
records go into two pools, split at `itl_split_s` (the fault's offset, as the summary splits
before from after), which is all the summary's ITL percentiles need. The pools are float32:
seven significant digits, far finer than the milliseconds the report shows.

`read_record_table` fills the columns file by file, so a run's records are never all held
as Python objects at once. Text columns (`finish_reason`, `error_kind`, `error`) are object
arrays of `str` or `None`; a missing number is NaN.
"""

import csv
import math
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from functools import cached_property
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np
import orjson

from faultsuite.layout import RunLayout
from faultsuite.records import FailureKind, RequestRecord

__all__ = ["REQUESTS_CSV_COLUMNS", "RecordTable", "read_record_table", "write_requests_csv"]

_RECORD_FIELDS = frozenset(f.name for f in fields(RequestRecord))
_REQUIRED = frozenset(f.name for f in fields(RequestRecord) if f.default is MISSING and f.default_factory is MISSING)
_KINDS = frozenset(FailureKind)
_NAN = math.nan


@dataclass(frozen=True, eq=False)
class RecordTable:
    """Every request of a run, one array element per request, ordered by (start time,
    client, seq) as `read_records` orders them. Fields mirror `RequestRecord`; `itl_s` is
    replaced by `mean_itl_s` and `itl_count` per request and the two ITL pools."""

    client: np.ndarray
    seq: np.ndarray
    start_time: np.ndarray
    end_time: np.ndarray
    start_offset_s: np.ndarray
    latency_s: np.ndarray
    ok: np.ndarray
    ttft_s: np.ndarray
    output_tokens: np.ndarray
    finish_reason: np.ndarray
    http_status: np.ndarray
    error_kind: np.ndarray
    error: np.ndarray
    scheduled_offset_s: np.ndarray
    migrations: np.ndarray
    mean_itl_s: np.ndarray
    itl_count: np.ndarray
    #: The offset the pools split at: a successful record starting before it pools its gaps in
    #: `itl_before`, else in `itl_after`. Infinite: every gap is before. A pool's order means
    #: nothing: the summary reorders it in place as it takes its percentiles.
    itl_split_s: float
    itl_before: np.ndarray
    itl_after: np.ndarray

    def __len__(self) -> int:
        return len(self.client)

    @property
    def open_loop(self) -> np.ndarray:
        """True for a record with a scheduled send time (open-loop load)."""
        return ~np.isnan(self.scheduled_offset_s)

    @cached_property
    def arrival_s(self) -> np.ndarray:
        """When each request's user asked: its scheduled offset (open loop), else its start."""
        return np.where(self.open_loop, self.scheduled_offset_s, self.start_offset_s)

    @cached_property
    def end_offset_s(self) -> np.ndarray:
        """When each request ended, as `RequestRecord.end_offset_s` defines it. Computed once:
        the summary and the charts each read it several times."""
        return self.arrival_s + self.latency_s

    @property
    def send_lag_s(self) -> np.ndarray:
        """How late each was sent after its schedule; NaN for closed-loop records."""
        return self.start_offset_s - self.scheduled_offset_s

    @classmethod
    def from_records(cls, records: Iterable[RequestRecord], itl_split_s: float = math.inf) -> "RecordTable":
        """The table of `records` (in any order)."""
        return _Builder(itl_split_s).add_rows([_row(r) for r in records]).table()


def _row(record: RequestRecord) -> dict:
    return {name: getattr(record, name) for name in _RECORD_FIELDS}


def read_record_table(run_dir: Path, itl_split_s: float = math.inf) -> RecordTable:
    """The table of every `client_<i>.jsonl` in `run_dir`; a line that is not a whole record
    (one cut short by a crash, or not a record at all) is skipped, as `read_records` skips it."""
    builder = _Builder(itl_split_s)
    for path in RunLayout(run_dir).record_files():
        builder.add_rows(_parse_lines(path.read_bytes()))
    return builder.table()


def _parse_lines(data: bytes) -> list[dict]:
    """The JSON objects of one file's bytes. One parse of the whole file as a JSON array when
    every line is whole, else line by line, skipping a line that does not parse."""
    body = data.strip()
    if not body:
        return []
    try:
        return orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        rows = []
        for line in body.splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        return rows


_ORDER = tuple(f.name for f in fields(RequestRecord))
_DEFAULTS = {f.name: None for f in fields(RequestRecord) if f.name not in _REQUIRED} | {"itl_s": (), "output_tokens": 0}
_ROW = itemgetter(*_ORDER)


def _is_record(row: object) -> bool:
    if not isinstance(row, dict) or not _REQUIRED <= row.keys() <= _RECORD_FIELDS:
        return False
    kind = row.get("error_kind")
    return kind is None or kind in _KINDS


def _columns(rows: list) -> dict[str, tuple]:
    """Each field's values over the rows that are records, in `_ORDER`. The common case, every
    row a whole record as `RequestRecord.to_json` writes it, is checked in bulk; otherwise each
    row is checked, and fields an older writer left out take their defaults."""
    try:
        whole = set(map(len, rows)) == {len(_ORDER)} and (values := list(map(_ROW, rows)))
    except (KeyError, TypeError):  # a field missing, or a row that is no object
        whole = False
    if whole:
        columns = dict(zip(_ORDER, zip(*values)))
        if set(columns["error_kind"]) <= _KINDS | {None}:
            return columns
    records = [{**_DEFAULTS, **row} for row in rows if _is_record(row)]
    if not records:
        return {name: () for name in _ORDER}
    return dict(zip(_ORDER, zip(*map(_ROW, records))))


class _Growing:
    """A numeric column appended to in place: its buffer is resized where it lies (the
    allocator can often extend it without a copy), so a column of a million values is not
    held twice, as a list of chunks and their concatenation, at the end."""

    def __init__(self, dtype: type):
        self.buffer = np.empty(1024, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.buffer):
            self.buffer.resize(max(end, len(self.buffer) * 3 // 2), refcheck=False)
        self.buffer[self.size : end] = values
        self.size = end

    def array(self) -> np.ndarray:
        """The values, trimmed to their length in place."""
        self.buffer.resize(self.size, refcheck=False)
        return self.buffer


class _Builder:
    """Columns filled a batch of rows at a time."""

    #: Columns read as they are from each record's field of the same name.
    _FLOATS = ("start_time", "end_time", "start_offset_s", "latency_s", "ttft_s", "http_status", "scheduled_offset_s", "migrations")
    _INTS = ("client", "seq", "output_tokens")
    _TEXTS = ("finish_reason", "error_kind", "error")
    #: Columns made from the fields: `ok` from `status`, the rest from `itl_s`.
    _DERIVED = {"ok": np.bool_, "mean_itl_s": np.float64, "itl_count": np.int64, "itl_before": np.float32, "itl_after": np.float32}

    def __init__(self, itl_split_s: float):
        self.itl_split_s = itl_split_s
        self.strings: dict[str, str] = {}
        self.numbers = {name: _Growing(np.float64) for name in self._FLOATS} | {name: _Growing(np.int64) for name in self._INTS}
        self.numbers |= {name: _Growing(dtype) for name, dtype in self._DERIVED.items()}
        self.texts: dict[str, list[np.ndarray]] = {name: [] for name in self._TEXTS}

    def add_rows(self, rows: list) -> "_Builder":
        columns = _columns(rows)
        numbers = self.numbers
        for name in self._FLOATS:
            numbers[name].append(np.array(columns[name], dtype=np.float64))  # None becomes NaN
        for name in self._INTS:
            numbers[name].append(np.array(columns[name], dtype=np.int64))
        for name in self._TEXTS:
            # One string object per distinct value: a million "stop"s would be 50 MiB.
            seen = self.strings
            column = np.empty(len(columns[name]), dtype=object)
            column[:] = [v if v is None else seen.setdefault(v, v) for v in columns[name]]
            self.texts[name].append(column)
        ok = [status == "success" for status in columns["status"]]
        gaps = [g or () for g in columns["itl_s"]]
        numbers["ok"].append(np.array(ok, dtype=bool))
        numbers["itl_count"].append(np.fromiter(map(len, gaps), dtype=np.int64, count=len(gaps)))
        numbers["mean_itl_s"].append(np.array([sum(g) / len(g) if g else _NAN for g in gaps], dtype=np.float64))
        before = [start < self.itl_split_s for start in columns["start_offset_s"]]
        for pool, side in (("itl_before", True), ("itl_after", False)):
            pooled = (g for g, good, early in zip(gaps, ok, before) if good and early is side)
            numbers[pool].append(np.fromiter(chain.from_iterable(pooled), dtype=np.float32))
        return self

    def table(self) -> RecordTable:
        """The columns, sorted; each unsorted copy is let go as its sorted one is made."""
        numbers, texts = self.numbers, self.texts
        order = np.lexsort([numbers[name].array() for name in ("seq", "client", "start_time")])
        pools = {name: numbers.pop(name).array() for name in ("itl_before", "itl_after")}
        columns = {name: numbers.pop(name).array()[order] for name in list(numbers)}
        columns |= {name: _joined(texts.pop(name))[order] for name in list(texts)}
        return RecordTable(**columns, **pools, itl_split_s=self.itl_split_s)


def _joined(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=object)


REQUESTS_CSV_COLUMNS = (
    "client",
    "seq",
    "start_time",
    "end_time",
    "start_offset_s",
    "latency_s",
    "ttft_ms",
    "mean_itl_ms",
    "output_tokens",
    "status",
    "error_kind",
    "http_status",
    "finish_reason",
    "error",
    "scheduled_offset_s",
    "migrations",
)


def _fixed(values: np.ndarray, digits: int, scale: float = 1.0) -> list[str]:
    """Each number with `digits` decimals; "" for NaN."""
    spec = f".{digits}f"
    return ["" if v != v else format(v * scale, spec) for v in values.tolist()]


def _whole(values: np.ndarray) -> list[str]:
    """Each whole number as an integer; "" for NaN."""
    return ["" if v != v else str(int(v)) for v in values.tolist()]


def _text(values: np.ndarray) -> list[str]:
    return ["" if v is None else v for v in values.tolist()]


#: Rows formatted at a time: each becomes a few hundred bytes of Python strings until written.
_CSV_BATCH = 20_000


def write_requests_csv(records: RecordTable, path: Path) -> None:
    """`requests.csv`: one row per request, milliseconds where the column name says so."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REQUESTS_CSV_COLUMNS)
        for first in range(0, len(records), _CSV_BATCH):
            writer.writerows(zip(*_csv_columns(records, slice(first, first + _CSV_BATCH))))


def _csv_columns(records: RecordTable, rows: slice) -> tuple[list, ...]:
    return (
        records.client[rows].tolist(),
        records.seq[rows].tolist(),
        _fixed(records.start_time[rows], 6),
        _fixed(records.end_time[rows], 6),
        _fixed(records.start_offset_s[rows], 6),
        _fixed(records.latency_s[rows], 6),
        _fixed(records.ttft_s[rows], 3, 1000),
        _fixed(records.mean_itl_s[rows], 3, 1000),
        records.output_tokens[rows].tolist(),
        np.where(records.ok[rows], "success", "failure").tolist(),
        _text(records.error_kind[rows]),
        _whole(records.http_status[rows]),
        _text(records.finish_reason[rows]),
        _text(records.error[rows]),
        _fixed(records.scheduled_offset_s[rows], 6),
        _whole(records.migrations[rows]),
    )
