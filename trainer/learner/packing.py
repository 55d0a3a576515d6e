"""Token-budget micro-batches, in one of two layouts.

*Packed* (flash-attention): sequences (prompt + response) are binned first-fit-decreasing under a token
budget and concatenated into a single row whose ``position_ids`` restart at 0 for each sequence; the varlen
kernels keep sequences apart at no cost, and no compute goes to padding.

*Padded* (every other attention, CPU included): the same rows as a left-padded [B, L] batch with an
attention mask, B x L within the budget, rows sorted by length so padding stays small. Without a varlen
kernel a packed row needs a dense [L, L] block-diagonal mask: attention then costs L^2 for the whole pack
instead of the sum of each sequence's square, 30x more for forty 200-token turns in an 8k pack.

Either way only the positions that predict response tokens get logits, which bounds the [tokens, vocab]
tensor, and identical sequences are computed once: in a group of trajectories from the same start, turns
often repeat exactly (same prompt, same response), and their copies reuse the one forward through
``token_source``. Gradients stay exact, since indexing adds the copies' gradients back up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate

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
    """[B, L] token ids (B = 1 when packed)."""
    position_ids: torch.Tensor
    """[B, L] positions, restarting at 0 for each sequence."""
    logit_positions: torch.Tensor
    """Sequence positions whose logits are computed (``logits_to_keep``): those predicting a response token."""
    labels: torch.Tensor
    """[n] the response tokens, rows concatenated in ``rows`` order."""
    response_lengths: list[int]
    """Response length of each row, in ``rows`` order; ``labels`` is their concatenation."""
    attention_mask: torch.Tensor | None = None
    """[B, L] padding mask of the padded layout; None when packed."""
    logit_select: torch.Tensor | None = None
    """[n] indices into the flattened [B * len(logit_positions)] kept logits, one per label; None: all, in order."""
    token_source: torch.Tensor | None = None
    """[m] for each response token of ``rows`` (concatenated in order), the index of its computed token among
    the n labels; set when rows share a computed sequence. None: rows and labels are one to one."""
    sequence_lengths: list[int] = field(default_factory=list)
    """Length (prompt + response) of each sequence the forward computes, for FLOP accounting."""

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def is_dummy(self) -> bool:
        return not self.rows

    def expand(self, values: torch.Tensor) -> torch.Tensor:
        """Per computed token [n, ...] -> per token of ``rows`` [m, ...] (differentiable)."""
        return values if self.token_source is None else values[self.token_source.to(values.device)]


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
        sequence_lengths=[len(prompts[row]) + len(responses[row]) for row in rows],
    )


def pad_by_tokens(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Group item indices into bins with ``len(bin) * longest_in_bin <= max_tokens`` (longest first).

    Sorting by length keeps rows of similar length together, so the padded batch wastes little. An item over
    the budget gets a bin of its own; zero-length items are left out; ties are broken by index.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    for index in order:
        if bins and (len(bins[-1]) + 1) * lengths[bins[-1][0]] <= max_tokens:
            bins[-1].append(index)
        else:
            bins.append([index])
    for members in bins:
        members.sort()
    return bins


def build_padded(
    prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], rows: Sequence[int], pad_id: int
) -> PackedMicroBatch:
    """Left-pad ``prompt + response`` of each selected row into a [B, L] batch: every response then ends at
    position L - 1, so the logits of the last R positions (R = longest response) cover all of them."""
    sequences = []
    for row in rows:
        prompt, response = list(prompts[row]), list(responses[row])
        if not prompt:
            raise ValueError(f"row {row} has an empty prompt: the first response token would have no context")
        sequences.append(prompt + response)
    width = max(len(seq) for seq in sequences)
    longest = max(len(responses[row]) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, seq in enumerate(sequences):
        ids[b, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[b, width - len(seq) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    lengths = [len(responses[row]) for row in rows]
    select = [b * longest + longest - n + j for b, n in enumerate(lengths) for j in range(n)]
    return PackedMicroBatch(
        rows=list(rows),
        input_ids=ids,
        position_ids=positions,
        logit_positions=torch.arange(width - longest - 1, width - 1, dtype=torch.long),
        labels=torch.tensor([t for row in rows for t in responses[row]], dtype=torch.long),
        response_lengths=lengths,
        attention_mask=mask,
        logit_select=torch.tensor(select, dtype=torch.long),
        sequence_lengths=[len(seq) for seq in sequences],
    )


def unique_sequences(
    prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]], rows: Sequence[int]
) -> dict[int, list[int]]:
    """Map the first of each set of identical (prompt, response) rows to all of them, in ``rows`` order."""
    first: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    copies: dict[int, list[int]] = {}
    for row in rows:
        key = (tuple(prompts[row]), tuple(responses[row]))
        copies.setdefault(first.setdefault(key, row), []).append(row)
    return copies


def share_computed(pack: PackedMicroBatch, copies: dict[int, list[int]]) -> PackedMicroBatch:
    """Extend a pack built from representative rows to every copy of them (see ``unique_sequences``)."""
    if all(len(copies[row]) == 1 for row in pack.rows):
        return pack
    rows: list[int] = []
    lengths: list[int] = []
    source: list[int] = []
    for rep, start, n in zip(pack.rows, accumulate(pack.response_lengths, initial=0), pack.response_lengths):
        for row in copies[rep]:
            rows.append(row)
            lengths.append(n)
            source.extend(range(start, start + n))
    return replace(
        pack, rows=rows, response_lengths=lengths, token_source=torch.tensor(source, dtype=torch.long)
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
