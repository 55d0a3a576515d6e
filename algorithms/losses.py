"""PPO-clip policy loss, loss aggregation, KL estimators and chunked token statistics.

The arithmetic follows verl's `verl/trainer/ppo/core_algos.py` (as in verl-agent at commit 796ed310) so
that runs are comparable with verl-agent numbers; the one deliberate difference is that a row whose mask
is empty contributes 0 in the `seq-mean-*` modes instead of NaN (verl divides by a zero token count),
because padding rows added to even out micro-batches must not poison the loss.

`entropy_from_logits` / `log_probs_from_logits` work on row chunks: with a 150k vocabulary the
float32 softmax of a whole [N, T, V] batch would not fit in memory. Under autograd each chunk is
checkpointed, so backward recomputes the chunk's softmax instead of keeping every chunk's copy alive.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from algorithms.choices import KL_KINDS, LOSS_AGG_MODES

DEFAULT_CHUNK_ROWS = 512


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` over positions where `mask` is 1 (verl's +1e-8 keeps an empty mask at 0)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / (mask.sum() + 1e-8)


def agg_loss(loss_mat: Tensor, loss_mask: Tensor, loss_agg_mode: str = "token-mean") -> Tensor:
    """Reduce a [B, T] per-token loss to a scalar.

    token-mean: every token weighs the same (long responses dominate);
    seq-mean-token-sum: sum per response, mean over responses;
    seq-mean-token-mean: mean per response, mean over responses (every response weighs the same);
    seq-mean-token-sum-norm: total sum / T (Dr.GRPO: a constant normaliser, no length bias).
    The `seq-mean-*` means are over all B rows, including rows with an empty mask.
    """
    mask = loss_mask.to(loss_mat.dtype)
    if loss_agg_mode == "token-mean":
        return masked_mean(loss_mat, mask)
    seq_sums = (loss_mat * mask).sum(dim=-1)
    if loss_agg_mode == "seq-mean-token-sum":
        return seq_sums.mean()
    if loss_agg_mode == "seq-mean-token-mean":
        return (seq_sums / mask.sum(dim=-1).clamp(min=1.0)).mean()
    if loss_agg_mode == "seq-mean-token-sum-norm":
        return seq_sums.sum() / loss_mask.shape[-1]
    raise ValueError(f"unknown loss_agg_mode {loss_agg_mode!r}; expected one of {', '.join(LOSS_AGG_MODES)}")


def policy_loss(
    old_log_prob: Tensor,
    log_prob: Tensor,
    advantages: Tensor,
    response_mask: Tensor,
    cliprange: float = 0.2,
    cliprange_low: float | None = None,
    cliprange_high: float | None = None,
    clip_ratio_c: float = 3.0,
    loss_agg_mode: str = "token-mean",
    token_weights: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """PPO clipped surrogate with dual clip; returns (pg_loss, pg_clipfrac, ppo_kl, pg_clipfrac_lower).

    ``token_weights`` [B, T] multiply each token's clipped loss before aggregation (the rollout correction's
    importance weights, ``algorithms.rollout_correction``; treated as constants).

    Asymmetric ranges (`cliprange_low/high`, DAPO's clip-higher) default to `cliprange`. The dual
    clip caps the loss of a negative-advantage token at -A * clip_ratio_c, so a token whose ratio
    has exploded cannot dominate the batch. The three diagnostics are detached.
    """
    if clip_ratio_c <= 1.0:
        raise ValueError(f"clip_ratio_c must be > 1.0 (dual clip lower bound), got {clip_ratio_c}")
    eps_low = cliprange if cliprange_low is None else cliprange_low
    eps_high = cliprange if cliprange_high is None else cliprange_high
    mask = response_mask.to(log_prob.dtype)

    log_ratio = log_prob - old_log_prob
    ratio = torch.exp(log_ratio)
    ppo_kl = masked_mean(-log_ratio, mask)

    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    clip_loss = torch.maximum(unclipped, clipped)
    pg_clipfrac = masked_mean(torch.gt(clipped, unclipped).to(mask.dtype), mask)

    dual_bound = -advantages * clip_ratio_c
    negative = advantages < 0
    pg_clipfrac_lower = masked_mean((torch.gt(clip_loss, dual_bound) & negative).to(mask.dtype), mask)
    pg_losses = torch.where(negative, torch.minimum(dual_bound, clip_loss), clip_loss)
    if token_weights is not None:
        pg_losses = pg_losses * token_weights.detach().to(pg_losses.dtype)

    pg_loss = agg_loss(pg_losses, mask, loss_agg_mode)
    return pg_loss, pg_clipfrac.detach(), ppo_kl.detach(), pg_clipfrac_lower.detach()


def kl_penalty(logprob: Tensor, ref_logprob: Tensor, kind: str = "low_var_kl") -> Tensor:
    """Per-token KL(pi || ref) estimate from sampled-token log-probs (no masking).

    kl/k1: unbiased, high variance, can be negative; abs; mse/k2: 0.5 * d^2;
    low_var_kl/k3: exp(ref - logp) - (ref - logp) - 1, non-negative, clamped to [-10, 10] for stability.
    """
    if kind in ("kl", "k1"):
        return logprob - ref_logprob
    if kind == "abs":
        return (logprob - ref_logprob).abs()
    if kind in ("mse", "k2"):
        return 0.5 * (logprob - ref_logprob).square()
    if kind in ("low_var_kl", "k3"):
        log_ratio = ref_logprob - logprob
        return torch.clamp(torch.exp(log_ratio) - log_ratio - 1.0, min=-10.0, max=10.0)
    raise ValueError(f"unknown KL kind {kind!r}; expected one of {', '.join(KL_KINDS)}")


def entropy_from_logits(logits: Tensor, chunk_size: int = DEFAULT_CHUNK_ROWS) -> Tensor:
    """Token entropy -sum_v p log p of softmax(logits) over the last dim; float32, shape logits.shape[:-1]."""
    return _map_row_chunks(_entropy_chunk, logits, None, chunk_size)


def log_probs_from_logits(logits: Tensor, labels: Tensor, chunk_size: int = DEFAULT_CHUNK_ROWS) -> Tensor:
    """log softmax(logits)[label] per position; float32, shape labels.shape (= logits.shape[:-1])."""
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"labels shape {tuple(labels.shape)} must equal logits.shape[:-1] {tuple(logits.shape[:-1])}"
        )
    return _map_row_chunks(_label_log_prob_chunk, logits, labels, chunk_size)


def _entropy_chunk(logits: Tensor) -> Tensor:
    logits = logits.float()
    probs = F.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


def _label_log_prob_chunk(logits: Tensor, labels: Tensor) -> Tensor:
    logits = logits.float()
    picked = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def _map_row_chunks(
    fn: Callable[..., Tensor], logits: Tensor, labels: Tensor | None, chunk_size: int
) -> Tensor:
    """Apply `fn` to slices of at most `chunk_size` positions and stitch the results."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    lead_shape = logits.shape[:-1]
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = None if labels is None else labels.reshape(-1).to(torch.long)
    use_checkpoint = torch.is_grad_enabled() and logits.requires_grad
    pieces = []
    for start in range(0, flat_logits.shape[0], chunk_size):
        args = [flat_logits[start : start + chunk_size]]
        if flat_labels is not None:
            args.append(flat_labels[start : start + chunk_size])
        pieces.append(checkpoint(fn, *args, use_reentrant=False) if use_checkpoint else fn(*args))
    if not pieces:
        return torch.zeros(lead_shape, dtype=torch.float32, device=logits.device)
    return torch.cat(pieces).reshape(lead_shape)
