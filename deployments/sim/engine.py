"""The simulated engine: a continuous-batching scheduler that runs as its worker's child process.

It talks to its worker over an inherited socket (`--fd`), one JSON object per line:

    worker -> engine   {"op": "submit", "id": ..., "prompt_tokens": n, "max_tokens": m, "prefilled": bool,
                        "start": k}                        (k: tokens already delivered elsewhere)
                       {"op": "cancel", "id": ...}
    engine -> worker   {"ready": true}                       once the "model" is loaded
                       {"id": ..., "token": "..."}           one per generated token
                       {"id": ..., "finish_reason": "length", "prompt_tokens": n, "completion_tokens": m}

The output is a function of the request alone: token i is `tok<i> `, so a client can tell a
stream that skips, repeats or restarts. A sequence submitted with `start` k (a stream
migrated here with k tokens delivered) continues at token k, up to `max_tokens` in all.

Timing model, per scheduler step: newly admitted sequences are prefilled
(`prefill_ms_per_token` × their prompt tokens), then every running sequence gets one token,
which costs `decode_ms_per_token + batch_ms_per_seq × (running - 1)`. At most `max_num_seqs`
run at once; the rest wait in arrival order. The same formula is in `expected_latency_s`.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402

__all__ = ["EngineTiming", "expected_latency_s", "main"]

log = logging.getLogger("engine")


@dataclass(frozen=True)
class EngineTiming:
    prefill_ms_per_token: float = 0.2
    decode_ms_per_token: float = 20.0
    batch_ms_per_seq: float = 1.0
    max_num_seqs: int = 8

    def step_s(self, running: int) -> float:
        return (self.decode_ms_per_token + self.batch_ms_per_seq * max(running - 1, 0)) / 1000.0


def expected_latency_s(timing: EngineTiming, prompt_tokens: int, output_tokens: int, running: float) -> float:
    """Model latency of one request with `running` sequences in the batch (no queueing)."""
    prefill = timing.prefill_ms_per_token * prompt_tokens / 1000.0
    per_token = (timing.decode_ms_per_token + timing.batch_ms_per_seq * max(running - 1, 0)) / 1000.0
    return prefill + output_tokens * per_token


@dataclass
class Sequence:
    id: str
    prompt_tokens: int
    max_tokens: int
    prefilled: bool = False  # prompt processed by a remote prefill worker: no prefill here
    generated: int = 0


class Engine:
    def __init__(self, channel: socket.socket, timing: EngineTiming):
        self.channel = channel
        self.timing = timing
        self.waiting: deque[Sequence] = deque()
        self.running: dict[str, Sequence] = {}
        self.work = Event()

    def send(self, message: dict) -> None:
        self.channel.sendall((json.dumps(message) + "\n").encode())

    def receive(self) -> None:
        """Read submissions and cancels until the worker closes the channel, then exit."""
        for line in self.channel.makefile("rb"):
            message = json.loads(line)
            if message["op"] == "submit":
                self.waiting.append(
                    Sequence(
                        message["id"], message["prompt_tokens"], message["max_tokens"], message.get("prefilled", False), message.get("start", 0)
                    )
                )
                self.work.set()
            elif message["op"] == "cancel":
                self.running.pop(message["id"], None)
                self.waiting = deque(s for s in self.waiting if s.id != message["id"])
        log.info("worker closed the channel; exiting")
        sys.exit(0)

    def admit(self) -> int:
        """Move waiting sequences into the batch; returns prompt tokens to prefill."""
        prefill_tokens = 0
        while self.waiting and len(self.running) < self.timing.max_num_seqs:
            seq = self.waiting.popleft()
            self.running[seq.id] = seq
            if not seq.prefilled:
                prefill_tokens += seq.prompt_tokens
        return prefill_tokens

    def step(self) -> None:
        prefill_tokens = self.admit()
        if prefill_tokens:
            gevent.sleep(self.timing.prefill_ms_per_token * prefill_tokens / 1000.0)
        gevent.sleep(self.timing.step_s(len(self.running)))
        for seq in list(self.running.values()):
            if seq.id not in self.running:
                continue
            self.send({"id": seq.id, "token": f"tok{seq.generated} "})
            seq.generated += 1
            if seq.generated >= seq.max_tokens:
                del self.running[seq.id]
                self.send(
                    {
                        "id": seq.id,
                        "finish_reason": "length",
                        "prompt_tokens": seq.prompt_tokens,
                        "completion_tokens": seq.generated,
                    }
                )

    def run(self) -> None:
        while True:
            if not self.running and not self.waiting:
                self.work.clear()
                self.work.wait()
            self.step()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="simulated engine (child of a decode worker)")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket to the worker")
    parser.add_argument("--startup-delay-s", type=float, default=0.0, help="simulated model loading")
    parser.add_argument("--prefill-ms-per-token", type=float, default=EngineTiming.prefill_ms_per_token)
    parser.add_argument("--decode-ms-per-token", type=float, default=EngineTiming.decode_ms_per_token)
    parser.add_argument("--batch-ms-per-seq", type=float, default=EngineTiming.batch_ms_per_seq)
    parser.add_argument("--max-num-seqs", type=int, default=EngineTiming.max_num_seqs)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s engine %(levelname)s %(message)s")

    timing = EngineTiming(args.prefill_ms_per_token, args.decode_ms_per_token, args.batch_ms_per_seq, args.max_num_seqs)
    engine = Engine(socket.socket(fileno=args.fd), timing)
    log.info("loading model (%.1f s)", args.startup_delay_s)
    gevent.sleep(args.startup_delay_s)
    engine.send({"ready": True})
    log.info("ready: %s", timing)
    gevent.spawn(engine.run)
    engine.receive()


if __name__ == "__main__":
    main()
