"""Distributed load: the master owns the run, the workers only send load.

    master:  locust -f locustfiles/fault_tolerance.py --headless --master --expect-workers N [run options]
    workers: locust -f locustfiles/fault_tolerance.py --worker --master-host HOST [--master-port PORT]
    or, on one machine: --processes N in place of --master (Locust forks the workers)

The master launches the deployment and runs chaos, the watcher and the samplers, and writes
every file of the results directory: a FaultToleranceRun exists on the master only. A worker
needs no option of the suite; whatever it is given is replaced by the master's (Locust copies
the master's custom options into each spawn message). It sends its load to the endpoint the
master launched, which reaches it as Locust's spawn `host`: the master's test_start, which
launches the deployment, runs before Locust dispatches any user.

Everything else goes through Locust's custom messages. ZeroMQ keeps the order of the messages
of one worker's connection, so whatever a worker sent before a message reaches the master
before it.

    worker → master  ft_register  {"token": int}                a user asks to become a client
    master → worker  ft_client    {"token": int, "client": int | None, "reason": str, "load":
                                   LoadSettings as a dict, "model": str, "wall_origin": float,
                                   "load_origin_s": float, "endpoint": str}
    worker → master  ft_record    {"record": RequestRecord JSON}  one per request, as it ends
    worker → master  ft_finished  {"client": int}               the client has sent its requests
    master → worker  ft_stop      {}                            the run ends: stop your users
    worker → master  ft_stopped   {"records": int}              sent after the worker's last record

Client ids are the master's `run.register_client()`, in the order registrations arrive: 0 to
clients-1 across all workers, each client sending `--requests-per-client` requests. A client's
`start_offset_s` is measured on its worker against the master's run origin, so it assumes the
machines' clocks agree, as Locust's own statistics do.

The end of a run: the master's test_stop first sends ft_stop to every connected worker and
waits, at most DRAIN_TIMEOUT_S, for each one's ft_stopped, writing the records that arrive
meanwhile; only then does the run stop and write its summary. As in a local run, a request still
in flight when the users are stopped is not recorded. A worker that joins or leaves mid-run makes
Locust redistribute users, and a redistributed user is a new client: start the workers first
(`--expect-workers`) and keep them for the whole run.
"""

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import gevent
from gevent.event import AsyncResult
from locust import events
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from faultsuite.clock import RunClock
from faultsuite.records import RequestRecord
from locustfiles.run import controller_of
from locustfiles.scenario import LoadSettings

__all__ = ["DRAIN_TIMEOUT_S", "REGISTER_TIMEOUT_S", "ClientSession", "drain_workers", "join_run"]

log = logging.getLogger(__name__)

#: How long the master waits for the workers' last records before it writes the summary.
DRAIN_TIMEOUT_S = 10.0
#: How long a worker's user waits for the master to give it a client id.
REGISTER_TIMEOUT_S = 30.0

REGISTER, CLIENT, RECORD, FINISHED, STOP, STOPPED = "ft_register", "ft_client", "ft_record", "ft_finished", "ft_stop", "ft_stopped"


@dataclass(frozen=True)
class ClientSession:
    """One client's part in the run, local or on a worker: its id, its load, where records go."""

    client_id: int
    load: LoadSettings
    model: str
    clock: RunClock
    record: Callable[[RequestRecord], None]
    finished: Callable[[], None]
    #: Where the open-loop generator reports how far behind its schedule it fell (a local run).
    report_generator_lag: Callable[[float], None] | None = None
    #: The offset open-loop arrivals count from, the same for every generator of the run: when
    #: its first client registered.
    load_origin_s: float = 0.0


def join_run(environment) -> ClientSession | None:
    """Register a new client with the run; None when there is no run to take part in (it did not
    start, it is over, or the master did not answer). Blocks the calling user until registered."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return _worker_link(runner).register()
    run = controller_of(environment).current
    if run is None or not run.ready:
        return None
    client_id = run.register_client()
    return ClientSession(
        client_id,
        run.scenario.load,
        run.scenario.model,
        run.clock,
        run.record,
        lambda: run.client_finished(client_id),
        run.note_generator_lag,
        run.first_client_at_s,
    )


def drain_workers(environment, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
    """On the master, before the run stops: have every worker stop its users and wait until each
    says so, so that every record they sent is written. Does nothing elsewhere."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    master = _master_link(runner)
    workers = [c.id for c in runner.clients.all if c.state != STATE_MISSING]
    master.awaiting = set(workers)
    for worker in workers:
        runner.send_message(STOP, {}, client_id=worker)
    started = time.monotonic()
    while master.awaiting and time.monotonic() - started < timeout_s:
        gevent.sleep(0.02)
    if master.awaiting:
        log.warning("%d worker(s) did not confirm the stop within %.0f s; records they had not sent are missing", len(master.awaiting), timeout_s)
    else:
        log.info("%d worker(s) stopped in %.2f s", len(workers), time.monotonic() - started)
    level = logging.INFO if master.reported == master.received else logging.WARNING
    log.log(level, "records from workers: %d sent, %d written", master.reported, master.received)
    master.reported = master.received = 0


# -- the master's end -----------------------------------------------------------------------


class _MasterLink:
    def __init__(self, runner: MasterRunner):
        self.runner = runner
        self.awaiting: set[str] = set()
        # Since the last drain: records the workers say they sent, and those written.
        self.reported = self.received = 0
        self.dropped = 0
        runner.register_message(REGISTER, self._on_register)
        runner.register_message(RECORD, self._on_record)
        runner.register_message(FINISHED, self._on_finished)
        runner.register_message(STOPPED, self._on_stopped)

    def _on_register(self, environment, msg) -> None:
        run = controller_of(environment).current
        reply = {"token": msg.data["token"], "client": None, "reason": ""}
        if run is None or not run.ready or run.stopped:
            reply["reason"] = "no run is taking clients"
        else:
            reply.update(
                client=run.register_client(),
                load=asdict(run.scenario.load),
                model=run.scenario.model,
                wall_origin=run.clock.wall_origin,
                load_origin_s=run.first_client_at_s,
                endpoint=run.endpoint,
            )
        self.runner.send_message(CLIENT, reply, client_id=msg.node_id)

    def _on_record(self, environment, msg) -> None:
        run = controller_of(environment).current
        record = RequestRecord.from_json(msg.data["record"])
        if run is not None and _write(run, record):
            self.received += 1
            return
        self.dropped += 1
        if self.dropped == 1:
            log.warning("a record of client %d arrived outside its run; such records are not written", record.client)

    def _on_finished(self, environment, msg) -> None:
        run = controller_of(environment).current
        if run is not None:
            run.client_finished(msg.data["client"])

    def _on_stopped(self, environment, msg) -> None:
        self.awaiting.discard(msg.node_id)
        self.reported += msg.data["records"]


def _write(run, record: RequestRecord) -> bool:
    try:
        run.record(record)
    except KeyError:  # a client this run never registered
        return False
    return True


# -- a worker's end -------------------------------------------------------------------------


class _WorkerLink:
    def __init__(self, runner: WorkerRunner):
        self.runner = runner
        self.sent = 0
        self._tokens = itertools.count()
        self._pending: dict[int, AsyncResult] = {}
        runner.register_message(CLIENT, self._on_client)
        runner.register_message(STOP, self._on_stop)

    def register(self) -> ClientSession | None:
        token = next(self._tokens)
        reply = self._pending[token] = AsyncResult()
        self.runner.send_message(REGISTER, {"token": token})
        try:
            data = reply.get(timeout=REGISTER_TIMEOUT_S)
        except gevent.Timeout:
            log.error("the master gave no client id within %.0f s; this user sends nothing", REGISTER_TIMEOUT_S)
            return None
        finally:
            self._pending.pop(token, None)
        if data["client"] is None:
            log.info("not a client: %s", data["reason"])
            return None
        if data["endpoint"] != self.runner.environment.host:
            # Locust's spawn message carries the master's host as it was when users were sent.
            log.error("the run's endpoint is %s but this worker was told %s; this user sends nothing", data["endpoint"], self.runner.environment.host)
            return None
        client_id = data["client"]
        return ClientSession(
            client_id,
            LoadSettings.from_message(data["load"]),
            data["model"],
            RunClock.joined(data["wall_origin"]),
            self._send_record,
            lambda: self._send_finished(client_id),
            load_origin_s=data["load_origin_s"],
        )

    def _send_record(self, record: RequestRecord) -> None:
        self.runner.send_message(RECORD, {"record": record.to_json()})
        self.sent += 1

    def _send_finished(self, client_id: int) -> None:
        self.runner.send_message(FINISHED, {"client": client_id})

    def _on_client(self, environment, msg) -> None:
        pending = self._pending.get(msg.data["token"])
        if pending is not None:
            pending.set(msg.data)

    def _on_stop(self, environment, msg) -> None:
        # Stopping here, not on Locust's later `quit`, is what lets the master know that no
        # record of this worker is still on its way when it writes the summary.
        self.runner.stop()
        log.info("users stopped; %d records sent to the master", self.sent)
        self.runner.send_message(STOPPED, {"records": self.sent})
        self.sent = 0


_links: dict[object, "_MasterLink | _WorkerLink"] = {}  # by runner: one per process in practice


def _master_link(runner: MasterRunner) -> _MasterLink:
    link = _links.get(runner)
    if link is None:
        link = _links[runner] = _MasterLink(runner)
    return link  # type: ignore[return-value]


def _worker_link(runner: WorkerRunner) -> _WorkerLink:
    link = _links.get(runner)
    if link is None:
        link = _links[runner] = _WorkerLink(runner)
    return link  # type: ignore[return-value]


@events.init.add_listener
def _connect(environment, runner=None, **_kwargs) -> None:
    """Register the messages as soon as the runner exists, before any worker can send one."""
    if isinstance(runner, MasterRunner):
        _master_link(runner)
    elif isinstance(runner, WorkerRunner):
        _worker_link(runner)


@events.test_stop.add_listener
def _worker_exit_code(environment, **_kwargs) -> None:
    """A worker ran its part: failed requests are the measurement, not the worker's failure
    (Locust would otherwise exit 1 on any failed request)."""
    if isinstance(environment.runner, WorkerRunner) and environment.process_exit_code is None:
        environment.process_exit_code = 0
