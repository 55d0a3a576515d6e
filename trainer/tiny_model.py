"""Build a tiny random-init Qwen2 model and a locally trained BPE tokenizer.

Nothing may be downloaded at run time, so tests and the CPU quickstart make their own model: a byte-level
BPE tokenizer trained in milliseconds on text the caller supplies (env observations, expert actions) and a
Qwen2-architecture model initialised from a config. Qwen2 is the architecture of the GPU recipes, so the
same code paths (HF, vLLM, DeepSpeed, weight-name mapping) are exercised on CPU.

The result is cached: a folder whose ``turnrl_tiny.json`` records the spec it was built from is reused
when the spec matches, and rebuilt (atomically) otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>", "<|unk|>"]
# Format tags get one token each: a tiny model then learns the output format in a few SFT steps.
FORMAT_TOKENS = ["<think>", "</think>", "<action>", "</action>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPEC_FILE = "turnrl_tiny.json"


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of the tiny model; defaults give ~0.7M parameters, fast enough for a 2-core CPU."""

    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    tokenizer: str = "bpe"
    seed: int = 0


def _corpus_digest(corpus: list[str]) -> str:
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def train_tokenizer(corpus: Iterable[str], vocab_size: int, kind: str = "bpe"):
    """Train a tokenizer on ``corpus`` and wrap it as a chat-capable fast tokenizer.

    ``bpe``: byte-level BPE, covers any text. ``word``: one token per word or punctuation mark of the corpus
    (unknown words become ``<|unk|>``); a tiny model learns to copy whole words from its prompt far faster
    than byte pieces, which is what lets the CPU quickstart learn in minutes.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = SPECIAL_TOKENS + FORMAT_TOKENS
    if kind == "bpe":
        model = Tokenizer(models.BPE())
        model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        model.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=specials, show_progress=False)
    elif kind == "word":
        model = Tokenizer(models.WordLevel(unk_token="<|unk|>"))
        model.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
        model.decoder = decoders.WordPiece(prefix="##", cleanup=True)
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    else:
        raise ValueError(f"tokenizer must be 'bpe' or 'word', got {kind!r}")
    # The chat template's own words must be in the vocabulary too.
    model.train_from_iterator([*corpus, "system user assistant"], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token="<|unk|>",
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(out_dir: str | os.PathLike, corpus: Iterable[str], spec: TinyModelSpec | None = None) -> Path:
    """Return a folder holding a tiny model + tokenizer that ``from_pretrained`` (HF and vLLM) loads.

    Rebuilds only when the spec or the corpus changed, writing into a temporary folder that is renamed into
    place, so an interrupted build never leaves a half-written model behind.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    spec = spec or TinyModelSpec()
    texts = [t for t in corpus if t]
    if not texts:
        raise ValueError("build_tiny_model needs a non-empty corpus to train the tokenizer on")
    fingerprint = {"spec": asdict(spec), "corpus": _corpus_digest(texts)}
    out = Path(out_dir)
    spec_path = out / SPEC_FILE
    if spec_path.exists() and json.loads(spec_path.read_text()) == fingerprint:
        return out

    tokenizer = train_tokenizer(texts, spec.vocab_size, spec.tokenizer)
    torch.manual_seed(spec.seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / SPEC_FILE).write_text(json.dumps(fingerprint, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


def default_corpus() -> list[str]:
    """Generic household/shopping/code text: enough for tests that only need *a* working tokenizer."""
    words = (
        "you are in the middle of a room looking quickly around you see a cabinet countertop drawer fridge "
        "microwave sinkbasin shelf desk bed sofa table lamp apple mug knife book plate cup bowl potato egg "
        "go to take from put move in on open close examine use heat cool clean with nothing happens "
        "your task is to search click buy now back to search next prev page price size color item "
        "def return import class self for if else while test assert print error fix bug repository "
        "think action admissible actions observation step reward success failure"
    ).split()
    lines = []
    for i, word in enumerate(words):
        neighbours = " ".join(words[(i + k) % len(words)] for k in range(1, 8))
        lines.append(f"{word} {neighbours} {i % 10} {i}.")
        lines.append(f"<think>{neighbours}</think><action>{word} {i % 5}</action>")
    return lines * 4
