"""The simulated remote prefill queue: decode workers put prompts in, prefill workers take them out.

Like a message broker, it knows nothing about who takes an item: a prefill worker that dies
holding one never answers, and the decode worker waiting on it gives up after its prefill
timeout. While no prefill worker takes items, they wait in the queue. An item handed out must
be claimed at once: one that is not (its taker died with a request for work still open) goes
back to the head of the queue after a short lease.

    POST /prefill  {"prompt_tokens": n, "timeout_s": t}   blocks until done (200) or t (504)
    GET  /next?wait_s=w                                    an item {"id", "prompt_tokens"}, or 204
    POST /claim    {"id": ...}                             take the item handed out (409 if too late)
    POST /done     {"id": ...}                             mark a claimed item done (404 if abandoned)
    GET  /health, /metrics                                 prefill_queue_depth, prefill_in_progress
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
from gevent.event import AsyncResult, Event  # noqa: E402
from prometheus_client import CollectorRegistry, Gauge, generate_latest  # noqa: E402

from deployments.sim.wire import abandon_if_client_goes, base_arguments, json_response, serve  # noqa: E402

__all__ = ["main"]

log = logging.getLogger(__name__)


CLAIM_LEASE_S = 0.5


@dataclass
class Item:
    id: str
    prompt_tokens: int
    done: AsyncResult = field(default_factory=AsyncResult)


class PrefillQueue:
    def __init__(self) -> None:
        self.waiting: deque[Item] = deque()
        self.offered: dict[str, Item] = {}
        self.in_progress: dict[str, Item] = {}
        self._arrived = Event()
        self._ids = itertools.count()
        self.registry = CollectorRegistry()
        Gauge("prefill_queue_depth", "Prefill items no worker has taken", registry=self.registry).set_function(lambda: len(self.waiting))
        Gauge("prefill_in_progress", "Prefill items taken, not yet done", registry=self.registry).set_function(lambda: len(self.in_progress))

    def _put(self, item: Item, front: bool = False) -> None:
        if front:
            self.waiting.appendleft(item)
        else:
            self.waiting.append(item)
        self._arrived.set()

    def prefill(self, prompt_tokens: int, timeout_s: float) -> bool:
        """Queue one prompt and wait for a prefill worker to finish it; False on timeout.
        A caller that goes away meanwhile (ClientGone) takes the item out of the queue."""
        item = Item(f"p{next(self._ids)}", prompt_tokens)
        self._put(item)
        finished = False
        try:
            finished = item.done.wait(timeout_s) is True
            return finished
        finally:
            if not finished:
                item.done.set(False)  # abandoned: nobody should start it any more
                if item in self.waiting:
                    self.waiting.remove(item)
            self.offered.pop(item.id, None)
            self.in_progress.pop(item.id, None)

    def next(self, wait_s: float) -> Item | None:
        """Hand out the oldest item, to be claimed within the lease; None after `wait_s`."""
        deadline = time.monotonic() + wait_s
        while not self.waiting:
            self._arrived.clear()
            if not self._arrived.wait(max(0.0, deadline - time.monotonic())):
                return None
        item = self.waiting.popleft()
        self.offered[item.id] = item
        gevent.spawn_later(CLAIM_LEASE_S, self._reoffer, item)
        return item

    def _reoffer(self, item: Item) -> None:
        if self.offered.pop(item.id, None) is not None and not item.done.ready():
            log.warning("item %s was not claimed; back to the head of the queue", item.id)
            self._put(item, front=True)

    def claim(self, item_id: str) -> bool:
        item = self.offered.pop(item_id, None)
        if item is None or item.done.ready():
            return False
        self.in_progress[item_id] = item
        return True

    def done(self, item_id: str) -> bool:
        item = self.in_progress.pop(item_id, None)
        if item is None:
            return False
        item.done.set(True)
        return True

    def app(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/prefill" and method == "POST":
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            abandon_if_client_goes(environ)
            if self.prefill(int(body["prompt_tokens"]), float(body["timeout_s"])):
                return json_response(start_response, "200 OK", {"status": "done"})
            return json_response(start_response, "504 Gateway Timeout", {"error": f"no prefill worker answered within {body['timeout_s']} s"})
        if path == "/next":
            wait_s = float(parse_qs(environ.get("QUERY_STRING", "")).get("wait_s", ["1"])[0])
            item = self.next(wait_s)
            if item is None:
                start_response("204 No Content", [])
                return [b""]
            return json_response(start_response, "200 OK", {"id": item.id, "prompt_tokens": item.prompt_tokens})
        if path == "/claim" and method == "POST":
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            if self.claim(body["id"]):
                return json_response(start_response, "200 OK", {"status": "claimed"})
            return json_response(start_response, "409 Conflict", {"error": "lease expired or item abandoned"})
        if path == "/done" and method == "POST":
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            if self.done(body["id"]):
                return json_response(start_response, "200 OK", {"status": "done"})
            return json_response(start_response, "404 Not Found", {"error": "abandoned or unknown item"})
        if path == "/health":
            return json_response(start_response, "200 OK", {"status": "ok", "depth": len(self.waiting)})
        if path == "/metrics":
            payload = generate_latest(self.registry)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(payload)))])
            return [payload]
        return json_response(start_response, "404 Not Found", {"error": f"no route {path}"})


def main(argv: list[str] | None = None) -> None:
    args = base_arguments("simulated remote prefill queue").parse_args(argv)
    serve(PrefillQueue().app, args.host, args.port, f"prefill_queue:{args.port}", args.startup_delay_s)


if __name__ == "__main__":
    main()
