"""Rollout correction: importance weights between the policy that sampled the tokens and the one being trained.

On GPU the rollout engine samples with its own bf16 kernels while the learner scores with another stack, so the
PPO "old" log-probs (the learner's) are not those of the policy that produced the samples. With
rho_t = pi_old(y_t) / pi_rollout(y_t) (learner's old log-prob minus the engine's, exponentiated), each token's
policy-gradient loss is multiplied by a weight w_t:

- ``token_truncate``: w_t = min(rho_t, cap), truncated importance sampling (Yao et al., "Your efficient RL
  framework secretly brings you off-policy RL training", 2025): the off-policy gradient, with the variance of
  rare tokens the engine under-rates bounded by ``cap``.
- ``token_mask``: w_t = 1 if low <= rho_t <= high else 0 (IcePop-style masking, Ling team 2025): tokens the two
  stacks disagree on too much give no gradient at all.
- ``sequence_mask``: every token of a turn gets 0 when the turn's geometric-mean ratio
  exp(mean_t log rho_t) leaves [low, high], else 1: the sequence-level form of the same masking, on the mean so
  the band does not depend on the response length.
- ``none``: w_t = 1.

Masked tokens keep their place in the loss aggregation's denominator (they add zero), so a batch with masked
tokens takes a smaller step rather than a larger one on the rest. Pure tensor code, no trainer imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.choices import ROLLOUT_CORRECTION_MODES

_MAX_LOG_RATIO = 20.0  # exp(20) ~ 5e8: far past any cap or band, and no overflow to inf


@dataclass
class RolloutCorrection:
    """Per-token weights [N, T] (0 off the response mask) and what they did, for the metrics."""

    weights: Tensor
    ratio: Tensor  # rho_t, [N, T], 0 off the mask
    truncated: Tensor  # bool [N, T]: rho_t > cap (token_truncate)
    masked: Tensor  # bool [N, T]: weight set to 0 by a band (token_mask, sequence_mask)


def rollout_correction(
    old_logprobs: Tensor,
    rollout_logprobs: Tensor,
    response_mask: Tensor,
    mode: str,
    cap: float = 2.0,
    low: float = 0.5,
    high: float = 2.0,
) -> RolloutCorrection:
    """Weights for each token's policy-gradient loss from the learner's old and the engine's log-probs [N, T]."""
    if mode not in ROLLOUT_CORRECTION_MODES:
        raise ValueError(
            f"unknown rollout correction {mode!r}; expected one of {', '.join(ROLLOUT_CORRECTION_MODES)}"
        )
    if old_logprobs.shape != rollout_logprobs.shape or old_logprobs.shape != response_mask.shape:
        raise ValueError(
            f"old_logprobs {tuple(old_logprobs.shape)}, rollout_logprobs {tuple(rollout_logprobs.shape)} and "
            f"response_mask {tuple(response_mask.shape)} must have the same [N, T] shape"
        )
    if cap <= 0 or not 0 <= low <= 1 <= high:
        raise ValueError(f"need cap > 0 and low <= 1 <= high, got cap={cap}, low={low}, high={high}")
    on = response_mask.bool()
    log_ratio = (old_logprobs.float() - rollout_logprobs.float()).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    log_ratio = torch.where(on, log_ratio, torch.zeros_like(log_ratio))
    ratio = torch.where(on, log_ratio.exp(), torch.zeros_like(log_ratio))
    truncated = torch.zeros_like(on)
    masked = torch.zeros_like(on)
    weights = on.float()
    if mode == "token_truncate":
        truncated = on & (ratio > cap)
        weights = torch.where(on, ratio.clamp(max=cap), weights)
    elif mode == "token_mask":
        masked = on & ((ratio < low) | (ratio > high))
    elif mode == "sequence_mask":
        tokens = on.sum(-1)
        mean_log = log_ratio.sum(-1) / tokens.clamp(min=1)
        row_out = (tokens > 0) & (
            (mean_log < torch.log(torch.tensor(low))) | (mean_log > torch.log(torch.tensor(high)))
        )
        masked = on & row_out.unsqueeze(-1)
    weights = torch.where(masked, torch.zeros_like(weights), weights)
    return RolloutCorrection(weights=weights, ratio=ratio, truncated=truncated, masked=masked)
