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
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
# Format tags get one token each: a tiny model then learns the output format in a few SFT steps.
FORMAT_TOKENS = ["<think>", "</think>", "<action>", "</action>"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Whole tokens in the vocabulary; training must cut them out of the corpus exactly as encoding does.
ADDED_TOKENS = SPECIAL_TOKENS + FORMAT_TOKENS
_ADDED_TOKEN_RE = re.compile("|".join(re.escape(token) for token in ADDED_TOKENS))

SPEC_FILE = "turnrl_tiny.json"

# Qwen2's pre-tokenizer split: contractions, letter runs with one leading non-letter, single digits,
# punctuation runs, newlines, spaces.
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of the tiny model; defaults give ~0.7M parameters, fast enough for a 2-core CPU."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    seed: int = 0


def _corpus_digest(corpus: list[str]) -> str:
    digest = hashlib.sha256()
    for text in corpus:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _atomic_tokens(atomic_strings: Sequence[str]) -> list[AddedToken]:
    """One added token per distinct string, matched on the raw text and only as a whole word (the option value
    ``6`` must not match inside ``16``); a string that is already a BPE token keeps its id."""
    strings = sorted(set(atomic_strings))
    blank = [s for s in strings if not s.strip()]
    if blank:
        raise ValueError(f"atomic strings must hold text, got {blank!r}")
    return [AddedToken(s, single_word=True, normalized=False) for s in strings]


def _outside_atomic(tokens: list[AddedToken]):
    """A function that cuts a text into the pieces between atomic strings, as encoding will cut it."""
    cutter = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    cutter.add_tokens(tokens)
    atomic = {token.content for token in tokens}

    def pieces(text: str) -> list[str]:
        encoding = cutter.encode(text, add_special_tokens=False)
        return [
            text[start:end]
            for token, (start, end) in zip(encoding.tokens, encoding.offsets, strict=True)
            if token not in atomic
        ]

    return pieces


def train_tokenizer(corpus: Iterable[str], vocab_size: int, atomic_strings: Sequence[str] = ()):
    """Train a byte-level BPE on ``corpus`` and wrap it as a chat-capable fast tokenizer.

    On an env's small vocabulary the merges run out before ``vocab_size``: every word of the corpus becomes
    one token (a tiny model copies whole words from its prompt), and unseen text still falls back to bytes.
    Encoding cuts special and format tokens out of the text before pre-tokenizing, so training cuts them out
    too: otherwise ``<action>take`` trains the word ``>take``, and a ``take`` right after the tag splits
    into ``ta`` + ``ke``.

    ``atomic_strings`` (an env's names to copy, e.g. product IDs) become one added token each, on top of the
    ``vocab_size`` BPE budget: the pre-tokenizer splits digits from letters, so no merge could ever join
    ``b0vt08qvq``. They are cut out of the training text too, so no merge is spent on their fragments.
    """

    model = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=ADDED_TOKENS,
        show_progress=False,
    )
    # Qwen2's own normalisation and pre-tokenisation: transformers re-applies them when it loads a folder whose
    # config says qwen2, so training with anything else would tokenize differently after a reload.
    model.normalizer = normalizers.NFC()
    model.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    model.decoder = decoders.ByteLevel()
    # The chat template's own words must be in the vocabulary too.
    pieces = (piece for text in corpus for piece in _ADDED_TOKEN_RE.split(text) if piece)
    atomic = _atomic_tokens(atomic_strings)
    if atomic:
        outside = _outside_atomic(atomic)
        pieces = (part for piece in pieces for part in outside(piece) if part)
    model.train_from_iterator([*pieces, "system user assistant"], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=model,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token=None,
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    if atomic:
        tokenizer.add_tokens(atomic)
    return tokenizer


def _share_case_variants(model: Qwen2ForCausalLM, tokenizer, atomic_strings: Sequence[str]) -> None:
    """Atomic strings that differ only in case start from one embedding row.

    A page may show a name in another case than the action spells it (WebShop's results list ``B08V374UP6``,
    the click is ``click[b08v374up6]``). With tied embeddings, copying the page's token then scores its other
    spelling as high, also for names no demonstration clicked; two unrelated random rows could not be linked.
    """
    spellings: dict[str, list[int]] = {}
    for text in sorted(set(atomic_strings)):
        spellings.setdefault(text.lower(), []).append(tokenizer.convert_tokens_to_ids(text))
    embedding = model.get_input_embeddings().weight
    with torch.no_grad():
        for first, *others in spellings.values():
            for other in others:
                embedding[other].copy_(embedding[first])


def build_tiny_model(
    out_dir: str | os.PathLike,
    corpus: Iterable[str],
    spec: TinyModelSpec | None = None,
    atomic_strings: Sequence[str] = (),
) -> Path:
    """Return a folder holding a tiny model + tokenizer that ``from_pretrained`` (HF and vLLM) loads.

    ``atomic_strings``: names the tokenizer keeps whole (see ``train_tokenizer``); the vocabulary is then the BPE
    budget plus one token per such string that is not already a BPE token.
    Rebuilds only when the spec, the corpus or the atomic strings changed, writing into a temporary folder that
    is renamed into place, so an interrupted build never leaves a half-written model behind.
    """

    spec = spec or TinyModelSpec()
    texts = [t for t in corpus if t]
    if not texts:
        raise ValueError("build_tiny_model needs a non-empty corpus to train the tokenizer on")
    fingerprint = {"spec": asdict(spec), "corpus": _corpus_digest(texts)}
    if atomic_strings:
        fingerprint["atomic_strings"] = _corpus_digest(sorted(set(atomic_strings)))
    out = Path(out_dir)
    spec_path = out / SPEC_FILE
    if spec_path.exists() and json.loads(spec_path.read_text()) == fingerprint:
        return out

    tokenizer = train_tokenizer(texts, spec.vocab_size, atomic_strings)
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
    _share_case_variants(model, tokenizer, atomic_strings)
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
