"""GRPO outcome advantage (verl-agent `compute_grpo_outcome_advantage` semantics by default).

Every turn of a trajectory gets the same scalar: its outcome score normalised within the episode
group (the G rollouts of one task). Two verl-agent conventions are kept by default so numbers match:

* the statistics are taken over step ROWS, so a trajectory with more turns weighs more in the group
  mean/std; `per_trajectory_stats=True` uses one sample per trajectory (its first turn) instead;
* a group with a single sample gets mean 0 and std 1, i.e. the advantage is the raw score.

std is the unbiased (n - 1) std and eps is added to the std, not the variance.

`invalid_penalty_only=True` takes the episode outcome away from invalid turns. A turn the env
rejected (or that did not parse) changed nothing, so the episode's outcome owes nothing to it; yet
by default it keeps the episode term of its episode, so in a won episode it is pushed UP and only
the small invalid penalty c pushes back. With the option, the row's score s_i = R(tau_i) - c is
split into its outcome R(tau_i) and its penalty -c, and only the penalty's part is kept:

    valid row i:    A_i = (s_i - mean_g) / (std_g + eps)         (unchanged)
    invalid row i:  A_i = -c / (std_g + eps)                      (norm="mean_std")
                    A_i = -c                                      (norm="mean")

i.e. the advantage it gets without the option minus that of a valid turn of the same trajectory.
mean_g and std_g are the group statistics as without the option (invalid rows' scores included), so
valid rows are untouched.

Where a group's samples have no spread (std_g = 0) std_g is taken as 1, as for a singleton group: every
sampled row is then centred to 0 either way, but with one sample per trajectory an invalid turn's row
differs from its trajectory's sample by -c and would get -c / eps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.choices import NORMS
from algorithms.registry import register_estimator
from algorithms.rewards import episode_scores, invalid_penalty_per_row
from algorithms.segments import first_rows, segment_stats


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def episode_advantages(
    batch: StepBatch,
    norm: str,
    per_trajectory_stats: bool,
    invalid_penalty: float,
    epsilon: float,
    invalid_penalty_only: bool = False,
) -> Tensor:
    """Per-row episode-level advantage [N] (float64); shared by GRPO and GiGPO's episode term."""
    check_norm(norm)
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    scores = episode_scores(batch, invalid_penalty)
    if batch.num_rows == 0:
        return scores
    group, num_groups = batch.group_index
    sample = None
    if per_trajectory_stats:
        traj, num_traj = batch.traj_index
        sample = first_rows(traj, batch.step, num_traj)
    stats = segment_stats(scores, group, num_groups, sample)
    singleton = stats.count <= 1
    mean = stats.mean.masked_fill(singleton, 0.0)
    centred = scores - mean[group]
    if norm == "mean":
        if invalid_penalty_only:
            return torch.where(batch.valid, centred, -invalid_penalty_per_row(batch.valid, invalid_penalty))
        return centred
    # A group whose samples have no spread has nothing to scale by: std 1, as a singleton's. Its centred rows
    # are then 0, except the rows that differ from the samples (an invalid turn's penalty, with one sample
    # per trajectory), which would otherwise be divided by eps.
    std = stats.std.masked_fill(singleton | (stats.std == 0), 1.0)
    advantages = centred / (std[group] + epsilon)
    if invalid_penalty_only:
        penalty_part = -invalid_penalty_per_row(batch.valid, invalid_penalty) / (std[group] + epsilon)
        return torch.where(batch.valid, advantages, penalty_part)
    return advantages


@register_estimator("grpo")
def grpo(
    batch: StepBatch,
    *,
    norm: str = "mean_std",
    per_trajectory_stats: bool = False,
    invalid_penalty: float = 0.1,
    epsilon: float = 1e-6,
    invalid_penalty_only: bool = False,
) -> Tensor:
    """(R - mean_G) / (std_G + eps) for norm="mean_std", R - mean_G for norm="mean" (Dr.GRPO); with
    `invalid_penalty_only`, an invalid turn gets only the penalty's part (module docstring)."""
    return episode_advantages(
        batch, norm, per_trajectory_stats, invalid_penalty, epsilon, invalid_penalty_only
    ).float()
