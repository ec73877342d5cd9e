"""Build the tiny model that vLLM serves on CPU: a Llama with random weights and a tokenizer.

Run with the vLLM environment's interpreter (it has torch, transformers and tokenizers), never
imported by the suite: `python tiny_model.py OUT_DIR`. Everything is made here, and the same
bytes come out of every build: a byte-level BPE tokenizer trained on the sentences below, with
a chat template, and a 2-layer Llama (hidden 128, 4 heads of 32, 2 KV heads: the CPU attention
takes head sizes of 32, 64, ...) whose weights are drawn with a fixed seed. It answers noise,
1.6 MB of it, at the speed of a real engine's code path: prefill, decode, KV cache, streaming.
Random weights stop early at their end-of-sequence token, so deployments ask for `ignore_eos`.
"""

import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

MODEL_NAME = "faultsuite-tiny-llama"
SEED = 0
CORPUS = [
    "the frontend routes each request to a worker that is ready",
    "a decode worker streams tokens back to the client one at a time",
    "when a worker dies the router sends new requests to the others",
    "requests in flight on a dead worker may migrate to a live one",
    "the engine core schedules prefill and decode steps for every running sequence",
    "load arrives from many clients and every stream has a first token",
    "latency is the time from the request to the last token of the answer",
    "recovery time runs from the fault until requests succeed again",
    "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,:;!?'\"()-",
]
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
VOCAB_SIZE = 384
MAX_MODEL_LEN = 2048


def build_tokenizer(out: Path) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = MAX_MODEL_LEN
    fast.save_pretrained(out)
    return fast


def build_model(out: Path, tokenizer: PreTrainedTokenizerFast) -> None:
    config = LlamaConfig(
        vocab_size=(len(tokenizer) + 63) // 64 * 64,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=MAX_MODEL_LEN,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config)
    # Every weight drawn here, in name order, so the bytes do not depend on transformers' own
    # initialisation order.
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                parameter.fill_(1.0)
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    model.save_pretrained(out, safe_serialization=True)


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    build_model(out, build_tokenizer(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tiny_model.py OUT_DIR")
    build(Path(sys.argv[1]))
