"""What the trainer reports each step and evaluation, reduced over every rank (through ``trainer.dist``).

Rank-local numbers are summed or gathered first and turned into rates after, so each episode, turn and token
weighs the same whatever rank played it (evaluations: ``rollout.summarize_eval`` over every rank's outcomes).
Where the numbers go (console, JSONL, W&B) is ``trainer.metrics_logger``.
"""

from __future__ import annotations

from typing import Any

import torch

from algorithms.rollout_correction import RolloutCorrection
from rollout import RolloutBatch
from trainer import dist as tdist


def rollout_metrics(batch: RolloutBatch) -> dict[str, float]:
    trajs = batch.trajectories
    outcomes: dict[
        str, set[bool]
    ] = {}  # won / lost seen per group: a mixed group has an episode-level signal
    by_type_local: dict[str, tuple[int, int]] = {}
    for traj in trajs:
        outcomes.setdefault(traj.group_id, set()).add(traj.won)
        won, n = by_type_local.get(traj.task_type, (0, 0))
        by_type_local[traj.task_type] = (won + traj.won, n + 1)
    local = {
        "episodes": len(trajs),
        "wins": sum(t.won for t in trajs),
        "return": sum(t.episode_return for t in trajs),
        "turns": len(batch),
        "invalid": sum(not v for v in batch.valid),
        "env_errors": sum(t.env_error is not None for t in trajs),
        "response_tokens": sum(len(r) for r in batch.response_ids),
        "prompt_tokens": sum(len(p) for p in batch.prompt_ids),
        "groups": len(outcomes),
        "mixed_groups": sum(len(seen) > 1 for seen in outcomes.values()),
        "by_type": by_type_local,
    }
    parts = tdist.all_gather_objects(local)
    total = {key: sum(p[key] for p in parts) for key in local if key != "by_type"}
    episodes, turns = max(total["episodes"], 1), max(total["turns"], 1)
    metrics = {
        "rollout/success": total["wins"] / episodes,
        "rollout/reward_mean": total["return"] / episodes,
        "rollout/turns_mean": total["turns"] / episodes,
        "rollout/invalid_rate": total["invalid"] / turns,
        "rollout/response_tokens_mean": total["response_tokens"] / turns,
        "rollout/prompt_tokens_mean": total["prompt_tokens"] / turns,
        "rollout/mixed_groups": total["mixed_groups"] / max(total["groups"], 1),
        "env/errors": float(total["env_errors"]),
    }
    by_type: dict[str, tuple[int, int]] = {}
    for part in parts:
        for kind, (won, n) in part["by_type"].items():
            old = by_type.get(kind, (0, 0))
            by_type[kind] = (old[0] + won, old[1] + n)
    metrics.update({f"env/success_{kind or 'all'}": won / n for kind, (won, n) in by_type.items()})
    return metrics


def branch_metrics(batch: RolloutBatch) -> dict[str, float]:
    """Under ``rollout.branch_at_failure``: the share of groups that started after a replayed prefix
    (``rollout/branched_groups``) and their mean prefix length in turns (``rollout/prefix_turns``, 0 when none
    branched)."""
    prefix_of_group = {traj.group_id: len(traj.prefix_actions) for traj in batch.trajectories}
    local = (
        len(prefix_of_group),
        sum(n > 0 for n in prefix_of_group.values()),
        sum(prefix_of_group.values()),
    )
    groups, branched, prefix_turns = (sum(part) for part in zip(*tdist.all_gather_objects(local)))
    return {
        "rollout/branched_groups": branched / max(groups, 1),
        "rollout/prefix_turns": prefix_turns / max(branched, 1),
    }


def mismatch_metrics(batch: RolloutBatch, old_logprobs: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """How far the old log-probs of the sampled tokens (the learner's, or under ``learner.old_logprobs: rollout``
    the engine's unfiltered ones) are from the log-probs the engine sampled with.

    Both score the same weights, so anything beyond numerical noise (the CPU quickstart: 1.8e-5 at most; other
    kernels and bf16 differ more) means the two disagree on the prompt (template, padding, positions) or the
    weights did not sync, and every importance ratio of the update is off by as much. With ``top_p`` or
    ``top_k`` the engine reports log-probs within the kept tokens, so the gap then also holds -log(kept mass),
    unless the learner scores within them too (``learner.score_sampled_distribution``).
    """
    if not mask.any():
        return {}
    diff = (old_logprobs - batch.sampling_logprobs_tensor(old_logprobs.shape[1]).to(old_logprobs)).abs()[
        mask.bool()
    ]
    return {"rollout/logprob_diff_mean": float(diff.mean()), "rollout/logprob_diff_max": float(diff.max())}


def correction_metrics(correction: RolloutCorrection, mask: torch.Tensor) -> dict[str, float]:
    """What ``learner.rollout_correction`` did, over every rank's response tokens: the mean weight, and the
    shares of tokens truncated (rho above the cap) and masked (weight 0)."""
    on = mask.bool()
    local = torch.tensor(
        [
            float(correction.weights[on].sum()),
            float(correction.truncated[on].sum()),
            float(correction.masked[on].sum()),
            float(on.sum()),
        ],
        dtype=torch.float64,
    )
    weights, truncated, masked, tokens = tdist.all_reduce(local).tolist()
    tokens = max(tokens, 1.0)
    return {
        "rollout/is_weight_mean": weights / tokens,
        "rollout/is_truncated_frac": truncated / tokens,
        "rollout/masked_frac": masked / tokens,
    }


def train_metrics(update: dict[str, float], advantages: torch.Tensor, batch) -> dict[str, float]:
    mask = batch.response_mask
    tokens = mask.sum().clamp(min=1)
    # the learner's throughput (perf/update_time_s, perf/update_tokens_per_s, perf/update_mfu) keeps its own
    # prefix: timing/ holds the step's phase clock alone, so every timing/<phase>_s adds up to timing/step_s
    group = {"actor": "train"}
    metrics = {}
    for key, value in update.items():
        prefix, _, name = key.partition("/")
        metrics[f"{group.get(prefix, prefix)}/{name}"] = float(value)
    metrics["train/advantage_mean"] = float((advantages * mask).sum() / tokens)
    metrics["train/advantage_abs_mean"] = float((advantages.abs() * mask).sum() / tokens)
    return metrics


def sample_table(batch: RolloutBatch, limit: int = 8) -> tuple[list[str], list[list[Any]]]:
    columns = ["task_id", "task_type", "won", "return", "turns", "actions"]
    rows = []
    for traj in batch.trajectories[:limit]:
        actions = " | ".join(str(turn.action) for turn in traj.turns)
        rows.append(
            [str(traj.task_id), traj.task_type, traj.won, traj.episode_return, traj.num_turns, actions]
        )
    return columns, rows
