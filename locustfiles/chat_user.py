"""The chat client: one Locust user is one client sending its requests one at a time."""

import gevent
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from locustfiles.chat_client import send_chat
from locustfiles.run import FaultToleranceRun, controller_of
from reports.records import RequestRecord

__all__ = ["ChatUser"]

CHAT_PATH = "/v1/chat/completions"


class ChatUser(FastHttpUser):
    """Sends `--requests-per-client` chat requests, streaming unless `--no-stream`, then stops.

    After a failed request it waits `--retry-delay` seconds before the next one.

    Each request is recorded to `client_<i>.jsonl` the moment it ends.
    """

    wait_time = constant(0)
    connection_timeout = 5.0
    # Reads may legitimately wait long (a slow engine); the run's request timeout bounds them.
    network_timeout = 3600.0
    max_retries = 0

    run: FaultToleranceRun | None
    client_id: int
    sent: int

    def on_start(self) -> None:
        # StopUser is only quiet inside a task, so a run that never started is checked there.
        run = controller_of(self.environment).current
        self.run = run if run is not None and run.ready else None
        self.sent = 0
        if self.run is not None:
            self.client_id = self.run.register_client()
            # Clients started in the same instant would stay in lockstep, every request of a
            # round arriving together; spreading their first requests is what real users do.
            gevent.sleep(self.run.scenario.load.start_delay_s(self.client_id))

    def body(self, run: FaultToleranceRun) -> dict:
        load = run.scenario.load
        body = {
            "model": run.scenario.model,
            "messages": [{"role": "user", "content": load.prompt}],
            "max_tokens": load.max_tokens,
            "stream": load.stream,
        }
        if load.stream:
            body["stream_options"] = {"include_usage": True}
        return body

    @task
    def chat(self) -> None:
        run = self.run
        if run is None:
            raise StopUser()
        load = run.scenario.load
        if self.sent >= load.requests_per_client:
            run.client_finished(self.client_id)
            raise StopUser()
        start_offset_s = run.clock.offset()
        outcome = send_chat(self.client, CHAT_PATH, self.body(run), load.request_timeout_s)
        result = outcome.result
        run.record(
            RequestRecord(
                client=self.client_id,
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
