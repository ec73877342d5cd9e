"""The simulated processor: routes each generation to a live decode worker, round robin.

A worker that refuses the connection is marked dead at once and the request goes to the next
live one; a worker that breaks mid-stream fails the requests it was serving with an error line.
A background poll of each worker's `/health` notices workers coming back.
"""

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

from deployments.sim.wire import (  # noqa: E402
    NDJSON_HEADERS,
    HealthPoller,
    PeerUnavailable,
    RoundRobin,
    base_arguments,
    json_response,
    open_generation,
    read_json_lines,
    serve,
)

__all__ = ["main"]

log = logging.getLogger(__name__)


def relay(conn: http.client.HTTPConnection, response: http.client.HTTPResponse, worker: str):
    """Stream a worker's lines on; a break mid-stream becomes one error line."""
    try:
        for message in read_json_lines(response):
            yield (json.dumps(message) + "\n").encode()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.warning("worker %s broke mid-stream: %s", worker, exc)
        yield (json.dumps({"error": f"worker {worker} connection lost: {exc}"}) + "\n").encode()
    finally:
        conn.close()


def make_app(workers: HealthPoller):
    router = RoundRobin(workers)

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/health":
            live = {w: (w in workers.live) for w in workers.peers}
            return json_response(start_response, "200 OK", {"status": "ok", "workers": live})
        if path == "/generate" and environ["REQUEST_METHOD"] == "POST":
            body = json.loads(environ["wsgi.input"].read() or b"{}")
            for worker in router.candidates():
                try:
                    conn, response = open_generation(worker + "/generate", body)
                except PeerUnavailable as exc:
                    log.warning("%s", exc)
                    workers.mark_dead(worker)
                    continue
                start_response("200 OK", NDJSON_HEADERS)
                return relay(conn, response, worker)
            return json_response(start_response, "503 Service Unavailable", {"error": "no live decode worker"})
        return json_response(start_response, "404 Not Found", {"error": f"no route {path}"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = base_arguments("simulated processor (router)")
    parser.add_argument("--workers", required=True, help="comma-separated worker base URLs")
    args = parser.parse_args(argv)
    workers = HealthPoller(args.workers.split(","))
    workers.start()
    serve(make_app(workers), args.host, args.port, f"processor:{args.port}", args.startup_delay_s)


if __name__ == "__main__":
    main()
