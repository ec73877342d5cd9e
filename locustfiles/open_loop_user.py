"""The open-loop generator: one Locust user that sends the run's arrivals on their schedule:
drawn (`--rate`), or a trace's (`--trace`, each request with the trace's lengths).

Each arrival (`LoadSettings.arrivals`) is sent at its offset after the load started, whether
or not earlier ones have been answered, each from a greenlet of its own. At most
`--max-concurrency` are in flight; an arrival that finds that many waits its turn (first come,
first served), and its record's latency and TTFT count from when it should have been sent
(`scheduled_offset_s`), so a stall costs the arrivals it delays, as it would cost real users.

The generator's own lateness (how far behind the schedule it woke to dispatch an arrival, the
wait for a slot aside) is reported to the run: when it is large the generator, not the
deployment, set the pace, and the run says so.

Distributed (`--processes N`, or `--master --expect-workers N`), the run has N generators, one
per worker process, and the master splits the schedule among them: generator k (its client id)
sends arrivals k, k + N, k + 2N, ... of the one schedule, so together they send exactly the
arrivals a local run would, each at its own time, and each generator offers 1/N of the rate.
Every generator counts the schedule from the same offset: when the run's first generator
registered (locally, the one generator's start). Each takes an equal share of
`--max-concurrency` (at least 1). Their lateness is in each record's send lag; only a local
generator reports it as a note.
"""

import gevent
from gevent.lock import Semaphore
from gevent.pool import Group
from locust import User, constant, task
from locust.exception import StopUser

from faultsuite.bounded_http import Connection
from locustfiles.chat_client import send_chat
from locustfiles.chat_user import CHAT_PATH, record_of, request_body
from locustfiles.distributed import ClientSession, join_run
from locustfiles.trace import prompt_for

__all__ = ["OpenLoopUser"]


class OpenLoopUser(User):
    """Sends every arrival of an open-loop run, then stops."""

    wait_time = constant(0)
    connection_timeout_s = 5.0

    session: ClientSession | None

    def on_start(self) -> None:
        self.session = join_run(self.environment)
        self.origin_s = self.session.load_origin_s if self.session is not None else 0.0
        self.idle: list[Connection] = []  # kept-alive connections not in use
        self.in_flight = Group()

    @task
    def send_arrivals(self) -> None:
        session = self.session
        if session is None:
            raise StopUser()
        load, clock = session.load, session.clock
        share = load.open_loop_generators
        slots = Semaphore(max(1, load.max_concurrency // share))
        latest_s = 0.0
        for seq, at in enumerate(load.arrivals):
            if seq % share != session.client_id:
                continue  # another generator's
            due = self.origin_s + at
            ahead = due - clock.offset()
            if ahead > 0:
                gevent.sleep(ahead)
            latest_s = max(latest_s, clock.offset() - due)
            self.in_flight.spawn(self._send, session, slots, seq, due)
        self.in_flight.join()
        if session.report_generator_lag is not None:
            session.report_generator_lag(latest_s)
        session.finished()
        raise StopUser()

    def _send(self, session: ClientSession, slots: Semaphore, seq: int, scheduled_offset_s: float) -> None:
        load = session.load
        with slots:
            connection = self.idle.pop() if self.idle else Connection(self.host, self.connection_timeout_s)
            start_offset_s = session.clock.offset()
            outcome = send_chat(
                connection, CHAT_PATH, self._body(session, seq), load.request_timeout_s, self.environment.events.request, load.headers, load.integrity
            )
            self.idle.append(connection)
        session.record(record_of(session, seq, start_offset_s, outcome, scheduled_offset_s))

    @staticmethod
    def _body(session: ClientSession, seq: int) -> dict:
        """The run's request, or, replaying a trace, its `seq`-th request's prompt and length."""
        body = request_body(session)
        if session.load.trace:
            request = session.load.trace_requests[seq]
            body["messages"] = [{"role": "user", "content": prompt_for(request, seq)}]
            body["max_tokens"] = request.output_tokens
        return body

    def on_stop(self) -> None:
        # Stopped before its arrivals were done (max run time, a signal): as with closed-loop
        # clients, a request still in flight is not recorded.
        self.in_flight.kill()
        for connection in self.idle:
            connection.close()
