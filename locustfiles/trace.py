"""Trace replay: a file of requests, each with when it arrives and how long it is.

Two formats, told apart by the file's suffix:

- Mooncake's JSON lines (`.jsonl`): `{"timestamp": MS, "input_length": N, "output_length": M,
  "hash_ids": [...]}` per line; `hash_ids` names the prompt's blocks of `BLOCK_TOKENS` tokens,
  and requests that share a prefix of them share that prefix of their prompts;
- CSV (`.csv`) with a header `timestamp_ms,input_length,output_length` (no shared prefixes).

`--trace-speedup X` divides every arrival time by X. Prompts are made to the requested length
from words, one word a token of the embedded graph's whitespace tokenizer: each hash id's block
is the same words wherever it appears, and what the blocks do not cover is words of that
request alone. `write_sample_trace` makes the small trace the project ships
(`locustfiles/traces/sample.jsonl`); nothing is downloaded.
"""

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from faultsuite.errors import ConfigError
from faultsuite.textfile import read_bounded_text

__all__ = ["BLOCK_TOKENS", "SAMPLE_TRACE", "TraceRequest", "load_trace", "prompt_for", "write_sample_trace"]

#: Tokens per hash id, as in Mooncake's traces.
BLOCK_TOKENS = 512
SAMPLE_TRACE = Path(__file__).resolve().parent / "traces" / "sample.jsonl"
#: The largest trace read, and the most requests in it.
MAX_TRACE_BYTES = 64 * 1024 * 1024
MAX_TRACE_REQUESTS = 1_000_000
MAX_LENGTH = 1_000_000


@dataclass(frozen=True)
class TraceRequest:
    at_s: float  # arrival, seconds after the first request of the trace
    input_tokens: int
    output_tokens: int
    hash_ids: tuple[int, ...] = ()


def _count(value: object, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LENGTH:
        raise ConfigError(f"{where}: {what}: expected a whole number from 1 to {MAX_LENGTH:,}, got {value!r}")
    return value


def _millis(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e12:
        raise ConfigError(f"{where}: timestamp: expected milliseconds, at least 0, got {value!r}")
    return float(value)


def _mooncake(text: str, path: Path) -> list[tuple[float, int, int, tuple[int, ...]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            raise ConfigError(f"{where}: not a JSON object") from None
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: not a JSON object")
        hash_ids = entry.get("hash_ids", [])
        if not isinstance(hash_ids, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hash_ids):
            raise ConfigError(f"{where}: hash_ids: expected a list of whole numbers")
        rows.append((_millis(entry.get("timestamp"), where), _count(entry.get("input_length"), "input_length", where),
                     _count(entry.get("output_length"), "output_length", where), tuple(hash_ids)))  # fmt: skip
    return rows


def _csv(text: str, path: Path) -> list[tuple[float, int, int, tuple[int, ...]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != ["timestamp_ms", "input_length", "output_length"]:
        raise ConfigError(f"{path}: expected the header timestamp_ms,input_length,output_length")
    rows = []
    for number, row in enumerate(reader, start=2):
        where = f"{path}: line {number}"
        try:
            values = (float(row["timestamp_ms"]), int(row["input_length"]), int(row["output_length"]))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected numbers") from None
        rows.append((_millis(values[0], where), _count(values[1], "input_length", where), _count(values[2], "output_length", where), ()))
    return rows


def load_trace(path: Path, speedup: float = 1.0) -> list[TraceRequest]:
    """The trace's requests in arrival order, times relative to its first and divided by
    `speedup`; ConfigError naming the file and line for anything else."""
    text = read_bounded_text(path, MAX_TRACE_BYTES, f"--trace {str(path)[:200]}")
    suffix = path.suffix.lstrip(".")
    if suffix == "jsonl":
        rows = _mooncake(text, path)
    elif suffix == "csv":
        rows = _csv(text, path)
    else:
        raise ConfigError(f"--trace {path}: expected a .jsonl (Mooncake) or .csv trace")
    if not rows:
        raise ConfigError(f"--trace {path}: holds no request")
    if len(rows) > MAX_TRACE_REQUESTS:
        raise ConfigError(f"--trace {path}: more than {MAX_TRACE_REQUESTS:,} requests")
    rows.sort(key=lambda row: row[0])
    first = rows[0][0]
    return [TraceRequest((ms - first) / 1000.0 / speedup, inputs, outputs, hashes) for ms, inputs, outputs, hashes in rows]


def _words(seed: str, count: int) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(100_000)}" for _ in range(count)]


def prompt_for(request: TraceRequest, index: int) -> str:
    """A prompt of `request.input_tokens` words: its hash ids' blocks first (the same words
    for the same id in every request), then words of request `index` alone."""
    words: list[str] = []
    for hash_id in request.hash_ids:
        if len(words) >= request.input_tokens:
            break
        words += _words(f"block-{hash_id}", BLOCK_TOKENS)
    words = words[: request.input_tokens]
    words += _words(f"request-{index}", request.input_tokens - len(words))
    return " ".join(words)


def write_sample_trace(path: Path = SAMPLE_TRACE, seed: int = 13) -> None:
    """The trace the project ships: 40 requests over about 10 s, in conversations whose later
    turns repeat the blocks of their earlier ones, so a prefix-aware router sees reuse."""
    rng = random.Random(seed)
    lines, at_ms, next_block = [], 0.0, 0
    conversations: list[list[int]] = []
    for _ in range(40):
        at_ms += rng.expovariate(4.0) * 1000
        if conversations and rng.random() < 0.6:
            blocks = rng.choice(conversations)
            blocks.append(next_block)  # the next turn: the history, and one block more
        else:
            blocks = [next_block]
            conversations.append(blocks)
        next_block += 1
        input_length = BLOCK_TOKENS * (len(blocks) - 1) + rng.randrange(16, BLOCK_TOKENS)
        entry = {"timestamp": round(at_ms), "input_length": input_length, "output_length": rng.randrange(8, 48), "hash_ids": list(blocks)}
        lines.append(json.dumps(entry))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
