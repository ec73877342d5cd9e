"""The warm-up request: one chat completion that must succeed before the load starts."""

import json

from deployments.models import AnySpec
from deployments.probes import wait_until
from faultsuite.bounded_http import HttpError, fetch
from faultsuite.secrets import redact_text
from faultsuite.errors import LaunchError
from faultsuite.events import EventKind, EventLog

__all__ = ["warm_up"]


def warm_up(endpoint: str, spec: AnySpec, events: EventLog, timeout_s: float) -> None:
    """Send a 1-token chat request (with the deployment's extra body) until one succeeds;
    a `warmup` event either way, and LaunchError if none did within `timeout_s`."""
    url = endpoint.rstrip("/") + "/v1/chat/completions"
    request = {"model": spec.model, "messages": [{"role": "user", "content": "warm up"}], "max_tokens": 1}
    body = json.dumps({**spec.request.body_for(1), **request}).encode()
    headers = spec.request.header_values(spec.name)
    last_error = ""

    def attempt() -> bool:
        nonlocal last_error
        try:
            status, answer = fetch(url, 10.0, method="POST", body=body, headers={"Content-Type": "application/json", **headers})
            if status != 200:
                raise HttpError(f"HTTP {status}: {answer[:200].decode('utf-8', errors='replace')}")
            json.loads(answer)
            return True
        except (OSError, HttpError, ValueError, RecursionError) as exc:
            last_error = str(exc)
            return False

    if not wait_until(attempt, timeout_s, interval_s=0.2):
        last_error = redact_text(last_error)
        events.emit(EventKind.WARMUP, outcome="failed", detail=last_error)
        raise LaunchError(f"warm-up request to {url} did not succeed within {timeout_s:g} s: {last_error}")
    events.emit(EventKind.WARMUP, outcome="ok")
