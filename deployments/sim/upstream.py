"""How the processor talks to its decode workers: the embedded worker's `/generate`, or a real
OpenAI-compatible server's `/v1/chat/completions` (vLLM's `vllm serve`).

Either way the processor sees one stream of messages, as `wire` defines them: `{"token":
...}` per token, then `{"finish_reason": ..., "prompt_tokens": n, "completion_tokens": m}`,
or `{"error": "..."}` when the worker reported a failure. A stream that ends without either
ends the iteration quietly; the processor decides what that means.
"""

import http.client
import json
from typing import Iterator, Protocol

from deployments.sim.wire import read_json_lines

__all__ = ["WORKER_APIS", "ChatCompletions", "SimGenerate", "WorkerApi"]


class WorkerApi(Protocol):
    #: The path a generation is POSTed to, under the worker's base URL.
    path: str
    #: Whether a generation can go on at the tokens already delivered (`start`).
    resumes: bool

    def body(self, generation: dict) -> dict:
        """The worker's request for one generation: the frontend's `prompt_tokens`,
        `max_tokens`, `start` and the client's own request as `request`."""

    def messages(self, response: http.client.HTTPResponse) -> Iterator[dict]:
        """The generation's messages, read from the worker's open 200 response."""


class SimGenerate:
    """The embedded worker: NDJSON messages already, and resumable at `start`."""

    path = "/generate"
    resumes = True

    def body(self, generation: dict) -> dict:
        return {key: value for key, value in generation.items() if key != "request"}

    def messages(self, response: http.client.HTTPResponse) -> Iterator[dict]:
        return read_json_lines(response)


class ChatCompletions:
    """A real server: the client's request, streamed, with a final usage chunk; its server-sent
    events turned into messages. It cannot resume a stream: a migrated one starts again."""

    path = "/v1/chat/completions"
    resumes = False

    def body(self, generation: dict) -> dict:
        return {**generation["request"], "stream": True, "stream_options": {"include_usage": True}}

    def messages(self, response: http.client.HTTPResponse) -> Iterator[dict]:
        finish_reason = None
        while line := response.readline():
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank lines between events, comments, other fields
            data = line[len(b"data:") :].strip()
            if data == b"[DONE]":
                if finish_reason is not None:  # finished, but no usage chunk came
                    yield {"finish_reason": finish_reason, "prompt_tokens": 0, "completion_tokens": 0}
                return
            event = json.loads(data)
            if "error" in event:
                error = event["error"]
                yield {"error": error.get("message", str(error)) if isinstance(error, dict) else str(error)}
                return
            for choice in event.get("choices") or []:
                if content := (choice.get("delta") or {}).get("content"):
                    yield {"token": content}
                finish_reason = choice.get("finish_reason") or finish_reason
            if (usage := event.get("usage")) and finish_reason is not None:
                yield {"finish_reason": finish_reason, "prompt_tokens": usage.get("prompt_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0)}
                return


WORKER_APIS: dict[str, WorkerApi] = {"sim": SimGenerate(), "openai": ChatCompletions()}
