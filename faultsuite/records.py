"""Request records: one per chat request, streamed to `client_<i>.jsonl` as each completes.

A record is written the moment its request ends, and flushed, so a run that is interrupted
still leaves every request it made on disk.
"""

import errno
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import IO, Literal

import orjson

from faultsuite.layout import RunLayout

__all__ = [
    "BadRequestRecord",
    "read_bad_requests",
    "FailureKind",
    "RequestRecord",
    "RecordWriter",
    "describe_write_error",
    "read_records",
]


class FailureKind(StrEnum):
    """Every way a request can fail, as written in `error_kind`."""

    HTTP_STATUS = "http_status"  # the server answered with a status other than 200
    CONNECTION_REFUSED = "connection_refused"  # nothing listened on the port
    CONNECTION_RESET = "connection_reset"  # the connection broke before or during the response
    TIMEOUT = "timeout"  # no complete answer within the request timeout
    INCOMPLETE_STREAM = "incomplete_stream"  # the stream ended with neither a finish reason nor [DONE]
    STREAM_ERROR = "stream_error"  # an error object inside a 200 response
    INVALID_RESPONSE = "invalid_response"  # the body could not be parsed as the API's JSON
    CORRUPT_OUTPUT = "corrupt_output"  # a 200 answer whose tokens skip, repeat or restart (request.integrity)

Status = Literal["success", "failure"]


@dataclass(frozen=True)
class RequestRecord:
    """What one client saw of one request. Times are epoch seconds; durations are seconds."""

    client: int
    seq: int
    start_time: float
    end_time: float
    start_offset_s: float
    latency_s: float
    status: Status
    ttft_s: float | None = None
    itl_s: tuple[float, ...] = field(default_factory=tuple)
    output_tokens: int = 0
    finish_reason: str | None = None
    http_status: int | None = None
    error_kind: FailureKind | None = None
    error: str | None = None
    #: Open-loop load only: when the request should have been sent. Its `latency_s` and
    #: `ttft_s` then count from here, the wait for a free slot included.
    scheduled_offset_s: float | None = None
    #: How often the deployment moved the stream to another worker, where it says so.
    migrations: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def end_offset_s(self) -> float:
        """When the request ended, as a run offset."""
        return (self.start_offset_s if self.scheduled_offset_s is None else self.scheduled_offset_s) + self.latency_s

    @property
    def send_lag_s(self) -> float | None:
        """How late it was sent after it should have been; None for closed-loop load."""
        return None if self.scheduled_offset_s is None else self.start_offset_s - self.scheduled_offset_s

    @property
    def mean_itl_s(self) -> float | None:
        return sum(self.itl_s) / len(self.itl_s) if self.itl_s else None

    def to_json(self) -> str:
        """One JSON line, fields in declaration order. A dict of the fields as they are, not
        `dataclasses.asdict`, whose deep copy costs more than the encoding."""
        return orjson.dumps({name: getattr(self, name) for name in _FIELDS}).decode()

    @classmethod
    def from_json(cls, line: str | bytes) -> "RequestRecord":
        """The record of one line; ValueError or TypeError when it is not one (orjson's
        JSONDecodeError is a ValueError)."""
        data = orjson.loads(line)
        if not isinstance(data, dict):
            raise TypeError(f"a record is a JSON object, not {type(data).__name__}")
        data["itl_s"] = tuple(data.get("itl_s") or ())
        if data.get("error_kind") is not None:
            data["error_kind"] = FailureKind(data["error_kind"])
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(RequestRecord))


def describe_write_error(exc: OSError) -> str:
    """`disk full (No space left on device)`, or the error as the OS words it."""
    reason = exc.strerror or str(exc)
    return f"disk full ({reason})" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else reason


class RecordWriter:
    """Appends records of one client to its JSON-lines file, flushing each line."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: RequestRecord) -> None:
        self._file.write(record.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_records(run_dir: Path) -> list[RequestRecord]:
    """Every record of every `client_<i>.jsonl` in `run_dir`, ordered by start time.

    A last line cut short by a crash is skipped: everything before it is still good.
    """
    records = []
    for path in RunLayout(run_dir).record_files():
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                records.append(RequestRecord.from_json(line))
            except (ValueError, TypeError):  # JSONDecodeError is a ValueError
                continue
    return sorted(records, key=lambda r: (r.start_time, r.client, r.seq))


@dataclass(frozen=True)
class BadRequestRecord:
    """One invalid request a `bad_requests` fault sent beside the load, and how it was
    answered: `status` (None when no answer came) and `latency_s`, the time to reject it."""

    time: float
    offset_s: float
    kind: str
    status: int | None
    latency_s: float
    error: str | None = None

    @property
    def rejected(self) -> bool:
        """Answered as a client error should be: a 4xx status."""
        return self.status is not None and 400 <= self.status < 500

    def to_json(self) -> str:
        return orjson.dumps({name: getattr(self, name) for name in _BAD_FIELDS}).decode()


_BAD_FIELDS = tuple(f.name for f in fields(BadRequestRecord))


def read_bad_requests(path: Path) -> list[BadRequestRecord]:
    """The records of a `bad_requests.jsonl`, in the order sent; none when it is absent. A
    line cut short by a crash is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(BadRequestRecord(**orjson.loads(line)))
        except (ValueError, TypeError):
            continue
    return records
