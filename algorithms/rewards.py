"""Per-turn reward quantities derived from a `StepBatch`: episode returns, discounted step returns,
the invalid-action penalty, and verl's token-level reward layout.

Trajectories are recovered from (`traj_id`, `step`), never from row order. Results are float64
(see segments.py); estimators cast to float32 at the end.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.losses import kl_penalty


def invalid_penalty_per_row(valid: Tensor, coef: float) -> Tensor:
    """coef for rows whose action the env rejected, 0 otherwise (verl-agent's invalid_action_penalty)."""
    if coef < 0:
        raise ValueError(f"invalid_penalty must be >= 0, got {coef}")
    return coef * (~valid).to(torch.float64)


def episode_returns(batch: StepBatch) -> Tensor:
    """R(tau) = sum of the env rewards of the row's trajectory, broadcast to each of its rows."""
    traj, num_traj = batch.traj_index
    reward = batch.reward.to(torch.float64)
    totals = reward.new_zeros(num_traj).index_add(0, traj, reward)
    return totals[traj]


def episode_scores(batch: StepBatch, invalid_penalty: float) -> Tensor:
    """The per-row outcome score GRPO normalises: R(tau) minus this row's own invalid-action penalty.

    verl-agent subtracts the penalty from the row's token-level score after the episode reward is
    placed, so only the offending turn loses it; the other turns of the trajectory keep R(tau).
    """
    return episode_returns(batch) - invalid_penalty_per_row(batch.valid, invalid_penalty)


def step_discounted_returns(batch: StepBatch, gamma: float) -> Tensor:
    """G_t = r_t + gamma * G_{t+1} along each trajectory (rows ordered by `step`), before any penalty.

    The loop runs over turn depth (at most the longest trajectory), each iteration vectorised
    over all trajectories.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    n = batch.num_rows
    returns = torch.zeros(n, dtype=torch.float64)
    if n == 0:
        return returns
    traj, _ = batch.traj_index
    span = int(batch.step.max() - batch.step.min()) + 1
    order = torch.argsort(traj * span + (batch.step - batch.step.min()))  # (trajectory, step) keys are unique
    sorted_traj = traj[order]
    sorted_reward = batch.reward.to(torch.float64)[order]
    has_next = torch.zeros(n, dtype=torch.bool)
    has_next[:-1] = sorted_traj[1:] == sorted_traj[:-1]
    position_from_end = _position_from_end(has_next)

    sorted_returns = sorted_reward.clone()
    for depth in range(1, int(position_from_end.max()) + 1):
        rows = torch.nonzero(position_from_end == depth).squeeze(1)
        sorted_returns[rows] = sorted_reward[rows] + gamma * sorted_returns[rows + 1]
    returns[order] = sorted_returns
    return returns


def step_returns_after_penalty(batch: StepBatch, gamma: float, invalid_penalty: float) -> Tensor:
    """GiGPO's step rewards: discounted returns, then the penalty on the offending row only (not discounted back)."""
    return step_discounted_returns(batch, gamma) - invalid_penalty_per_row(batch.valid, invalid_penalty)


def token_level_rewards(batch: StepBatch, invalid_penalty: float) -> Tensor:
    """verl's [N, T] reward layout: the row's episode score at its last response token, 0 elsewhere.

    Provided for logging and for comparing with verl-agent; the estimators work on row scalars.
    """
    mask = batch.response_mask.bool().cpu()
    positions = torch.arange(batch.response_length).expand_as(mask)
    if batch.response_length == 0:
        return torch.zeros(batch.num_rows, 0)
    last = torch.where(mask, positions, -1).amax(dim=1)
    rewards = torch.zeros(batch.num_rows, batch.response_length, dtype=torch.float32)
    rows = torch.nonzero(last >= 0).squeeze(1)
    rewards[rows, last[rows]] = episode_scores(batch, invalid_penalty).to(torch.float32)[rows]
    return rewards


def _position_from_end(has_next: Tensor) -> Tensor:
    """For rows sorted by (trajectory, step): 0 for a trajectory's last row, 1 for the one before, ..."""
    n = has_next.shape[0]
    index = torch.arange(n)
    is_last = ~has_next
    # index of the next trajectory-last row at or after each position = reverse cummin
    last_index = torch.where(is_last, index, n)
    next_last = torch.flip(torch.cummin(torch.flip(last_index, [0]), 0).values, [0])
    return next_last - index


def subtract_kl_from_reward(batch: StepBatch, kind: str, coef: float) -> StepBatch:
    """verl's in-reward KL: each turn's env reward loses ``coef`` times the sum over its response tokens of
    ``kl_penalty(old, ref, kind)``, so every estimator sees returns net of the drift from the reference (the KL then
    stays out of the loss)."""
    if batch.ref_logprobs is None:
        raise ValueError("subtract_kl_from_reward needs ref_logprobs in the batch")
    kl = (
        kl_penalty(batch.old_logprobs.float(), batch.ref_logprobs.float(), kind) * batch.response_mask.float()
    )
    return replace(batch, reward=batch.reward - coef * kl.sum(-1))
