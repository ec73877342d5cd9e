"""The chat client: one Locust user is one client sending its requests one at a time."""

import gevent
from locust import User, constant, task
from locust.exception import StopUser

from faultsuite.bounded_http import Connection
from faultsuite.records import RequestRecord
from locustfiles.chat_client import send_chat
from locustfiles.distributed import ClientSession, join_run

__all__ = ["ChatUser"]

CHAT_PATH = "/v1/chat/completions"


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

    def body(self, session: ClientSession) -> dict:
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
        outcome = send_chat(self.connection, CHAT_PATH, self.body(session), load.request_timeout_s, self.environment.events.request, load.headers)
        result = outcome.result
        session.record(
            RequestRecord(
                client=session.client_id,
                seq=self.sent,
                start_time=outcome.start_time,
                end_time=outcome.start_time + outcome.latency_s,
                start_offset_s=start_offset_s,
                latency_s=outcome.latency_s,
                status="success" if outcome.ok else "failure",
                ttft_s=result.first_token_at,
                itl_s=tuple(result.inter_token_s),
                output_tokens=result.output_tokens,
                finish_reason=result.finish_reason,
                http_status=outcome.http_status,
                error_kind=result.error_kind,
                error=result.error,
            )
        )
        self.sent += 1
        if not outcome.ok:
            # A real client backs off after an error instead of hammering a broken service.
            gevent.sleep(load.retry_delay_s)

    def on_stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
