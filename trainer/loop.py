"""The training loop: rollout -> StepBatch -> scoring -> advantages -> PPO update -> weight sync -> log/ckpt.

SPMD: every rank runs this same loop with its own env pool and engine on its own slice of whole task
groups (so advantages are computed locally), and one DeepSpeed learner all-reduces the gradients. Rank 0
writes the logs, plots and summary; every rank takes part in checkpoints.

The rollout engine shares the device with the learner and walks the same states on CPU and GPU
(``rollout.lifecycle``): awake for the rollout, asleep (level 2: its weights are about to be replaced) while
the learner scores and updates, then woken weights-first, loaded, and its KV cache woken, so it is awake
again for the next rollout or an evaluation.

A resumed run is the run that was never stopped: everything a step consumes is in the checkpoint (weights,
optimizer, LR schedule, EPO's running state, the global RNGs, the records the logs had) or a pure function of
(seed, step, rank) (the step's tasks, the env seeds, the engine's per-request sampling seeds). A signal stops the
run only where a checkpoint can say exactly where it is (``trainer.stop``): between steps, or between a step's
update and its evaluation (the checkpoint then holds the step's metrics, and the resumed run evaluates).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithms import estimate
from algorithms.rewards import subtract_kl_from_reward
from algorithms.rollout_correction import RolloutCorrection, rollout_correction
from rollout import EpisodeOutcome, EpisodeRunner, create_engine, play, summarize_eval
from rollout.branching import rollout_from_failures
from rollout.lifecycle import KV_CACHE, WEIGHTS
from trainer import dist as tdist
from trainer.build import (
    engine_kwargs,
    env_pool,
    epo_regularizer,
    estimator_call,
    eval_runner_config,
    learner_setup,
    old_logprobs_source,
    runner_config,
    splits,
)
from trainer.config import Config
from trainer.learner import CheckpointManager, Learner
from trainer.metrics import (
    branch_metrics,
    correction_metrics,
    mismatch_metrics,
    rollout_metrics,
    sample_table,
    train_metrics,
)
from trainer.metrics_logger import MetricsLogger, console_line
from trainer.phase_timer import PhaseTimer, device_memory
from trainer.policy_guard import check_version
from trainer.stats import paired_gain, wilson_interval
from trainer.stop import Stopped, StopSignals

log = logging.getLogger("turnrl")


class Trainer:
    """One RL run; ``fit()`` runs it to the end (resuming when a checkpoint exists)."""

    def __init__(
        self, config: Config, model_path: Path, run_dir: Path, stop: StopSignals | None = None
    ) -> None:
        """``stop``: the process's installed signal handler (``trainer.stop``); without one, nothing stops the run."""
        self.config = config
        self.stop = stop or StopSignals()
        self.run_dir = run_dir
        self.learner = Learner(learner_setup(config, str(model_path), config.trainer.total_steps))
        self.rank, self.world = tdist.rank_and_world()
        if config.rollout.tasks_per_step % self.world:
            raise ValueError(
                f"rollout.tasks_per_step={config.rollout.tasks_per_step} must divide by the "
                f"{self.world} ranks (whole groups per rank)"
            )
        self.tokenizer = self.learner.tokenizer
        self.old_logprobs = old_logprobs_source(config, self.learner)
        tp = config.rollout.vllm.tensor_parallel_size
        self.engine = create_engine(
            config.rollout.engine,
            str(model_path),
            **engine_kwargs(
                config,
                policy_logprobs=self.old_logprobs.from_engine,
                peer_exchange=tdist.PeerGroup(tp, config.trainer.collective_timeout_s) if tp > 1 else None,
            ),
        )
        # Tensor-parallel peers generate in lock-step: a rank that left a rollout would leave them waiting.
        self.generation_abortable = tp == 1
        self.runner_config = runner_config(config)
        train_split, eval_split = splits(config)
        self.pool = env_pool(
            config, train_split, config.rollout.tasks_per_step // self.world * config.rollout.group_size
        )
        self.eval_pool = env_pool(config, eval_split, min(64, config.trainer.eval_episodes))
        self.runner = EpisodeRunner(self.engine, self.tokenizer, self.pool, self.runner_config)
        self.eval_runner = EpisodeRunner(
            self.engine, self.tokenizer, self.eval_pool, eval_runner_config(config)
        )
        self.train_tasks = list(self.pool.task_ids)
        self.eval_tasks = list(self.eval_pool.task_ids)
        self.estimator, self.estimator_params = estimator_call(config)
        self.epo = epo_regularizer(config)
        self.checkpoints = CheckpointManager(run_dir / "checkpoints", keep_last=config.trainer.keep_last)
        self.logger = (
            MetricsLogger(run_dir, config.logging.wandb.model_dump(), config.model_dump(mode="json"))
            if self.rank == 0
            else None
        )
        self.state: dict[str, Any] = {
            "step": 0,
            "wall_time_s": 0.0,
            "eval_before": None,
            "pending": None,  # a finished step's metrics while its evaluation is still to run
            "eval_after": None,
            "resumes": [],  # {"checkpoint", "step"} of every resume, oldest first
        }
        self._saved: tuple[int, Path] | None = None  # the last checkpoint this process wrote

    # ------------------------------------------------------------------------------------------ loop
    def fit(self) -> dict[str, Any]:
        """Run to ``trainer.total_steps``; raises ``Stopped`` (after writing a checkpoint) when a signal came."""
        self._started = time.perf_counter()
        self._maybe_resume()
        self._prior_wall_time = self.state["wall_time_s"]
        total = self.config.trainer.total_steps
        if self.state["eval_before"] is None:
            self.state["eval_before"] = self._evaluate_or_stop("before")
            self._log(self.state["step"], self.state["eval_before"]["metrics"])
        if self.state["pending"] is not None:  # stopped after this step's update, before its evaluation
            self._finish_step(self.state["step"], self.state["pending"])
        while self.state["step"] < total:
            self._stop_if_requested()
            step = self.state["step"] + 1
            metrics = self.train_step(step)
            self.state["step"] = step
            self._finish_step(step, metrics)
        if self.state["eval_after"] is None:
            self._stop_if_requested()
            self.state["eval_after"] = self._evaluate_or_stop("after")
            self._log(self.state["step"], self.state["eval_after"]["metrics"])
            self._save(self.state["step"])
        return self._summary(self.state["eval_after"], self.state["wall_time_s"])

    def _finish_step(self, step: int, metrics: dict[str, Any]) -> None:
        """A trained step's evaluation (when due), log line and checkpoint (when due)."""
        total = self.config.trainer.total_steps
        if self.config.trainer.eval_every and step % self.config.trainer.eval_every == 0 and step < total:
            self.state["pending"] = metrics
            self._stop_if_requested()
            metrics = {**metrics, **self._evaluate_or_stop("during")["metrics"]}
            self.state["pending"] = None
        self._log(step, metrics)
        if self.rank == 0:
            print(console_line(step, total, metrics), flush=True)
        if self.config.trainer.save_every and step % self.config.trainer.save_every == 0 and step < total:
            self._save(step)

    def train_step(self, step: int) -> dict[str, float]:
        timer = PhaseTimer(device_memory())
        tasks = self._tasks_for(step)
        with timer("rollout"):
            batch = self._rollout(step, tasks)
        check_version(step, batch, self.learner.policy_version)
        with timer("sync"):  # the engine hand-over: its sleep here, its wake and the new weights below
            self.engine.sleep(level=2)  # the update replaces its weights: no point keeping the old ones
        prompts, responses = batch.prompt_ids, batch.response_ids
        with timer("old_logprobs"):
            old_logprobs, entropy, guard = self.old_logprobs(step, batch)
        with timer("ref_logprobs"):
            ref_logprobs = self.learner.reference_logprobs(prompts, responses)
        step_batch = batch.to_step_batch(old_logprobs, entropy, ref_logprobs)
        with timer("advantage"):
            kl = self.config.algorithm.kl
            if ref_logprobs is not None and kl.in_reward:
                step_batch = subtract_kl_from_reward(step_batch, kl.type, kl.coef)
            advantages = estimate(self.estimator, step_batch, **self.estimator_params)
        correction = self._rollout_correction(batch, old_logprobs, step_batch.response_mask)
        with timer("update"), self.stop.phase("update", step):
            update = self.learner.update(
                prompts,
                responses,
                advantages,
                old_logprobs,
                ref_logprobs,
                extra_loss_fn=self.epo,
                pg_weights=correction.weights if correction else None,
            )
        if self.epo:
            self.epo.observe(tdist.global_masked_mean(entropy, step_batch.response_mask))
        with timer("sync"):
            self._refresh_engine()
        metrics = {
            **rollout_metrics(batch),
            **(branch_metrics(batch) if self.config.rollout.branch_at_failure else {}),
            **train_metrics(update, advantages, step_batch),
            **mismatch_metrics(batch, old_logprobs, step_batch.response_mask),
            **guard,
            **(correction_metrics(correction, step_batch.response_mask) if correction else {}),
            **timer.metrics(),
        }
        every = self.config.logging.sample_table_every
        if self.logger and every and step % every == 0:
            self.logger.log_table(step, "samples", *sample_table(batch))
        return metrics

    def _rollout(self, step: int, tasks: list) -> Any:
        """The step's rollout; a signal during it discards it, and the run stops at the step before."""
        rng = _rng_state()
        seed = self.config.trainer.seed * 100_003 + step + self.rank * 10_000_019
        play_groups = self.runner.rollout
        if self.config.rollout.branch_at_failure:  # each group starts before its greedy probe's first failure
            play_groups = functools.partial(rollout_from_failures, self.runner)
        batch = self._generation_phase("rollout", step, play_groups, tasks, seed=seed)
        if any(tdist.all_gather_objects(batch is None)):
            self._stop(step - 1, rng)
        return batch

    def _generation_phase(self, phase: str, step: int, fn, *args, **kwargs):
        """A rollout or an evaluation: abandoned by a signal (None), or run to its end under tensor parallelism."""
        if self.generation_abortable:
            return self.stop.run_abortable(phase, step, fn, *args, **kwargs)
        with self.stop.phase(phase, step):
            return fn(*args, **kwargs)

    def _refresh_engine(self) -> None:
        """Wake the sleeping engine the colocated way (vLLM's weights first, then the learner's weights in, then
        its KV cache), so it never holds KV memory while the new weights stream in."""
        self.engine.wake_up([WEIGHTS])
        self.learner.sync_to(self.engine)
        self.engine.wake_up([KV_CACHE])

    def _rollout_correction(self, batch, old_logprobs, mask) -> RolloutCorrection | None:
        """``learner.rollout_correction``'s weights from the learner's old and the engine's sampling log-probs."""
        settings = self.config.learner.rollout_correction
        if settings.mode == "none":
            return None
        return rollout_correction(
            old_logprobs,
            batch.sampling_logprobs_tensor(old_logprobs.shape[1]),
            mask,
            settings.mode,
            cap=settings.cap,
            low=settings.low,
            high=settings.high,
        )

    def _tasks_for(self, step: int) -> list:
        """This rank's task ids for ``step``: a seeded draw, so a resumed run sees the same tasks."""
        rng = random.Random(f"{self.config.trainer.seed}-{step}")
        count = self.config.rollout.tasks_per_step
        tasks = (
            rng.sample(self.train_tasks, count)
            if count <= len(self.train_tasks)
            else [rng.choice(self.train_tasks) for _ in range(count)]
        )
        return tasks[self.rank :: self.world]

    # ----------------------------------------------------------------------------------- evaluation
    def evaluate(self, when: str) -> dict[str, Any] | None:
        """Held-out success, greedy (the headline) and sampled, overall and per task type; None when a signal
        stopped it on any rank."""
        episodes = self.config.trainer.eval_episodes
        ids = self.eval_tasks
        per_task = -(-episodes // len(ids))
        tasks = [ids[i % len(ids)] for i in range(-(-episodes // per_task))][self.rank :: self.world]
        results = {}
        modes = [True, False] if self.config.trainer.eval_sampled else [True]
        for greedy in modes:
            trajectories = self._generation_phase(
                "eval",
                self.state["step"],
                play,
                self.eval_runner,
                tasks,
                greedy=greedy,
                episodes_per_task=per_task,
                seed=self.config.trainer.seed + 7,
            )
            # only outcomes travel; a stop on any rank (None): every rank leaves here, after the one gather
            outcomes = None if trajectories is None else [EpisodeOutcome.of(t) for t in trajectories]
            every_rank = tdist.all_gather_objects(outcomes)
            if any(part is None for part in every_rank):
                return None
            merged = summarize_eval([outcome for part in every_rank for outcome in part])
            results["greedy" if greedy else "sampled"] = asdict(merged)
        metrics = {}
        for mode, result in results.items():
            metrics[f"eval/success_{mode}"] = result["success_rate"]
            metrics.update({f"eval/{mode}_{kind}": rate for kind, rate in result["per_task_type"].items()})
        if self.rank == 0:
            greedy = results["greedy"]
            log.info(
                "eval %s RL: greedy success %.3f over %d episodes%s",
                when,
                greedy["success_rate"],
                greedy["episodes"],
                f", sampled {results['sampled']['success_rate']:.3f}" if "sampled" in results else "",
            )
        return {"results": results, "metrics": metrics}

    # ------------------------------------------------------------------------------------ checkpoints
    def _save(self, step: int, rng: dict[str, Any] | None = None) -> Path:
        """Checkpoint ``step`` with the RNG states ``rng`` (default: now) and the log files' record counts."""
        self.state["wall_time_s"] = self._prior_wall_time + time.perf_counter() - self._started
        state = {
            **self.state,
            "rng": rng or _rng_state(),
            "epo": self.epo.state_dict() if self.epo else None,
            "records": dict(self.logger.records) if self.logger else None,
        }
        path = self.checkpoints.save(step, self.learner, state)
        self._saved = (step, path)
        return path

    def _agreed_signal(self) -> str | None:
        """The signal any rank received (collective: every rank stops, or none)."""
        return next((name for name in tdist.all_gather_objects(self.stop.received) if name), None)

    def _stop_if_requested(self) -> None:
        if self._agreed_signal() is not None:
            self._stop(self.state["step"])

    def _stop(self, step: int, rng: dict[str, Any] | None = None) -> None:
        """Checkpoint ``step`` (unless this process just wrote it) and raise ``Stopped``. ``rng``: the RNG states
        at the point the resumed run continues from (a discarded phase may have drawn from them)."""
        name = self._agreed_signal()
        assert name is not None, "a phase was abandoned without a signal"
        if (
            rng is None
            and self._saved is not None
            and self._saved[0] == step
            and self.state["pending"] is None
        ):
            path = self._saved[1]
        else:
            path = self._save(step, rng)
        raise Stopped(name, step, str(path))

    def _evaluate_or_stop(self, when: str) -> dict[str, Any]:
        rng = _rng_state()
        result = self.evaluate(when)
        if result is None:
            self._stop(self.state["step"], rng)
        return result

    def _maybe_resume(self) -> None:
        resume = self.config.trainer.resume
        if resume == "never":
            return
        path = self.checkpoints.latest() if resume == "auto" else Path(resume)
        if path is None:
            return
        state = self.checkpoints.load(path, self.learner)
        rng = state.pop("rng")
        epo_state = state.pop("epo", None)
        if self.epo and epo_state:
            self.epo.load_state_dict(epo_state)
        records = state.pop("records", None)
        if self.logger and records is not None:
            self.logger.rewind(records)
        self.state.update(state)
        self.state["resumes"] = [
            *self.state["resumes"],
            {"checkpoint": str(path), "step": self.state["step"]},
        ]
        self.learner.sync_to(self.engine)
        _set_rng_state(rng)
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
            **_headline(before["greedy"], after_results["greedy"], ""),
            "eval_episodes": after_results["greedy"]["episodes"],
            "wall_time_s": round(wall_time_s, 1),
            "before": before,
            "after": after_results,
        }
        if "sampled" in after_results:
            summary.update(_headline(before["sampled"], after_results["sampled"], "_sampled"))
        if self.state["resumes"]:
            summary["resumed_from"] = self.state["resumes"][-1]["checkpoint"]
            summary["steps_before_resume"] = self.state["resumes"][-1]["step"]
        return summary

    def close(self) -> None:
        self.engine.close()
        self.pool.close()
        self.eval_pool.close()
        if self.logger:
            self.logger.close()


def _headline(before: dict[str, Any], after: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Success before and after RL with their 95% intervals, and the gain with its paired interval (the two
    evaluations play the same tasks with the same seeds; a checkpoint from before outcomes were recorded has
    none, and then no paired interval)."""
    out: dict[str, Any] = {}
    for when, result in (("before", before), ("after", after)):
        n = result["episodes"]
        out[f"success_{when}_rl{suffix}"] = result["success_rate"]
        out[f"success_{when}_rl{suffix}_ci95"] = list(wilson_interval(round(result["success_rate"] * n), n))
    out[f"gain{suffix}"] = after["success_rate"] - before["success_rate"]
    paired = before.get("outcomes"), after.get("outcomes")
    if paired[0] and paired[1] and len(paired[0]) == len(paired[1]):
        _, low, high = paired_gain(*paired)
        out[f"gain{suffix}_ci95"] = [low, high]
    return out


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
