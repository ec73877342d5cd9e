"""The chat client: one Locust user is one client sending its requests one at a time."""

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from faultsuite.bounded_http import Connection
from faultsuite.records import RequestRecord
from locustfiles.chat_client import ChatOutcome, send_chat
from locustfiles.distributed import ClientSession, join_run

__all__ = ["CHAT_PATH", "ChatUser", "record_of", "request_body"]

CHAT_PATH = "/v1/chat/completions"


def request_body(session: ClientSession) -> dict:
    """The chat request every client of the run sends."""
    load = session.load
    body = {
        **load.extra_body,
        "model": session.model,
        "messages": [{"role": "user", "content": load.prompt}],
        "max_tokens": load.max_tokens,
        "stream": load.stream,
    }
    if load.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def record_of(session: ClientSession, seq: int, start_offset_s: float, outcome: ChatOutcome, scheduled_offset_s: float | None = None) -> RequestRecord:
    """The record of one request. With `scheduled_offset_s` (open-loop load) its latency and
    TTFT count from then: the wait for a free slot is part of what its user waited."""
    result = outcome.result
    waited_s = 0.0 if scheduled_offset_s is None else start_offset_s - scheduled_offset_s
    return RequestRecord(
        client=session.client_id,
        seq=seq,
        start_time=outcome.start_time,
        end_time=outcome.start_time + outcome.latency_s,
        start_offset_s=start_offset_s,
        latency_s=waited_s + outcome.latency_s,
        status="success" if outcome.ok else "failure",
        ttft_s=None if result.first_token_at is None else waited_s + result.first_token_at,
        itl_s=tuple(result.inter_token_s),
        output_tokens=result.output_tokens,
        finish_reason=result.finish_reason,
        http_status=outcome.http_status,
        error_kind=result.error_kind,
        error=result.error,
        scheduled_offset_s=scheduled_offset_s,
        migrations=result.migrations,
    )


class ChatUser(User):
    """Sends `--requests-per-client` chat requests, streaming unless `--no-stream`, then stops.

    After a failed request it waits `--retry-delay` seconds before the next one.

    Each request is recorded to `client_<i>.jsonl` the moment it ends: by the run itself in a
    local run, through the master on a distributed worker (`locustfiles.distributed`).
    """

    wait_time = constant(0)
    connection_timeout_s = 5.0

    session: ClientSession | None
    connection: Connection | None
    sent: int

    def on_start(self) -> None:
        # StopUser is only quiet inside a task, so a run that never started is checked there.
        self.sent = 0
        self.connection = None
        self.session = join_run(self.environment)
        if self.session is not None:
            self.connection = Connection(self.host, self.connection_timeout_s)
            # Clients started in the same instant would stay in lockstep, every request of a
            # round arriving together; spreading their first requests is what real users do.
            gevent.sleep(self.session.load.start_delay_s(self.session.client_id))

    @task
    def chat(self) -> None:
        session = self.session
        if session is None:
            raise StopUser()
        load = session.load
        if self.sent >= load.requests_per_client:
            session.finished()
            raise StopUser()
        start_offset_s = session.clock.offset()
        outcome = send_chat(
            self.connection, CHAT_PATH, request_body(session), load.request_timeout_s, self.environment.events.request, load.headers, load.integrity
        )
        session.record(record_of(session, self.sent, start_offset_s, outcome))
        self.sent += 1
        if not outcome.ok:
            # A real client backs off after an error instead of hammering a broken service.
            gevent.sleep(load.retry_delay_s)

    def on_stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
