"""The training loop: rollout -> StepBatch -> scoring -> advantages -> PPO update -> weight sync -> log/ckpt.

SPMD: every rank runs this same loop with its own env pool and engine on its own slice of whole task
groups (so advantages are computed locally), and one DeepSpeed learner all-reduces the gradients. Rank 0
writes the logs, plots and summary; every rank takes part in checkpoints.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from algorithms import EPOState, epo_entropy_loss, estimate
from rollout import EpisodeRunner, RolloutBatch, create_engine, evaluate
from trainer.config import Config
from trainer.learner import CheckpointManager, Learner
from trainer.metrics import MetricsLogger, PhaseTimer, console_line
from trainer.setup_parts import (
    engine_kwargs,
    env_pool,
    estimator_call,
    eval_runner_config,
    learner_settings,
    reuse_rollout_logprobs,
    runner_config,
    splits,
)

log = logging.getLogger("turnrl")

_REUSE_CHECK_EVERY = 10  # steps between checks of engine-reported old log-probs against the learner's pass
_REUSE_TOLERANCE = 1e-3  # fp32 CPU kernels agree to ~1e-5; more means a real disagreement


class Trainer:
    """One RL run; ``fit()`` runs it to the end (resuming when a checkpoint exists)."""

    def __init__(self, config: Config, model_path: Path, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.learner = Learner(learner_settings(config, str(model_path), config.trainer.total_steps))
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if config.rollout.tasks_per_step % self.world:
            raise ValueError(f"rollout.tasks_per_step={config.rollout.tasks_per_step} must divide by the "
                             f"{self.world} ranks (whole groups per rank)")
        self.tokenizer = self.learner.tokenizer
        self.engine = create_engine(config.rollout.engine, str(model_path), **engine_kwargs(config))
        self.runner_config = runner_config(config)
        self.reuse_logprobs = reuse_rollout_logprobs(config)
        train_split, eval_split = splits(config)
        self.pool = env_pool(config, train_split, config.rollout.tasks_per_step // self.world * config.rollout.group_size)
        self.eval_pool = env_pool(config, eval_split, min(64, config.trainer.eval_episodes))
        self.runner = EpisodeRunner(self.engine, self.tokenizer, self.pool, self.runner_config)
        self.eval_runner = EpisodeRunner(self.engine, self.tokenizer, self.eval_pool, eval_runner_config(config))
        self.train_tasks = list(self.pool.task_ids)
        self.eval_tasks = list(self.eval_pool.task_ids)
        self.estimator, self.estimator_params = estimator_call(config)
        self.epo = EPOState(total_steps=max(1, config.trainer.total_steps)) if config.algorithm.name == "epo" else None
        self.checkpoints = CheckpointManager(run_dir / "checkpoints", keep_last=config.trainer.keep_last)
        self.logger = (MetricsLogger(run_dir, config.logging.wandb.model_dump(), config.model_dump(mode="json"))
                       if self.rank == 0 else None)
        self.state: dict[str, Any] = {"step": 0, "wall_time_s": 0.0, "eval_before": None}

    # ------------------------------------------------------------------------------------------ loop
    def fit(self) -> dict[str, Any]:
        started = time.perf_counter()
        self._maybe_resume()
        self._prior_wall_time = self.state["wall_time_s"]
        total = self.config.trainer.total_steps
        if self.state["eval_before"] is None:
            self.state["eval_before"] = self.evaluate("before")
            self._log(self.state["step"], self.state["eval_before"]["metrics"])
        while self.state["step"] < total:
            step = self.state["step"] + 1
            metrics = self.train_step(step)
            if self.config.trainer.eval_every and step % self.config.trainer.eval_every == 0 and step < total:
                metrics.update(self.evaluate("during")["metrics"])
            self.state["step"] = step
            self._log(step, metrics)
            if self.rank == 0:
                print(console_line(step, total, metrics), flush=True)
            if self.config.trainer.save_every and step % self.config.trainer.save_every == 0 and step < total:
                self._save(step, started)
        after = self.evaluate("after")
        self._log(self.state["step"], after["metrics"])
        self._save(self.state["step"], started)
        return self._summary(after, self.state["wall_time_s"])

    def train_step(self, step: int) -> dict[str, float]:
        timer = PhaseTimer()
        tasks = self._tasks_for(step)
        self.engine.wake_up()
        with timer("rollout"):
            batch = self.runner.rollout(tasks, seed=self.config.trainer.seed * 100_003 + step)
        self.engine.sleep()
        prompts, responses = batch.prompt_ids, batch.response_ids
        reuse_check = {}
        with timer("old_logprobs"):
            if not self.reuse_logprobs:
                old_logprobs, entropy = self.learner.score(prompts, responses, with_entropy=True)
            else:
                old_logprobs, entropy = batch.policy_tensors()
                if step == 1 or step % _REUSE_CHECK_EVERY == 0:
                    reuse_check = self._check_reused_logprobs(prompts, responses, old_logprobs, entropy,
                                                              batch.response_mask(old_logprobs.shape[1]))
        with timer("ref_logprobs"):
            ref_logprobs = self.learner.reference_logprobs(prompts, responses)
        step_batch = batch.to_step_batch(old_logprobs, entropy, ref_logprobs)
        with timer("advantage"):
            if ref_logprobs is not None and self.config.algorithm.kl.in_reward:
                # The trajectory's KL comes off its return: each turn's reward loses that turn's KL sum.
                kl = self.learner.in_reward_kl(old_logprobs, ref_logprobs, step_batch.response_mask)
                step_batch = replace(step_batch, reward=step_batch.reward - self.config.algorithm.kl.coef * kl.sum(-1))
            advantages = estimate(self.estimator, step_batch, **self.estimator_params)
        with timer("update"):
            update = self.learner.update(prompts, responses, advantages, old_logprobs, ref_logprobs,
                                         extra_loss_fn=self._epo_loss if self.epo else None)
        if self.epo:
            self.epo.update(_global_mean(entropy, step_batch.response_mask))
        with timer("sync"):
            self.learner.sync_to(self.engine)
        metrics = {**_rollout_metrics(batch, self.world), **_train_metrics(update, advantages, step_batch),
                   **_mismatch_metrics(batch, old_logprobs, step_batch.response_mask), **reuse_check,
                   **timer.metrics()}
        every = self.config.logging.sample_table_every
        if self.logger and every and step % every == 0:
            self.logger.log_table(step, "samples", *_sample_table(batch))
        return metrics

    def _check_reused_logprobs(self, prompts, responses, old_logprobs, entropy, mask) -> dict[str, float]:
        """The learner's own pass on a step whose old log-probs came from the engine: any gap beyond float noise
        means the engine and the learner no longer compute the same policy, and every ratio is off by as much."""
        learner_logprobs, learner_entropy = self.learner.score(prompts, responses, with_entropy=True)
        keep = mask.bool()
        if not keep.any():
            return {"rollout/reuse_logprob_diff_max": 0.0, "rollout/reuse_entropy_diff_max": 0.0}
        gap = float((learner_logprobs - old_logprobs).abs()[keep].max())
        if gap > _REUSE_TOLERANCE:
            log.warning("engine and learner log-probs differ by up to %.2e (tolerance %.0e): the reused old "
                        "log-probs are off; set learner.old_logprobs=recompute", gap, _REUSE_TOLERANCE)
        return {"rollout/reuse_logprob_diff_max": gap,
                "rollout/reuse_entropy_diff_max": float((learner_entropy - entropy).abs()[keep].max())}

    def _epo_loss(self, entropy: torch.Tensor, mask: torch.Tensor):
        epo = self.config.algorithm.epo
        return epo_entropy_loss(entropy, mask, self.epo, coef=epo.coef, alpha=epo.alpha, kappa_low=epo.kappa_low,
                                kappa_high=epo.kappa_high, decay=epo.decay, smoothing=epo.smoothing,
                                agg_mode="seq-mean-token-mean")

    def _tasks_for(self, step: int) -> list:
        """This rank's task ids for ``step``: a seeded draw, so a resumed run sees the same tasks."""
        rng = random.Random(f"{self.config.trainer.seed}-{step}")
        count = self.config.rollout.tasks_per_step
        tasks = (rng.sample(self.train_tasks, count) if count <= len(self.train_tasks)
                 else [rng.choice(self.train_tasks) for _ in range(count)])
        return tasks[self.rank :: self.world]

    # ----------------------------------------------------------------------------------- evaluation
    def evaluate(self, when: str) -> dict[str, Any]:
        """Held-out success, greedy (the headline) and sampled, overall and per task type."""
        episodes = self.config.trainer.eval_episodes
        ids = self.eval_tasks
        per_task = -(-episodes // len(ids))
        tasks = [ids[i % len(ids)] for i in range(-(-episodes // per_task))][self.rank :: self.world]
        results = {}
        modes = [True, False] if self.config.trainer.eval_sampled else [True]
        for greedy in modes:
            result = evaluate(self.eval_runner, tasks, greedy=greedy, episodes_per_task=per_task,
                              seed=self.config.trainer.seed + 7)
            results["greedy" if greedy else "sampled"] = _merge_eval(asdict(result), self.world)
        metrics = {}
        for mode, result in results.items():
            metrics[f"eval/success_{mode}"] = result["success_rate"]
            metrics.update({f"eval/{mode}_{kind}": rate for kind, rate in result["per_task_type"].items()})
        if self.rank == 0:
            greedy = results["greedy"]
            log.info("eval %s RL: greedy success %.3f over %d episodes%s", when, greedy["success_rate"],
                     greedy["episodes"], f", sampled {results['sampled']['success_rate']:.3f}"
                     if "sampled" in results else "")
        return {"results": results, "metrics": metrics}

    # ------------------------------------------------------------------------------------ checkpoints
    def _save(self, step: int, started: float) -> None:
        self.state["wall_time_s"] = self._prior_wall_time + time.perf_counter() - started
        state = {**self.state, "rng": _rng_state(), "epo": self.epo.state_dict() if self.epo else None}
        self.checkpoints.save(step, self.learner, state)

    def _maybe_resume(self) -> None:
        resume = self.config.trainer.resume
        if resume == "never":
            return
        path = self.checkpoints.latest() if resume == "auto" else Path(resume)
        if path is None:
            return
        state = self.checkpoints.load(path, self.learner)
        _set_rng_state(state.pop("rng"))
        epo_state = state.pop("epo", None)
        if self.epo and epo_state:
            self.epo.load_state_dict(epo_state)
        self.state.update(state)
        self.learner.sync_to(self.engine)
        log.info("resumed from %s at step %d", path, self.state["step"])

    # ---------------------------------------------------------------------------------------- output
    def _log(self, step: int, metrics: dict[str, Any]) -> None:
        if self.logger:
            self.logger.log(step, metrics)

    def _summary(self, after: dict[str, Any], wall_time_s: float) -> dict[str, Any]:
        before = self.state["eval_before"]["results"]
        after_results = after["results"]
        summary = {
            "env": self.config.env.name,
            "algorithm": self.config.algorithm.name,
            "steps": self.state["step"],
            "success_before_rl": before["greedy"]["success_rate"],
            "success_after_rl": after_results["greedy"]["success_rate"],
            "eval_episodes": after_results["greedy"]["episodes"],
            "wall_time_s": round(wall_time_s, 1),
            "before": before,
            "after": after_results,
        }
        if "sampled" in after_results:
            summary["success_before_rl_sampled"] = before["sampled"]["success_rate"]
            summary["success_after_rl_sampled"] = after_results["sampled"]["success_rate"]
        return summary

    def close(self) -> None:
        self.pool.close()
        self.eval_pool.close()
        if self.logger:
            self.logger.close()


def _global_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    total = torch.stack([(values * mask).sum(), mask.sum()]).double()
    if dist.is_initialized():
        dist.all_reduce(total)
    return float(total[0] / total[1].clamp(min=1))


def _gather(obj: Any, world: int) -> list[Any]:
    if world == 1:
        return [obj]
    out: list[Any] = [None] * world
    dist.all_gather_object(out, obj)
    return out


def _merge_eval(result: dict[str, Any], world: int) -> dict[str, Any]:
    """Combine per-rank eval results into episode-weighted totals."""
    parts = _gather(result, world)
    episodes = sum(p["episodes"] for p in parts)
    counts: dict[str, int] = {}
    wins: dict[str, float] = {}
    for part in parts:
        for kind, n in part["episodes_per_task_type"].items():
            counts[kind] = counts.get(kind, 0) + n
            wins[kind] = wins.get(kind, 0.0) + part["per_task_type"][kind] * n
    return {
        "episodes": episodes,
        "success_rate": sum(p["success_rate"] * p["episodes"] for p in parts) / episodes,
        "per_task_type": {kind: wins[kind] / n for kind, n in sorted(counts.items())},
        "episodes_per_task_type": dict(sorted(counts.items())),
        "mean_turns": sum(p["mean_turns"] * p["episodes"] for p in parts) / episodes,
        "invalid_turn_rate": sum(p["invalid_turn_rate"] * p["episodes"] for p in parts) / episodes,
        "env_errors": sum(p["env_errors"] for p in parts),
    }


def _rollout_metrics(batch: RolloutBatch, world: int) -> dict[str, float]:
    trajs = batch.trajectories
    outcomes: dict[str, set[bool]] = {}  # won / lost seen per group: a mixed group has an episode-level signal
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
    parts = _gather(local, world)
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


def _mismatch_metrics(batch: RolloutBatch, old_logprobs: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """How far the old log-probs of the sampled tokens (the learner's, or under ``learner.old_logprobs: rollout``
    the engine's unfiltered ones) are from the log-probs the engine sampled with.

    Both score the same weights, so anything beyond numerical noise (the CPU quickstart: 1.8e-5 at most; other
    kernels and bf16 differ more) means the two disagree on the prompt (template, padding, positions) or the
    weights did not sync, and every importance ratio of the update is off by as much. With ``top_p`` or
    ``top_k`` the engine reports log-probs within the kept tokens, so the gap then also holds -log(kept mass).
    """
    if not mask.any():
        return {}
    diff = (old_logprobs - batch.sampling_logprobs_tensor(old_logprobs.shape[1]).to(old_logprobs)).abs()[mask.bool()]
    return {"rollout/logprob_diff_mean": float(diff.mean()), "rollout/logprob_diff_max": float(diff.max())}


def _train_metrics(update: dict[str, float], advantages: torch.Tensor, batch) -> dict[str, float]:
    mask = batch.response_mask
    tokens = mask.sum().clamp(min=1)
    group = {"actor": "train", "perf": "timing"}
    metrics = {}
    for key, value in update.items():
        prefix, _, name = key.partition("/")
        metrics[f"{group.get(prefix, prefix)}/{name}"] = float(value)
    metrics["train/advantage_mean"] = float((advantages * mask).sum() / tokens)
    metrics["train/advantage_abs_mean"] = float((advantages.abs() * mask).sum() / tokens)
    return metrics


def _sample_table(batch: RolloutBatch, limit: int = 8) -> tuple[list[str], list[list[Any]]]:
    columns = ["task_id", "task_type", "won", "return", "turns", "actions"]
    rows = []
    for traj in batch.trajectories[:limit]:
        actions = " | ".join(str(turn.action) for turn in traj.turns)
        rows.append([str(traj.task_id), traj.task_type, traj.won, traj.episode_return, traj.num_turns, actions])
    return columns, rows


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
