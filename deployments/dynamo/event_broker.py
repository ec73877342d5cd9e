"""A ZMQ XSUB/XPUB relay for Dynamo's event plane, bound to one address (loopback by default).

Dynamo's ZMQ event plane in its default, direct mode has every publisher bind its own PUB
socket on all interfaces (`tcp://0.0.0.0:0`), whatever `DYN_EVENT_PLANE_HOST` says: that
variable only changes the address it advertises. In broker mode
(`DYN_ZMQ_BROKER_URL="xsub=tcp://H:P1 , xpub=tcp://H:P2"`) publishers and subscribers connect
to a relay instead, and bind nothing, so the relay alone decides where events are heard.

Run with the Dynamo environment's interpreter (it has pyzmq):
`python event_broker.py --host 127.0.0.1 --xsub-port P1 --xpub-port P2 --health-port P3`.
The health port answers `GET /health` with 200 once both sockets are bound.
"""

import argparse
import http.server
import threading

import zmq


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not found\n")

    def log_message(self, *_args) -> None:
        """Probes every 0.1 s would fill the log."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--xsub-port", type=int, required=True, help="publishers connect here")
    parser.add_argument("--xpub-port", type=int, required=True, help="subscribers connect here")
    parser.add_argument("--health-port", type=int, required=True)
    args = parser.parse_args()

    context = zmq.Context()
    frontend = context.socket(zmq.XSUB)
    frontend.bind(f"tcp://{args.host}:{args.xsub_port}")
    backend = context.socket(zmq.XPUB)
    backend.bind(f"tcp://{args.host}:{args.xpub_port}")
    health = http.server.ThreadingHTTPServer((args.host, args.health_port), Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    print(f"event broker relaying tcp://{args.host}:{args.xsub_port} -> tcp://{args.host}:{args.xpub_port}", flush=True)
    zmq.proxy(frontend, backend)


if __name__ == "__main__":
    main()
