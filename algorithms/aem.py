"""AEM, adaptive entropy modulation (Zhao et al., arXiv 2605.00425): rescale each turn's advantage
by a group-normalised function of the response's uncertainty.

THE FORMULA IS DERIVED, not copied from an implementation: it comes from the paper's abstract plus
a third-party digest of the paper (no official code or paper body was available to us). What the
abstract states: the entropy drift of a natural-gradient update is governed by advantage x relative
response surprisal, and a practical proxy rescales the advantages. Our formula (the one the reference
vectors in tests/data use), per response i of episode group G:

    u_i     = uncertainty of the response (default: its mean token entropy)
    Htil_i  = (u_i - min_G u) / (max_G u - min_G u + 1e-6)          (0 when all equal / singleton)
    w_i     = exp(-lam * Htil_i)
    alpha_i = clamp(w_i / mean_G w, alpha_min, alpha_max)          (mean alpha over G is 1 unclamped)
    A'_i    = alpha_i * A_i

Confident responses (low u) get alpha > 1, uncertain ones alpha < 1, for positive and negative
advantages alike, so early (negatives dominate) entropy tends to rise and later it tends to fall.
alpha is a constant in the loss (computed from rollout-time quantities, no extra forward pass).

Uncertainty sources: "entropy" (mean token entropy, needs `batch.entropy`; the digest's proxy,
lower variance), "surprisal" (length-normalised -log p of the sampled response from
`old_logprobs`), "relative_surprisal" (surprisal minus mean token entropy, the abstract's
quantity; needs both). Rows with an empty response mask take no part in a group's min/max/mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.choices import BASE_ESTIMATORS, UNCERTAINTIES
from algorithms.registry import estimate_raw, register_estimator
from algorithms.segments import segment_mean, segment_min_max

MIN_MAX_EPS = 1e-6


@dataclass
class AEMScales:
    """Per-row diagnostics [N]: the raw uncertainty, its min-max normalised value and the scale alpha."""

    uncertainty: Tensor
    htil: Tensor
    alpha: Tensor


def response_uncertainty(batch: StepBatch, uncertainty: str) -> Tensor:
    """Per-row uncertainty u_i [N] (float32); mean over the row's response tokens."""
    if uncertainty not in UNCERTAINTIES:
        raise ValueError(f"uncertainty must be one of {', '.join(UNCERTAINTIES)}, got {uncertainty!r}")
    if uncertainty != "surprisal" and batch.entropy is None:
        raise ValueError(
            f"AEM uncertainty={uncertainty!r} needs batch.entropy (token entropies of the rollout policy)"
        )
    mask = batch.float_mask()
    length = batch.response_lengths.clamp(min=1.0)

    def row_mean(values: Tensor) -> Tensor:
        # a batched dot product on the tokens' device: no [N, T] temporary (most of AEM's cost)
        return torch.einsum("nt,nt->n", values.float(), mask).cpu() / length

    if uncertainty == "surprisal":
        return -row_mean(batch.old_logprobs)
    mean_entropy = row_mean(batch.entropy)
    return mean_entropy if uncertainty == "entropy" else -row_mean(batch.old_logprobs) - mean_entropy


def aem_scales(
    batch: StepBatch,
    lam: float = 1.0,
    uncertainty: str = "entropy",
    alpha_min: float = 0.0,
    alpha_max: float = math.inf,
) -> AEMScales:
    if not math.isfinite(lam):
        raise ValueError(f"lam must be finite, got {lam}")
    if not 0.0 <= alpha_min <= alpha_max:
        raise ValueError(f"need 0 <= alpha_min <= alpha_max, got {alpha_min}, {alpha_max}")
    u = response_uncertainty(batch, uncertainty)
    group, num_groups = batch.group_index
    has_tokens = batch.response_lengths > 0
    low, high = segment_min_max(u, group, num_groups, has_tokens)
    span = (high - low)[group]
    htil = torch.where(has_tokens & (span > 0), (u - low[group]) / (span + MIN_MAX_EPS), torch.zeros_like(u))
    weight = torch.exp(-lam * htil)
    group_mean = segment_mean(weight, group, num_groups, has_tokens)[group]
    alpha = torch.where(has_tokens, weight / group_mean, torch.ones_like(weight))
    return AEMScales(uncertainty=u, htil=htil, alpha=alpha.clamp(min=alpha_min, max=alpha_max))


@register_estimator("aem")
def aem(
    batch: StepBatch,
    *,
    base: str = "grpo",
    lam: float = 1.0,
    uncertainty: str = "entropy",
    alpha_min: float = 0.0,
    alpha_max: float = math.inf,
    **base_params: object,
) -> Tensor:
    """alpha_i * A_i with A from the base estimator (GRPO or GiGPO) and alpha from `aem_scales`."""
    if base not in BASE_ESTIMATORS:
        raise ValueError(f"aem base must be one of {', '.join(BASE_ESTIMATORS)}, got {base!r}")
    advantages = estimate_raw(base, batch, **base_params)
    alpha = aem_scales(
        batch, lam=lam, uncertainty=uncertainty, alpha_min=alpha_min, alpha_max=alpha_max
    ).alpha
    return advantages * (alpha if advantages.dim() == 1 else alpha[:, None])
