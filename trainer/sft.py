"""Supervised warm start: teach the policy the env's expert turns before RL.

RL needs a start policy that already succeeds sometimes: a group whose episodes all fail has zero
group-relative advantage, so it teaches nothing. A short SFT pass on expert demonstrations gives one.
The loss is next-token cross-entropy on the response tokens only; the prompt is context, so batches go
through the learner's padded layout and forward (``trainer.learner``), which compute logits only where a
response token is predicted.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from algorithms.losses import DEFAULT_CHUNK_ROWS
from trainer.learner.packing import build_padded
from trainer.learner.scoring import forward_pack

log = logging.getLogger("turnrl")


def response_loss(
    model: torch.nn.Module, pairs: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> torch.Tensor:
    """Mean cross-entropy over the response tokens of ``pairs``, through the learner's padded layout (left
    padding, so only the last few positions need logits)."""
    prompts, responses = zip(*pairs)
    batch = build_padded(prompts, responses, range(len(pairs)), pad_id)
    device = next(model.parameters()).device
    stats = forward_pack(
        model, batch, device, temperature=1.0, with_entropy=False, chunk_size=DEFAULT_CHUNK_ROWS
    )
    return -stats.logprobs.mean()


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
    # Without a bar (the log of an unattended run), a line every tenth of the steps.
    log_every = max(1, steps // 10)
    for step in bar:
        if len(order) < batch_size:
            order.extend(rng.sample(range(len(pairs)), len(pairs)))
        batch = [pairs[order.pop()] for _ in range(min(batch_size, len(pairs)))]
        loss = response_loss(model, batch, pad_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if not progress and (step + 1) % log_every == 0:
            log.info("SFT step %d/%d, loss %.3f", step + 1, steps, losses[-1])
    model.eval()
    log.info("SFT: %d steps on %d turns, loss %.3f -> %.3f", steps, len(pairs), losses[0], losses[-1])
    return losses
