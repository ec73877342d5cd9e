"""The simulated prefill worker: takes prompts from the remote prefill queue and "prefills" them.

It spends `--prefill-ms-per-token` per prompt token on each item, up to `--concurrency` at
a time, then reports the item done (the KV transfer back to the decode worker). Nobody calls
it, so nobody notices when it dies: an item it was holding is simply never done.
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import logging  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import gevent  # noqa: E402

from deployments.sim.wire import PeerUnavailable, base_arguments, json_response, post_json, serve  # noqa: E402

__all__ = ["main"]

log = logging.getLogger(__name__)

POLL_WAIT_S = 1.0


def take_and_prefill(queue_url: str, prefill_ms_per_token: float) -> None:
    """One puller: forever take an item, claim it, spend its prefill time, report it done."""
    while True:
        try:
            with urllib.request.urlopen(f"{queue_url}/next?wait_s={POLL_WAIT_S}", timeout=POLL_WAIT_S + 5) as response:
                if response.status == 204:
                    continue
                item = json.load(response)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log.warning("prefill queue unreachable: %s", exc)
            gevent.sleep(0.5)
            continue
        if not post(queue_url, "claim", item["id"]):
            continue
        gevent.sleep(prefill_ms_per_token * item["prompt_tokens"] / 1000.0)
        post(queue_url, "done", item["id"])


def post(queue_url: str, verb: str, item_id: str) -> bool:
    """POST /claim or /done for one item; False if the queue refused or could not be reached."""
    try:
        post_json(f"{queue_url}/{verb}", {"id": item_id}, timeout_s=5)
        return True
    except PeerUnavailable as exc:
        if exc.status is not None:
            log.info("%s of item %s refused (abandoned or lease expired): %s", verb, item_id, exc)
        else:
            log.warning("%s of item %s failed: %s", verb, item_id, exc)
    return False


def app(environ, start_response):
    if environ["PATH_INFO"] == "/health":
        return json_response(start_response, "200 OK", {"status": "ready"})
    return json_response(start_response, "404 Not Found", {"error": "no route"})


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments("simulated prefill worker")
    parser.add_argument("--queue", required=True, help="base URL of the remote prefill queue")
    parser.add_argument("--prefill-ms-per-token", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=4, help="items prefilled at once")
    args = parser.parse_args(argv)
    # Model loading first: no item is taken before the worker could serve it.
    gevent.sleep(args.startup_delay_s)
    for _ in range(args.concurrency):
        gevent.spawn(take_and_prefill, args.queue, args.prefill_ms_per_token)
    serve(app, args.host, args.port, f"prefill_worker:{args.port}")


if __name__ == "__main__":
    main()
