"""The fault proxy in front of a deployment's declared links: its routes, its process, its API.

A link `caller -> callee` becomes one route per replica of the callee: a loopback port of the
proxy's that forwards to that replica's own port. The caller's `{urls[CALLEE]}` (the
endpoint, for the clients) is rendered with the routes' ports, so its traffic, and only its,
crosses the proxy. Chaos puts toxics on routes through `LinkProxy.apply` and takes them off
with `heal`; the proxy's counters say what each did.
"""

import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from deployments.probes import wait_until
from deployments.process import ReplicaProcess, describe_returncode
from faultsuite.bounded_http import HttpError, fetch
from faultsuite.errors import FaultSuiteError, LaunchError

__all__ = ["COUNTERS_FILE", "LinkError", "LinkProxy", "LinkRoute"]

READY_TIMEOUT_S = 10.0
CONTROL_TIMEOUT_S = 2.0
STOP_GRACE_S = 2.0
#: What the proxy counted over the run, route by route, written as it is stopped.
COUNTERS_FILE = "counters.json"


class LinkError(FaultSuiteError):
    """The fault proxy did not do what it was asked (gone, or refused the toxic)."""


@dataclass(frozen=True)
class LinkRoute:
    """The caller's connections to one replica of the callee."""

    caller: str
    callee: str
    replica: int
    listen_port: int
    upstream_host: str
    upstream_port: int

    @property
    def name(self) -> str:
        """`processor.decode_worker.1`: the route's name in the proxy's API."""
        return f"{self.caller}.{self.callee}.{self.replica}"

    @property
    def argument(self) -> str:
        return f"{self.name}={self.listen_port}:{self.upstream_host}:{self.upstream_port}"


class LinkProxy:
    """One fault proxy process for every route of a deployment; `start()` before the callers."""

    def __init__(self, routes: list[LinkRoute], host: str, control_port: int, log_dir: Path):
        self.routes = routes
        self.host = host
        self.control_port = control_port
        self.log_dir = log_dir
        self.process: ReplicaProcess | None = None

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def routes_between(self, caller: str, callee: str) -> list[LinkRoute]:
        return [r for r in self.routes if (r.caller, r.callee) == (caller, callee)]

    def url_of(self, route: LinkRoute) -> str:
        return f"http://{self.host}:{route.listen_port}"

    def start(self, env: dict[str, str]) -> None:
        """Start the proxy and wait until its routes listen; LaunchError otherwise."""
        argv = [sys.executable, "-m", "deployments.fault_proxy", "--host", self.host, "--control-port", str(self.control_port)]
        for route in self.routes:
            argv += ["--route", route.argument]
        try:
            self.process = ReplicaProcess(argv, env, None, self.log_dir)
        except OSError as exc:
            raise LaunchError(f"fault proxy: cannot start: {exc.strerror or exc}") from None
        process = self.process
        if not wait_until(self._answers, READY_TIMEOUT_S, give_up=lambda: not process.alive()):
            reason = describe_returncode(process.popen.returncode) if not process.alive() else f"not ready within {READY_TIMEOUT_S:g} s"
            self.stop()
            raise LaunchError(f"fault proxy {reason}: {process.last_error_line() or 'no output'} (see {self.log_dir}/error.log)")

    def _answers(self) -> bool:
        try:
            return fetch(self.control_url + "/health", CONTROL_TIMEOUT_S)[0] == 200
        except (OSError, HttpError):
            return False

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        try:
            status, answer = fetch(self.control_url + path, CONTROL_TIMEOUT_S, method=method, body=payload, headers=headers)
            document = json.loads(answer)
        except (OSError, HttpError, ValueError) as exc:
            raise LinkError(f"fault proxy: {method} {path}: {exc}") from None
        if status != 200:
            raise LinkError(f"fault proxy: {method} {path}: HTTP {status}: {document.get('error', '')}")
        return document

    def apply(self, route: LinkRoute, toxic: dict) -> dict:
        """Put `toxic` on the route (replacing any); the route as the proxy then describes it."""
        return self._call("PUT", f"/routes/{route.name}/toxic", toxic)

    def heal(self, route: LinkRoute) -> dict:
        """Take the route's toxic off; the route, counters included."""
        return self._call("DELETE", f"/routes/{route.name}/toxic")

    def describe(self) -> dict[str, dict]:
        """Every route by name: its ports, toxic and counters."""
        return self._call("GET", "/routes")

    def stop(self) -> None:
        """Write the proxy's last counters to `counters.json` in its log folder, then end it:
        SIGTERM, then SIGKILL after a grace period. Safe to call twice."""
        process = self.process
        if process is None or not process.alive():
            return
        try:
            (self.log_dir / COUNTERS_FILE).write_text(json.dumps(self.describe(), indent=1), encoding="utf-8")
        except LinkError:
            pass  # it no longer answers: there is nothing to write but its log
        process.signal_group(signal.SIGTERM)
        if not wait_until(lambda: not process.alive(), STOP_GRACE_S, interval_s=0.05):
            process.signal_group(signal.SIGKILL)
        process.popen.wait()
