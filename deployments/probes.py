"""Ready probes: wait until a replica answers its HTTP probe or prints its ready line."""

import re
import time
from pathlib import Path

import gevent

from deployments.models import HttpProbe, LogProbe
from faultsuite.bounded_http import HttpError, ResponseTooLarge, fetch
from faultsuite.errors import ConfigError

__all__ = ["check_answers", "probe_once", "wait_until"]

#: A probe reads no more of a body than this: it asks whether something answers, not what.
PROBE_BODY_BYTES = 1024 * 1024


def check_answers(endpoint: str, what: str, timeout_s: float = 5.0) -> None:
    """ConfigError `<what> unreachable (<reason>)` unless the OpenAI-compatible server at
    `endpoint` answers `GET /v1/models`; any HTTP status is an answer."""
    try:
        fetch(endpoint.rstrip("/") + "/v1/models", timeout_s, PROBE_BODY_BYTES)
    except ResponseTooLarge:
        return  # it answers; what it lists is not our concern here, nor is any status
    except (OSError, HttpError, ValueError) as exc:
        raise ConfigError(f"{what} unreachable ({exc})") from None


def http_ok(url: str, status: int, timeout_s: float = 1.0) -> bool:
    try:
        return fetch(url, timeout_s, PROBE_BODY_BYTES)[0] == status
    except (OSError, HttpError, ValueError):
        return False


def log_matches(log_dir: Path, pattern: str, offsets: dict[str, int]) -> bool:
    """Whether a line written after `offsets` (bytes, per log file name) matches `pattern`."""
    regex = re.compile(pattern)
    for name in ("output.log", "error.log"):
        try:
            with (log_dir / name).open("rb") as log:
                log.seek(offsets.get(name, 0))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        if any(regex.search(line) for line in text.splitlines()):
            return True
    return False


def probe_once(probe: HttpProbe | LogProbe | None, url: str, log_dir: Path, log_offsets: dict[str, int]) -> bool:
    """One check of a probe; `url` is the HTTP probe's URL already filled in, and a log
    probe reads only what was written after `log_offsets` (this replica's own lines)."""
    if probe is None:
        return True
    if isinstance(probe, HttpProbe):
        return http_ok(url, probe.status)
    return log_matches(log_dir, probe.log, log_offsets)


def wait_until(check, timeout_s: float, interval_s: float = 0.1, give_up=lambda: False) -> bool:
    """Poll `check` until it is true (True), `give_up` is true or time runs out (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        if give_up():
            return False
        gevent.sleep(interval_s)
    return False
