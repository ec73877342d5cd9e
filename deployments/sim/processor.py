"""The simulated processor: routes each generation to a live decode worker, round robin.

A worker that refuses the connection is marked dead at once and the request goes to the next
live one; a worker that breaks mid-stream fails the requests it was serving with an error line.
A background poll of each worker's `/health` notices workers coming back.

With `--migration-limit N`, a stream whose worker breaks is sent again to a live worker, up to
N times, and a `{"migrated": worker}` line tells the frontend so. `--migration-mode resume`
has the new worker continue from the tokens already delivered; `restart` has it start again
from token 0, duplicating what the client already has, as a naive router (or a replay) would.

`--worker-api openai` routes to real OpenAI-compatible servers (vLLM) instead of embedded
workers: each generation is the client's own request, streamed from the worker's
`/v1/chat/completions` (see `upstream`). Such a stream cannot resume, only restart.
"""

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

from deployments.sim.upstream import WORKER_APIS, WorkerApi  # noqa: E402
from deployments.sim.wire import (  # noqa: E402
    NDJSON_HEADERS,
    HealthPoller,
    PeerUnavailable,
    RoundRobin,
    abandon_if_client_goes,
    base_arguments,
    json_response,
    open_generation,
    serve,
)

__all__ = ["main"]

log = logging.getLogger(__name__)


def relay(api: WorkerApi, conn: http.client.HTTPConnection, response: http.client.HTTPResponse, worker: str, migrate=None):
    """Stream a worker's messages on, as lines. A break mid-stream becomes one error line, or,
    with `migrate(delivered)` (which returns the next worker's connection, response and name,
    or None), the stream goes on from another worker."""
    delivered = 0
    try:
        while True:
            try:
                for message in api.messages(response):
                    delivered += "token" in message
                    yield (json.dumps(message) + "\n").encode()
                    if "finish_reason" in message or "error" in message:
                        return
                if migrate is None:
                    return  # the frontend tells a stream that ended without a finish
                raise ConnectionResetError("the stream ended without a finish")
            except (OSError, http.client.HTTPException, ValueError) as exc:
                log.warning("worker %s broke mid-stream: %s", worker, exc)
                moved = migrate(delivered) if migrate is not None else None
                if moved is None:
                    yield (json.dumps({"error": f"worker {worker} connection lost: {exc}"}) + "\n").encode()
                    return
                conn.close()
                conn, response, worker = moved
                yield (json.dumps({"migrated": worker}) + "\n").encode()
    finally:
        conn.close()


class Migration:
    """Where a broken stream goes next: up to `limit` times, to a live worker other than the
    ones that broke, resuming at the tokens delivered or restarting at 0."""

    def __init__(self, api: WorkerApi, router: RoundRobin, workers: HealthPoller, body: dict, limit: int, mode: str):
        self.api, self.router, self.workers, self.body, self.limit, self.mode = api, router, workers, body, limit, mode
        self.moves = 0

    def __call__(self, delivered: int):
        if self.moves >= self.limit:
            return None
        self.moves += 1
        body = {**self.body, "start": delivered if self.mode == "resume" else 0}
        for worker in self.router.candidates():
            try:
                conn, response = open_generation(worker + self.api.path, self.api.body(body))
            except PeerUnavailable as exc:
                log.warning("%s", exc)
                self.workers.mark_dead(worker)
                continue
            log.info("stream migrated to %s (%s at token %d)", worker, self.mode, body["start"])
            return conn, response, worker
        return None


def make_app(workers: HealthPoller, migration_limit: int = 0, migration_mode: str = "resume", api: WorkerApi = WORKER_APIS["sim"]):
    router = RoundRobin(workers)

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/health":
            live = {w: (w in workers.live) for w in workers.peers}
            return json_response(start_response, "200 OK", {"status": "ok", "workers": live})
        if path == "/generate" and environ["REQUEST_METHOD"] == "POST":
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            abandon_if_client_goes(environ)
            for worker in router.candidates():
                try:
                    conn, response = open_generation(worker + api.path, api.body(body))
                except PeerUnavailable as exc:
                    log.warning("%s", exc)
                    workers.mark_dead(worker)
                    continue
                start_response("200 OK", NDJSON_HEADERS)
                migrate = Migration(api, router, workers, body, migration_limit, migration_mode) if migration_limit else None
                return relay(api, conn, response, worker, migrate)
            return json_response(start_response, "503 Service Unavailable", {"error": "no live decode worker"})
        return json_response(start_response, "404 Not Found", {"error": f"no route {path}"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments("simulated processor (router)")
    parser.add_argument("--workers", required=True, help="comma-separated worker base URLs")
    parser.add_argument("--migration-limit", type=int, default=0, help="times a broken stream is sent to another worker (0: never)")
    parser.add_argument("--migration-mode", choices=["resume", "restart"], default="resume", help="continue from the tokens delivered, or from 0")
    parser.add_argument("--worker-api", choices=sorted(WORKER_APIS), default="sim", help="embedded workers' /generate, or real servers' /v1/chat/completions")
    args = parser.parse_args(argv)
    api = WORKER_APIS[args.worker_api]
    if args.migration_limit and args.migration_mode == "resume" and not api.resumes:
        parser.error(f"--worker-api {args.worker_api} cannot resume a stream: use --migration-mode restart")
    workers = HealthPoller(args.workers.split(","))
    workers.start()
    serve(make_app(workers, args.migration_limit, args.migration_mode, api), args.host, args.port, f"processor:{args.port}", args.startup_delay_s)


if __name__ == "__main__":
    main()
