"""Locust's own LLM user: `locust.contrib.oai.OpenAIUser` sending non-streaming chat completions.

    OPENAI_API_KEY=dummy locust -f benchmarks/locustfiles/openai_user.py --headless --host http://127.0.0.1:PORT

Needs the `openai` package, and `httpx` beside it (Locust's contrib module builds its client
on `httpx.Client`; openai 3 itself depends on `httpx2`, and accepts an `httpx` client too).
The contrib module refuses to import without OPENAI_API_KEY; any value does for a local
server. The client is pointed at `--host` + `/v1`. Each user sends the suite's default
request (64-word prompt, max_tokens 32) back to back, non-streaming: the contrib client
fires Locust's request event only once a whole response is read.
"""

import logging

from locust import constant, task
from locust.contrib.oai import OpenAIClient, OpenAIUser

#: The suite's default prompt (locustfiles/scenario.py: 64 synthetic words).
PROMPT = " ".join(f"word{i % 50}" for i in range(64))

# httpx logs every request at INFO, which Locust's logging shows: a line per request would
# measure the logging, not the client (neither of the other two users logs per request).
logging.getLogger("httpx").setLevel(logging.WARNING)


class OpenAIChatUser(OpenAIUser):
    wait_time = constant(0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # OpenAIUser builds its client for OpenAI's own URL (or OPENAI_BASE_URL); ours is --host.
        # No retries: a failure must count as one, as it does for the other two users.
        self.client = OpenAIClient(self.environment.events.request, user=self, base_url=f"{self.host.rstrip('/')}/v1", max_retries=0)

    @task
    def chat(self) -> None:
        with self.client.rename_request("chat/completions"):
            self.client.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": PROMPT}],
                max_tokens=32,
            )
