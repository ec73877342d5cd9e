"""Bad input beside good load: a burst of invalid chat requests to the deployment's endpoint.

For `duration_s`, `rate` requests a second, each of the kinds asked in turn:

- `overflow`: a prompt of `overflow_tokens` words, past the model's context length;
- `malformed_json`: a body that is not JSON;
- `negative_max_tokens`: `max_tokens: -1`;
- `unknown_model`: a model the deployment does not serve.

Each is answered within `timeout_s` or not at all, and goes to `bad_requests.jsonl` as it
ends (`BadRequestRecord`: its kind, status, time to reject). The burst is a `fault` event at
its start and a `heal` event at its end; its proof is that the endpoint answered. The
measurement is the normal load's failures meanwhile, and whether each bad request got a 4xx
quickly (the summary's Bad Requests columns, and the expectations `bad_rejected_pct` and
`bad_reject_max_s`).
"""

import json
import time
from typing import Literal

import gevent
from gevent.pool import Group
from pydantic import Field

from chaos.context import FaultContext
from chaos.models import Injection, register_kind
from deployments.interface import FaultTarget
from faultsuite.bounded_http import HttpError, fetch
from faultsuite.events import EventKind, FaultOutcome
from faultsuite.layout import RunLayout
from faultsuite.records import BadRequestRecord

__all__ = ["BAD_KINDS", "BadRequestsInjection"]

BadKind = Literal["overflow", "malformed_json", "negative_max_tokens", "unknown_model"]
BAD_KINDS: tuple[str, ...] = BadKind.__args__  # type: ignore[attr-defined]
#: An answer's body is read no further than this: only its status matters.
ANSWER_BYTES = 64 * 1024
UNKNOWN_MODEL = "faultsuite-no-such-model"


@register_kind
class BadRequestsInjection(Injection):
    """A burst of invalid requests to the endpoint that `target.role` serves."""

    kind: Literal["bad_requests"] = "bad_requests"
    duration_s: float = Field(gt=0, le=86_400)
    rate: float = Field(10.0, gt=0, le=1000, description="bad requests a second")
    requests: list[BadKind] = Field(default_factory=lambda: list(BAD_KINDS), min_length=1, description="which kinds, sent in turn")
    overflow_tokens: int = Field(65_536, gt=0, le=1_000_000, description="words in an overflow prompt; more than the model's context length")
    timeout_s: float = Field(10.0, gt=0, le=600, description="how long each may take to be answered")

    def body(self, bad: str, model: str, extra: dict) -> bytes:
        """The request of kind `bad`: everything else as a good one would have it."""
        request = {**extra, "model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, "stream": False}
        if bad == "malformed_json":
            return b'{"model": "' + model.encode() + b'", "messages": [{"role": "user", "content": '
        if bad == "overflow":
            request["messages"] = [{"role": "user", "content": " ".join(["word"] * self.overflow_tokens)}]
        elif bad == "negative_max_tokens":
            request["max_tokens"] = -1
        elif bad == "unknown_model":
            request["model"] = UNKNOWN_MODEL
        return json.dumps(request).encode()

    def apply(self, targets: list[FaultTarget], context: FaultContext) -> None:
        target = targets[0]
        deployment = context.deployment
        spec = deployment.spec
        url = deployment.endpoint.rstrip("/") + "/v1/chat/completions"
        headers = {"Content-Type": "application/json", **spec.request.header_values(spec.name)}
        bodies = {bad: self.body(bad, spec.model, spec.request.body_for(8)) for bad in BAD_KINDS}
        path = RunLayout(deployment.events.path.parent).bad_requests
        what = f"bad requests at {self.rate:g}/s for {self.duration_s:g} s to {url}: {', '.join(self.requests)}"
        context.record(target, FaultOutcome.DELIVERED, EventKind.FAULT, detail=f"failure {context.failure_name}: {what}")
        sent: list[BadRequestRecord] = []
        burst = Group()
        clock = deployment.events.clock
        cut_short = True
        with path.open("a", encoding="utf-8") as out:

            def send(bad: str) -> None:
                wall, offset = clock.stamp()
                started = time.monotonic()
                status, error = None, None
                try:
                    status = fetch(url, self.timeout_s, ANSWER_BYTES, method="POST", body=bodies[bad], headers=headers)[0]
                except (OSError, HttpError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                record = BadRequestRecord(wall, offset, bad, status, time.monotonic() - started, error)
                sent.append(record)
                out.write(record.to_json() + "\n")
                out.flush()

            try:
                start = time.monotonic()
                for n in range(max(1, round(self.rate * self.duration_s))):
                    gevent.sleep(max(0.0, start + n / self.rate - time.monotonic()))
                    burst.spawn(send, self.requests[n % len(self.requests)])
                burst.join(timeout=self.timeout_s + 1)
                cut_short = False
            finally:
                gevent.killall(list(burst))  # greenlets still waiting when the run ends
        answered = [r for r in sent if r.status is not None]
        rejected = sum(r.rejected for r in sent)
        context.record(target, FaultOutcome.DELIVERED, EventKind.HEAL, at_teardown=cut_short, detail=f"bad requests ended: {len(sent)} sent, {len(answered)} answered, {rejected} with a 4xx")
        if answered:
            context.prove(target, FaultOutcome.CONFIRMED, f"the endpoint answered {len(answered)} of {len(sent)} bad requests")
        else:
            context.prove(target, FaultOutcome.NO_EFFECT, f"none of {len(sent)} bad requests was answered")
