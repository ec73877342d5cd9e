"""Build the tiny model directory Dynamo's mocker engine needs, and a replay trace for it.

Run with the Dynamo environment's interpreter (it has `tokenizers`), never imported by the
suite: `python tiny_model.py OUT_DIR`. Everything is made here, reproducibly: a word-level
tokenizer trained on the sentences below, a llama-style config and a chat template. No
weights: the mocker only tokenizes. The replay trace holds one entry per stream length the
suite may ask for (1 to 512 tokens, replay id `tokens_N`). Its token i is the word `tok<i>`, as
the embedded engine's is, so every streamed chunk has text and `request.integrity:
deterministic` can check what a stream carried.
"""

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers, decoders

MODEL_NAME = "faultsuite-tiny"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"]
CORPUS = [
    "the frontend routes each request to a worker that is ready",
    "a decode worker streams tokens back to the client one at a time",
    "when a worker dies the router sends new requests to the others",
    "requests in flight on a dead worker may migrate to a live one",
    "the prefill worker computes the prompt and hands the cache to decode",
    "load arrives from many clients and every stream has a first token",
    "latency is the time from the request to the last token of the answer",
    "recovery time runs from the fault until requests succeed again",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
# Stream lengths (output tokens) the trace offers, by replay id: "tokens_N".
REPLAY_LENGTHS = range(1, 513)
# Output token i of every replayed stream, as in `locustfiles/integrity.py`.
OUTPUT_WORDS = [f"tok{i}" for i in range(max(REPLAY_LENGTHS))]


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=1)
    tokenizer.train_from_iterator([*CORPUS, " ".join(OUTPUT_WORDS)], trainer=trainer)
    return tokenizer


def replay_rows(tokenizer: Tokenizer) -> list[dict]:
    """Mooncake-style rows: the mocker streams `output_token_ids` for `output_replay_id:ID`."""
    words = [tokenizer.token_to_id(word) for word in OUTPUT_WORDS]
    return [
        {
            "request_id": f"tokens_{length}",
            "input_length": 1,
            "hash_ids": [index + 1],
            "output_length": length,
            "output_token_ids": words[:length],
        }
        for index, length in enumerate(REPLAY_LENGTHS)
    ]


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    tokenizer.save(str(out / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size()
    files = {
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "chat_template": CHAT_TEMPLATE,
            "model_max_length": 4096,
        },
        "special_tokens_map.json": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
        "config.json": {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 4096,
            "bos_token_id": tokenizer.token_to_id("<s>"),
            "eos_token_id": tokenizer.token_to_id("</s>"),
            "torch_dtype": "float16",
        },
        "generation_config.json": {
            "bos_token_id": tokenizer.token_to_id("<s>"),
            "eos_token_id": tokenizer.token_to_id("</s>"),
        },
    }
    for name, content in files.items():
        (out / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rows = replay_rows(tokenizer)
    (out / "replay_trace.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_model.py OUT_DIR")
    build(Path(sys.argv[1]))
