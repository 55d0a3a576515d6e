"""Forward passes over packed micro-batches: per-token log-probs and entropies of the response tokens.

Used both by the no-grad scoring passes (old policy, reference) and inside the update (with grad).
Every rank runs the same number of forwards (short ranks run a one-token dummy pack) because ZeRO-3
gathers parameters with collectives inside each forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from trainer import dist as tdist
from trainer.learner.packing import (
    PackedMicroBatch,
    build_packed,
    build_padded,
    dummy_micro_batch,
    pack_by_tokens,
    pad_by_tokens,
    share_computed,
    unique_sequences,
)
from trainer.learner.sampled_distribution import token_stats


@dataclass
class TokenStats:
    """Per-response-token outputs of one packed forward."""

    logprobs: torch.Tensor
    """[m] one per response token of the pack's rows, in row order (copies of a computed sequence included)."""
    entropy: torch.Tensor | None
    """[m] like ``logprobs``."""
    logits: torch.Tensor
    """[n, vocab] logits (already divided by the temperature) of the computed response positions; for a dummy
    pack the logits of its single token, so a zero-weighted loss on it still reaches every parameter."""


def forward_pack(
    module: Any,
    pack: PackedMicroBatch,
    device: torch.device,
    *,
    temperature: float,
    with_entropy: bool,
    chunk_size: int,
    top_p: float = 1.0,
    top_k: int = -1,
) -> TokenStats:
    """Log-probs (and entropies) of the pack's response tokens under its logits / ``temperature``, within each
    position's ``top_p`` / ``top_k`` nucleus (``trainer.learner.sampled_distribution``; 1.0 / -1: the full
    distribution)."""
    keep = torch.zeros(1, dtype=torch.long) if pack.is_dummy else pack.logit_positions
    extra = {} if pack.attention_mask is None else {"attention_mask": pack.attention_mask.to(device)}
    out = module(
        input_ids=pack.input_ids.to(device),
        position_ids=pack.position_ids.to(device),
        logits_to_keep=keep.to(device),
        use_cache=False,
        **extra,
    )
    logits = out.logits.reshape(-1, out.logits.shape[-1])
    if pack.logit_select is not None and not pack.is_dummy:
        logits = logits[pack.logit_select.to(device)]
    if temperature != 1.0:
        logits = logits / temperature
    if pack.is_dummy:
        empty = logits.new_zeros(0, dtype=torch.float32)
        return TokenStats(logprobs=empty, entropy=empty if with_entropy else None, logits=logits)
    labels = pack.labels.to(device)
    logprobs, entropy = token_stats(logits, labels, top_p, top_k, chunk_size, with_entropy)
    logprobs = pack.expand(logprobs)
    entropy = pack.expand(entropy) if entropy is not None else None
    return TokenStats(logprobs=logprobs, entropy=entropy, logits=logits)


def plan_micro_batches(
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    rows: Sequence[int],
    max_tokens: int,
    filler_token: int,
    packed: bool = True,
) -> list[PackedMicroBatch]:
    """Bin the distinct sequences of ``rows`` under the token budget (packed or padded layout, see packing.py),
    let each pack carry the copies of its sequences, and pad the list with dummy packs to the longest rank's
    count."""
    copies = unique_sequences(prompts, responses, rows)
    unique = list(copies)
    lengths = [len(prompts[r]) + len(responses[r]) if len(responses[r]) > 0 else 0 for r in unique]
    if packed:
        bins = pack_by_tokens(lengths, max_tokens)
        packs = [build_packed(prompts, responses, [unique[i] for i in members]) for members in bins]
    else:
        bins = pad_by_tokens(lengths, max_tokens)
        packs = [
            build_padded(prompts, responses, [unique[i] for i in members], filler_token) for members in bins
        ]
    packs = [share_computed(pack, copies) for pack in packs]
    count = tdist.all_reduce(torch.tensor([len(packs)], dtype=torch.long), op="max")
    packs.extend(dummy_micro_batch(filler_token) for _ in range(int(count.item()) - len(packs)))
    return packs


def check_sequences(prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]) -> None:
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")


def score_sequences(
    module: Any,
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    device: torch.device,
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    with_entropy: bool,
    chunk_size: int,
    filler_token: int,
    packed: bool = True,
    width: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, list[int]]:
    """No-grad log-probs (and entropies) of every response token in the [N, T] StepBatch layout (float32, CPU),
    scored as ``forward_pack`` does.

    Returns the lengths of the sequences computed too (each distinct one once), for FLOP accounting.
    """
    check_sequences(prompts, responses)
    width = width if width is not None else max((len(r) for r in responses), default=0)
    logprobs = torch.zeros((len(responses), width), dtype=torch.float32)
    entropy = torch.zeros_like(logprobs) if with_entropy else None
    packs = plan_micro_batches(
        prompts, responses, list(range(len(responses))), max_tokens, filler_token, packed
    )
    lengths: list[int] = []
    with torch.no_grad():
        for pack in packs:
            stats = forward_pack(
                module,
                pack,
                device,
                temperature=temperature,
                top_p=top_p,
                top_k=top_k,
                with_entropy=with_entropy,
                chunk_size=chunk_size,
            )
            if pack.is_dummy:
                continue
            lengths.extend(pack.sequence_lengths)
            # one device-to-host copy per pack (a copy per row would synchronise the GPU once per row)
            pack_logprobs = stats.logprobs.float().cpu()
            pack_entropy = (
                stats.entropy.float().cpu() if entropy is not None and stats.entropy is not None else None
            )
            offset = 0
            for row, n in zip(pack.rows, pack.response_lengths):
                logprobs[row, :n] = pack_logprobs[offset : offset + n]
                if pack_entropy is not None:
                    entropy[row, :n] = pack_entropy[offset : offset + n]
                offset += n
    return logprobs, entropy, lengths
