"""Token-budget micro-batches: whole sequences packed end to end into one row.

Padding every row to the longest one wastes compute when turn lengths vary a lot, as they do in multi-turn
rollouts. Instead sequences (prompt + response) are binned first-fit-decreasing under a token budget and
concatenated into a single row whose ``position_ids`` restart at 0 for each sequence; transformers turns
that into a block-diagonal causal mask (varlen kernels with flash-attention), so no sequence sees another.
Only the positions that predict response tokens get logits, which bounds the [tokens, vocab] tensor too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

log = logging.getLogger("turnrl")


def pack_by_tokens(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Group item indices into bins whose total length is <= ``max_tokens`` (first-fit decreasing).

    An item longer than the budget gets a bin of its own rather than an error: dropping or truncating a
    turn would silently change the objective. Zero-length items are left out. Deterministic: ties are
    broken by index, so every rank and every rerun packs the same way.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[int] = []
    for index in order:
        size = lengths[index]
        if size > max_tokens:
            log.warning(
                "sequence %d has %d tokens, over the %d-token micro-batch budget; it runs alone",
                index,
                size,
                max_tokens,
            )
        for b, free in enumerate(room):
            if size <= free:
                bins[b].append(index)
                room[b] -= size
                break
        else:
            bins.append([index])
            room.append(max_tokens - size)
    for members in bins:
        members.sort()
    return bins


@dataclass
class PackedMicroBatch:
    """One forward pass worth of sequences, concatenated into a single row."""

    rows: list[int]
    """Indices (into the caller's batch) of the sequences in this pack, in pack order."""
    input_ids: torch.Tensor
    """[1, L] token ids."""
    position_ids: torch.Tensor
    """[1, L] positions, restarting at 0 for each sequence."""
    logit_positions: torch.Tensor
    """[n] positions whose logits predict a response token (the token before it)."""
    labels: torch.Tensor
    """[n] the response tokens those positions predict."""
    response_lengths: list[int]
    """Response length of each row, in ``rows`` order; ``labels`` is their concatenation."""

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def is_dummy(self) -> bool:
        return not self.rows


def build_packed(
    prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], rows: Sequence[int]
) -> PackedMicroBatch:
    """Concatenate ``prompt + response`` of each selected row into one packed micro-batch."""
    ids: list[int] = []
    positions: list[int] = []
    logit_positions: list[int] = []
    labels: list[int] = []
    response_lengths: list[int] = []
    for row in rows:
        prompt, response = list(prompts[row]), list(responses[row])
        if not prompt:
            raise ValueError(f"row {row} has an empty prompt: the first response token would have no context")
        start = len(ids)
        ids.extend(prompt)
        ids.extend(response)
        positions.extend(range(len(prompt) + len(response)))
        first = start + len(prompt) - 1
        logit_positions.extend(range(first, first + len(response)))
        labels.extend(response)
        response_lengths.append(len(response))
    return PackedMicroBatch(
        rows=list(rows),
        input_ids=torch.tensor([ids], dtype=torch.long),
        position_ids=torch.tensor([positions], dtype=torch.long),
        logit_positions=torch.tensor(logit_positions, dtype=torch.long),
        labels=torch.tensor(labels, dtype=torch.long),
        response_lengths=response_lengths,
    )


def dummy_micro_batch(token_id: int) -> PackedMicroBatch:
    """A one-token pack with no response, run by a rank that has run out of real micro-batches.

    ZeRO-3 gathers parameters with collectives inside every forward, and ZeRO-2 reduces gradients inside
    every backward, so all ranks must run the same number of passes or the job hangs.
    """
    return PackedMicroBatch(
        rows=[],
        input_ids=torch.tensor([[token_id]], dtype=torch.long),
        position_ids=torch.zeros((1, 1), dtype=torch.long),
        logit_positions=torch.zeros(0, dtype=torch.long),
        labels=torch.zeros(0, dtype=torch.long),
        response_lengths=[],
    )


def to_rows(values: torch.Tensor, response_lengths: Sequence[int], width: int) -> torch.Tensor:
    """Split per-token ``values`` [n] (the pack's response tokens) into [rows, width], left-aligned, zero-padded.

    Differentiable (index_put on a fresh tensor), so the loss can be written on the StepBatch layout.
    """
    total = int(sum(response_lengths))
    if values.shape[0] != total:
        raise ValueError(f"got {values.shape[0]} token values for responses totalling {total} tokens")
    if response_lengths and max(response_lengths) > width:
        raise ValueError(f"a response of {max(response_lengths)} tokens does not fit the width {width}")
    row_index = torch.repeat_interleave(
        torch.arange(len(response_lengths)), torch.tensor(response_lengths, dtype=torch.long)
    )
    col_index = (
        torch.cat([torch.arange(n) for n in response_lengths]) if total else torch.zeros(0, dtype=torch.long)
    )
    out = values.new_zeros((len(response_lengths), width))
    return out.index_put((row_index.to(values.device), col_index.to(values.device)), values)


def response_mask(response_lengths: Sequence[int], width: int) -> torch.Tensor:
    """[rows, width] float mask with row i's first ``response_lengths[i]`` entries set (the StepBatch layout)."""
    lengths = torch.tensor(list(response_lengths), dtype=torch.long)
    return (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).float()
