"""GRPO outcome advantage (verl-agent `compute_grpo_outcome_advantage` semantics by default).

Every turn of a trajectory gets the same scalar: its outcome score normalised within the episode
group (the G rollouts of one task). Two verl-agent conventions are kept by default so numbers match:

* the statistics are taken over step ROWS, so a trajectory with more turns weighs more in the group
  mean/std; `per_trajectory_stats=True` uses one sample per trajectory (its first turn) instead;
* a group with a single sample gets mean 0 and std 1, i.e. the advantage is the raw score.

std is the unbiased (n - 1) std and eps is added to the std, not the variance.
"""

from __future__ import annotations

from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.choices import NORMS
from algorithms.registry import register_estimator
from algorithms.rewards import episode_scores
from algorithms.segments import first_rows, segment_stats


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")


def episode_advantages(
    batch: StepBatch, norm: str, per_trajectory_stats: bool, invalid_penalty: float, epsilon: float
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
        return centred
    std = stats.std.masked_fill(singleton, 1.0)
    return centred / (std[group] + epsilon)


@register_estimator("grpo")
def grpo(
    batch: StepBatch,
    *,
    norm: str = "mean_std",
    per_trajectory_stats: bool = False,
    invalid_penalty: float = 0.1,
    epsilon: float = 1e-6,
) -> Tensor:
    """(R - mean_G) / (std_G + eps) for norm="mean_std", R - mean_G for norm="mean" (Dr.GRPO)."""
    return episode_advantages(batch, norm, per_trajectory_stats, invalid_penalty, epsilon).float()
