"""GiGPO (Feng et al. 2025, arXiv 2505.10978): episode advantage + anchor-state step advantage.

A = A_episode + step_weight * A_step, the same scalar on every token of a turn.

* A_episode: GRPO's arithmetic on the episode score (see grpo.py, same singleton rule). With
  `invalid_penalty_only`, an invalid turn's A_episode is only the penalty's part, -c / (std_g + eps)
  (-c for norm="mean"; grpo.py gives the reason), so its advantage is that plus its step term.
* A_step: the turn's discounted return G_t = r_t + gamma * G_{t+1}, minus its own invalid-action
  penalty (applied after discounting, as verl-agent does), normalised within its step group (turns
  of the same episode group with the same anchor state, see step_groups.py). A step group with a
  single turn gets A_step = 0: unlike the episode level, there is nothing to compare against.

Default `norm="mean"`: verl-agent's default GiGPO mode `mean_norm` (no division by the std; the
paper's equations divide by the std, which is `norm="mean_std"` = verl-agent's `mean_std_norm`).
We keep the code default because it is what the published GiGPO runs used, and because dividing
by a small step-group std inflates the advantages of near-identical returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from algorithms.batch import StepBatch
from algorithms.grpo import check_norm, episode_advantages
from algorithms.registry import register_estimator
from algorithms.rewards import step_returns_after_penalty
from algorithms.segments import segment_stats
from algorithms.step_groups import build_step_groups


@dataclass
class GiGPOParts:
    """Row scalars [N] (float64) of the two GiGPO terms and the step-group partition."""

    episode: Tensor
    step: Tensor
    step_group: Tensor


def gigpo_parts(
    batch: StepBatch,
    *,
    gamma: float = 0.95,
    norm: str = "mean",
    invalid_penalty: float = 0.1,
    similarity_threshold: float | None = None,
    epsilon: float = 1e-6,
    per_trajectory_stats: bool = False,
    invalid_penalty_only: bool = False,
) -> GiGPOParts:
    check_norm(norm)
    episode = episode_advantages(
        batch, norm, per_trajectory_stats, invalid_penalty, epsilon, invalid_penalty_only
    )
    returns = step_returns_after_penalty(batch, gamma, invalid_penalty)
    step_group, num_step_groups = build_step_groups(batch, similarity_threshold)
    if batch.num_rows == 0:
        return GiGPOParts(episode=episode, step=returns, step_group=step_group)
    stats = segment_stats(returns, step_group, num_step_groups)
    singleton = stats.count <= 1
    centred = (returns - stats.mean[step_group]).masked_fill(singleton[step_group], 0.0)
    if norm == "mean_std":
        centred = centred / (stats.std.masked_fill(singleton, 1.0)[step_group] + epsilon)
    return GiGPOParts(episode=episode, step=centred, step_group=step_group)


@register_estimator("gigpo")
def gigpo(
    batch: StepBatch,
    *,
    gamma: float = 0.95,
    step_weight: float = 1.0,
    norm: str = "mean",
    invalid_penalty: float = 0.1,
    similarity_threshold: float | None = None,
    epsilon: float = 1e-6,
    per_trajectory_stats: bool = False,
    invalid_penalty_only: bool = False,
) -> Tensor:
    parts = gigpo_parts(
        batch,
        gamma=gamma,
        norm=norm,
        invalid_penalty=invalid_penalty,
        similarity_threshold=similarity_threshold,
        epsilon=epsilon,
        per_trajectory_stats=per_trajectory_stats,
        invalid_penalty_only=invalid_penalty_only,
    )
    return (parts.episode + step_weight * parts.step).float()
