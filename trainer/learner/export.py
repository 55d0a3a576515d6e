"""Write the policy as a Hugging Face folder (sharded safetensors + index, config, tokenizer) while streaming it.

Under ZeRO-3 no rank holds the model, and gathering it whole (one dict of every tensor) would put the full
model on each GPU and then a full CPU copy in each rank's memory at every checkpoint. Here the weights come
one gathered layer at a time (``weights.iter_full_weights``, a collective every rank walks); rank 0 moves each
to CPU and writes a shard whenever ``shard_bytes`` have gathered, the other ranks drop theirs at once. Peak
extra memory: one layer on the device, one shard on rank 0's CPU. Stages 0-2 hold full weights on every rank,
so rank 0 alone streams them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

from trainer.learner.lora import hf_parameter_name

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def write_safetensors_shards(
    weights: Iterable[tuple[str, torch.Tensor]],
    directory: Path,
    shard_bytes: int,
    keep: set[str] | None = None,
) -> dict[str, str]:
    """Write ``weights`` (names in ``keep`` only, each once) as ``model-0000i-of-0000n.safetensors`` files and
    their index, or one ``model.safetensors`` when they fit one shard; returns the weight -> file map."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob("model*.safetensors"), directory / INDEX_FILE]:
        stale.unlink(missing_ok=True)
    shards: list[list[str]] = []
    pending: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    size = total = 0

    def flush() -> None:
        nonlocal pending, size
        shards.append(list(pending))
        save_file(pending, str(directory / f"part-{len(shards):05d}.safetensors"), metadata={"format": "pt"})
        pending, size = {}, 0

    for name, tensor in weights:
        if (keep is not None and name not in keep) or name in seen:
            continue
        seen.add(name)
        cpu = tensor.detach().to("cpu").contiguous()
        nbytes = cpu.numel() * cpu.element_size()
        if pending and size + nbytes > shard_bytes:
            flush()
        pending[name] = cpu
        size += nbytes
        total += nbytes
    if pending or not shards:
        flush()
    if len(shards) == 1:
        (directory / "part-00001.safetensors").rename(directory / SINGLE_FILE)
        return {name: SINGLE_FILE for name in shards[0]}
    weight_map = {}
    for index, names in enumerate(shards, start=1):
        final = f"model-{index:05d}-of-{len(shards):05d}.safetensors"
        (directory / f"part-{index:05d}.safetensors").rename(directory / final)
        weight_map.update({name: final for name in names})
    index_json = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (directory / INDEX_FILE).write_text(json.dumps(index_json, indent=2))
    return weight_map


def export_hf_folder(
    module: torch.nn.Module,
    weights: Iterable[tuple[str, torch.Tensor]],
    tokenizer,
    directory: Path,
    *,
    is_main: bool,
    shard_bytes: int = 2 * 2**30,
) -> None:
    """Every rank passes the same (collective) ``weights`` stream; rank 0 (``is_main``) writes the folder.

    Tied weights (``lm_head.weight`` = the embeddings) are stored once, under the name ``save_pretrained``
    keeps, so transformers and vLLM tie them again on load.
    """
    if not is_main:
        for _ in weights:  # take part in each gather, keep nothing
            pass
        return
    # named_parameters() lists a tied tensor once, under the name save_pretrained keeps (a LoRA policy's base
    # model: under its plain HF name, its adapters left out, as the merged stream names them)
    kept = {hf for name, _ in module.named_parameters() if (hf := hf_parameter_name(name)) is not None}
    write_safetensors_shards(weights, directory, shard_bytes, keep=kept)
    module.config.save_pretrained(directory)
    generation = getattr(module, "generation_config", None)
    if generation is not None:
        generation.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
