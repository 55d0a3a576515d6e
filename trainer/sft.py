"""Supervised warm start: teach the policy the env's expert turns before RL.

RL needs a start policy that already succeeds sometimes, or most groups carry no signal
(../shared/research/QUICKSTART.md). A short SFT pass on expert demonstrations gives one. The loss is
next-token cross-entropy on the response tokens only; the prompt is context, so logits are computed only
at the positions that predict a response token (``logits_to_keep``), which saves the LM head on the prompt.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

log = logging.getLogger("turnrl")


def _pad_batch(pairs: Sequence[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, ...]:
    """Right-padded input ids, attention mask and labels (-100 on prompt and padding)."""
    length = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), length), dtype=torch.long)
    labels = torch.full((len(pairs), length), -100, dtype=torch.long)
    for row, (prompt, response) in enumerate(pairs):
        sequence = list(prompt) + list(response)
        ids[row, : len(sequence)] = torch.tensor(sequence)
        mask[row, : len(sequence)] = 1
        labels[row, len(prompt) : len(sequence)] = torch.tensor(response)
    return ids, mask, labels


def response_loss(
    model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy over the labelled tokens, as ``model(..., labels=labels).loss`` gives it."""
    targets = labels[:, 1:]
    keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), targets[:, keep].flatten(), ignore_index=-100
    )


def supervised_finetune(
    model: torch.nn.Module,
    pairs: Sequence[tuple[list[int], list[int]]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    pad_id: int,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``model`` in place on (prompt ids, response ids) pairs; returns the loss of every step."""
    if not pairs:
        raise ValueError("supervised_finetune got no demonstrations")
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: min(1.0, (i + 1) / 20) * max(0.1, 1 - i / steps)
    )
    model.train()
    losses = []
    order: list[int] = []
    bar = tqdm(range(steps), desc="sft", disable=not progress, dynamic_ncols=True)
    for _ in bar:
        if len(order) < batch_size:
            order.extend(rng.sample(range(len(pairs)), len(pairs)))
        batch = [pairs[order.pop()] for _ in range(min(batch_size, len(pairs)))]
        loss = response_loss(model, *_pad_batch(batch, pad_id))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    log.info("SFT: %d steps on %d turns, loss %.3f -> %.3f", steps, len(pairs), losses[0], losses[-1])
    return losses
