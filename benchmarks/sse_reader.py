"""Benchmark: the CPU one streamed answer costs the SSE reader (`locustfiles.sse.StreamReader`).

    python benchmarks/sse_reader.py [--requests 3000]

It feeds a reader the answer `benchmarks/sse_server.py` sends (32 content events, a finish,
usage and `[DONE]`), whole in one read and then one read per event, as many times as asked,
and prints the microseconds per answer of each. The reader is most of a client's CPU (see the
README's Performance section): this is its cost alone, without the network or Locust.
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.sse_server import stream_events  # noqa: E402
from locustfiles.sse import StreamReader  # noqa: E402


def microseconds_per_answer(reads: list[str], answers: int) -> float:
    started = time.perf_counter()
    for _ in range(answers):
        reader = StreamReader()
        for text in reads:
            reader.feed(text, 0.1)
        result = reader.finish()
    if result.error_kind is not None or result.content_chunks != 32:
        raise SystemExit(f"error: the reader judged the server's answer wrongly: {result}")
    return (time.perf_counter() - started) / answers * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="answers to read (default 3000)")
    args = parser.parse_args(argv)
    events = [event.decode() for event in stream_events()]
    print(f"one read per answer:  {microseconds_per_answer([''.join(events)], args.requests):6.1f} µs an answer")
    print(f"one read per event:   {microseconds_per_answer(events, args.requests):6.1f} µs an answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
