"""The raw baseline: a plain Locust FastHttpUser streaming chat completions, doing the least.

    locust -f benchmarks/locustfiles/raw_fasthttp.py --headless --host http://127.0.0.1:PORT

Each user POSTs the same streaming chat request as the suite's clients, back to back, and
reads the answer line by line off geventhttpclient's response (`response.stream.readline`).
It counts `data:` lines and parses no JSON: a request fails only when fewer than
`MIN_EVENTS` `data:` lines other than `data: [DONE]` came, or no `[DONE]` came. Whatever a
load generator does beyond this is its own cost: what `benchmarks/load_generator.py` measures.
"""

import json

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

#: 32 content events, the finish event and the usage event (benchmarks/sse_server.py); [DONE] follows.
MIN_EVENTS = 34
#: The suite's request, as locustfiles/chat_user.py builds it with its defaults (--host only:
#: model "default", a synthetic prompt of 64 words, max_tokens 32).
PROMPT = " ".join(f"word{i % 50}" for i in range(64))
BODY = json.dumps(
    {
        "model": "default",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 32,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
)
HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


class RawStreamingUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def chat(self) -> None:
        with self.client.post(
            "/v1/chat/completions", data=BODY, headers=HEADERS, stream=True, catch_response=True, name="chat/completions"
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            stream = response.stream  # geventhttpclient's HTTPSocketPoolResponse
            events, done = 0, False
            # readline() gives b"" at the end of the body, and hands the connection back then.
            while line := stream.readline(b"\n"):
                if line.startswith(b"data:"):
                    if line.startswith(b"data: [DONE]"):
                        done = True
                    else:
                        events += 1
            if events < MIN_EVENTS or not done:
                response.failure(f"{events} events, [DONE] {'seen' if done else 'missing'}")
