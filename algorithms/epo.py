"""EPO (Xu et al. 2025, arXiv 2509.22576): entropy-regularised policy optimisation for multi-turn agents.

EPO leaves the advantages alone (the "epo" estimator returns its base estimator's advantages) and
adds a loss term to the policy loss:

    loss_to_add = -coef * (L_H - beta_k * L_smooth)

* L_H = agg(H, mask): the entropy bonus (paper Eq. 2; one row = one turn, so the paper's
  mean-over-turns-of-token-means is `seq-mean-token-mean`, our default).
* L_smooth = agg(alpha * P, mask), P = relu(kappa_low * Hbar - H) + relu(H - kappa_high * Hbar)
  (Eq. 3-4): a differentiable hinge that pulls token entropy back into a band around Hbar, the
  cumulative mean of the batch entropies of all PREVIOUS RL steps (`EPOState`); 0 at k = 0.
* beta_k = 1 + exp(-decay * k / floor(K / 2)) (Eq. 5): stronger smoothing early in training.

`smoothing="released"` reproduces what the authors' released code computes instead: a binary,
gradient-free penalty (alpha outside the band (kappa_low*Hbar, kappa_high*Hbar), 0 inside) scaled
by the code's epoch schedule (hard-coded 150 epochs) in place of beta_k. Because that penalty
carries no gradient, the released smoothing only shifts the loss VALUE: the update equals plain
PPO + entropy bonus. Not reproduced from the release: its per-turn-index entropy history and its
gate that applies smoothing only to turns >= max_steps // 2 (our history is one scalar per step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.choices import BASE_ESTIMATORS, SMOOTHING_MODES
from algorithms.losses import agg_loss
from algorithms.registry import estimate_raw, register_estimator

RELEASED_MAX_EPOCHS = 150


@dataclass
class EPOState:
    """Cumulative entropy history across RL steps (checkpointed with the trainer).

    Call `update(mean_token_entropy_of_this_step)` once per RL step (the masked token mean of the
    rollout entropies, over the whole batch), AFTER computing that step's losses, so that step k
    sees the mean of steps 0..k-1 (the paper's W_k). The released code includes the current step
    in its history; to mimic it with `smoothing="released"`, call `update` before the losses.
    """

    total_steps: int
    entropy_sum: float = 0.0
    step: int = 0

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"EPOState.total_steps (K) must be >= 1, got {self.total_steps}")

    def history_mean(self) -> float | None:
        """Hbar_{W_k}; None before the first update (no smoothing at k = 0)."""
        return None if self.step == 0 else self.entropy_sum / self.step

    def beta(self, decay: float) -> float:
        """Paper's adaptive weight beta_k = 1 + exp(-decay * k / floor(K/2)), from 2 down to 1 + e^{-2 decay}."""
        k_mid = max(self.total_steps // 2, 1)
        return 1.0 + math.exp(-decay * self.step / k_mid)

    def released_weight(self) -> float:
        """The released code's epoch schedule: 1 -> 0.8 over the first 75 epochs, then decays towards 0."""
        epoch = min(max(self.step, 0), RELEASED_MAX_EPOCHS)
        half = RELEASED_MAX_EPOCHS / 2
        if epoch <= half:
            return 1.0 - 0.2 * (1.0 - math.exp(-2.0 * epoch / half))
        return 0.8 * math.exp(-3.0 * (epoch - half) / (RELEASED_MAX_EPOCHS - half))

    def update(self, batch_mean_entropy: float) -> None:
        value = float(batch_mean_entropy)
        if not math.isfinite(value):
            raise ValueError(f"EPOState.update got a non-finite mean entropy {value}")
        self.entropy_sum += value
        self.step += 1

    def state_dict(self) -> dict[str, float | int]:
        return {"total_steps": self.total_steps, "entropy_sum": self.entropy_sum, "step": self.step}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.total_steps = int(state["total_steps"])
        self.entropy_sum = float(state["entropy_sum"])
        self.step = int(state["step"])


def smoothing_hinge(entropy: Tensor, history_mean: float, kappa_low: float, kappa_high: float) -> Tensor:
    """Per-token distance of the entropy outside the band [kappa_low*Hbar, kappa_high*Hbar] (paper Eq. 3)."""
    return torch.relu(kappa_low * history_mean - entropy) + torch.relu(entropy - kappa_high * history_mean)


def epo_entropy_loss(
    entropy: Tensor,
    mask: Tensor,
    state: EPOState,
    coef: float = 0.001,
    alpha: float = 0.1,
    kappa_low: float = 0.0,
    kappa_high: float = 2.0,
    decay: float = 1.0,
    smoothing: str = "paper",
    agg_mode: str = "seq-mean-token-mean",
) -> tuple[Tensor, dict[str, float]]:
    """The term to ADD to the policy loss, and scalar metrics. `entropy` [N, T] must carry the gradient."""
    if smoothing not in SMOOTHING_MODES:
        raise ValueError(f"smoothing must be one of {', '.join(SMOOTHING_MODES)}, got {smoothing!r}")
    if not 0.0 <= kappa_low <= kappa_high:
        raise ValueError(f"need 0 <= kappa_low <= kappa_high, got {kappa_low}, {kappa_high}")
    mask = mask.to(entropy.dtype)
    entropy_bonus = agg_loss(entropy, mask, agg_mode)
    history_mean = state.history_mean()
    metrics = {"epo/entropy": float(entropy_bonus.detach()), "epo/history_entropy": history_mean or 0.0}

    if history_mean is None:
        smooth_loss = entropy.new_zeros(())
        weight = 0.0
        out_of_band = entropy.new_zeros(entropy.shape, dtype=torch.bool)
    elif smoothing == "paper":
        hinge = smoothing_hinge(entropy, history_mean, kappa_low, kappa_high)
        smooth_loss = agg_loss(alpha * hinge, mask, agg_mode)
        weight = state.beta(decay)
        out_of_band = hinge.detach() > 0
    else:
        detached = entropy.detach()
        out_of_band = (detached <= kappa_low * history_mean) | (detached >= kappa_high * history_mean)
        smooth_loss = agg_loss(alpha * out_of_band.to(entropy.dtype), mask, agg_mode)
        weight = state.released_weight()

    loss = -coef * (entropy_bonus - weight * smooth_loss)
    metrics["epo/smooth_loss"] = float(smooth_loss.detach())
    metrics["epo/smooth_weight"] = weight
    metrics["epo/out_of_band_frac"] = float(
        (out_of_band.to(mask.dtype) * mask).sum() / mask.sum().clamp(min=1.0)
    )
    return loss, metrics


@dataclass
class EPORegularizer:
    """EPO's entropy regularisation as one object, built once per run: the loss term the learner adds to each
    micro-batch (``__call__``, the learner's ``extra_loss_fn``), the running entropy history it reads
    (``observe`` once per step, after the update), and that history's checkpoint (``state_dict``).

    ``agg_mode`` must be the learner's ``loss_agg_mode``: the learner rescales each micro-batch's extra loss by
    that mode's share of the mini-batch, so any other mode would weigh micro-batches wrongly."""

    state: EPOState
    coef: float
    alpha: float
    kappa_low: float
    kappa_high: float
    decay: float
    smoothing: str
    agg_mode: str

    def __call__(self, entropy: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
        return epo_entropy_loss(
            entropy,
            mask,
            self.state,
            coef=self.coef,
            alpha=self.alpha,
            kappa_low=self.kappa_low,
            kappa_high=self.kappa_high,
            decay=self.decay,
            smoothing=self.smoothing,
            agg_mode=self.agg_mode,
        )

    def observe(self, batch_mean_entropy: float) -> None:
        """This step's masked token-mean entropy of the rollout joins the history (after the step's losses)."""
        self.state.update(batch_mean_entropy)

    def state_dict(self) -> dict[str, float | int]:
        return self.state.state_dict()

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.state.load_state_dict(state)


@register_estimator("epo")
def epo(batch: StepBatch, *, base: str = "grpo", **base_params: object) -> Tensor:
    """EPO does not change advantages: the base estimator's, unchanged (the loss term is separate)."""
    if base not in BASE_ESTIMATORS:
        raise ValueError(f"epo base must be one of {', '.join(BASE_ESTIMATORS)}, got {base!r}")
    return estimate_raw(base, batch, **base_params)
