"""Build a run's parts from the validated config: env pool, runner, engine, learner and estimator.

The env, the runner and the estimator take plain arguments and know nothing of the config schema; the
learner takes its own ``learner`` section. This module is the one place where a part gets values from other
sections, so a renamed config field breaks here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from algorithms.epo import EPORegularizer, EPOState
from envs import get_spec
from envs.pool import EnvPool
from rollout import PromptConfig, RunnerConfig, SamplingParams, resolve_engine_kind
from trainer import dist as tdist
from trainer.config import Config
from trainer.learner import LearnerSetup
from trainer.memory_plan import GIB, plan, plan_inputs, rollout_kv_cache_bytes
from trainer.old_logprobs import OldLogprobs
from trainer.policy_guard import BF16_MAX_GAP, FP32_MAX_GAP, PolicyGuard


def env_spec(config: Config):
    """The registered ``EnvSpec`` of ``env.name``."""
    return get_spec(config.env.name)


def max_turns(config: Config) -> int:
    return config.rollout.max_turns or env_spec(config).max_turns


def env_kwargs(config: Config, split: str, with_expert: bool = False) -> dict[str, Any]:
    """Constructor arguments of the env for one split, from its config section (``with_expert``: the warm start
    plays the expert)."""
    spec = env_spec(config)
    return spec.make_kwargs(getattr(config.env, spec.name), split, max_turns(config), with_expert)


def splits(config: Config) -> tuple[str, str]:
    spec = env_spec(config)
    return config.env.train_split or spec.train_split, config.env.eval_split or spec.eval_split


def estimator_call(config: Config) -> tuple[str, dict[str, Any]]:
    """``algorithms.estimate`` name and keyword arguments for this config."""
    algo = config.algorithm
    name = algo.base if algo.name in ("epo", "aem") else algo.name
    params: dict[str, Any] = {
        "invalid_penalty": algo.invalid_penalty,
        "per_trajectory_stats": algo.per_trajectory_stats,
        "invalid_penalty_only": algo.invalid_penalty_only,
    }
    if algo.norm is not None:
        params["norm"] = algo.norm
    if name == "gigpo":
        params.update(
            gamma=algo.gamma, step_weight=algo.step_weight, similarity_threshold=algo.similarity_threshold
        )
    if algo.name == "epo":
        return "epo", {"base": algo.base, **params}
    if algo.name == "aem":
        aem = algo.aem
        alpha_max = math.inf if aem.alpha_max is None else aem.alpha_max
        return "aem", {
            "base": algo.base,
            "lam": aem.lam,
            "uncertainty": aem.uncertainty,
            "alpha_min": aem.alpha_min,
            "alpha_max": alpha_max,
            **params,
        }
    return name, params


def learner_setup(config: Config, model_path: str, total_steps: int):
    """``LearnerSetup``: the ``learner`` section as it is, plus what the learner reads from other sections."""
    learner = config.learner
    greedy = config.rollout.temperature == 0
    return LearnerSetup(
        learner=learner,
        model_path=model_path,
        dtype=config.model.dtype,
        kl=config.algorithm.kl,
        # a greedy rollout's tokens are scored at temperature 1 on the full distribution
        temperature=config.rollout.temperature if not greedy else 1.0,
        top_p=config.rollout.top_p if not greedy else 1.0,
        top_k=config.rollout.top_k if not greedy else -1,
        seed=config.trainer.seed,
        total_optimizer_steps=max(1, total_steps * learner.ppo_epochs * learner.mini_batches),
    )


def prompt_budget(config: Config) -> int:
    """Prompt tokens left once the longest response fits in the model's context."""
    return max(64, config.model.max_context_tokens - config.rollout.max_new_tokens)


def env_pool(config: Config, split: str, num_envs: int, with_expert: bool = False):
    """An ``EnvPool`` of ``num_envs`` slots of the configured env on ``split``."""
    spec = env_spec(config)
    kwargs = env_kwargs(config, split, with_expert)
    if spec.prepare_kwargs is not None:
        kwargs = spec.prepare_kwargs(kwargs)
    return EnvPool(
        spec.gym_id,
        kwargs,
        num_envs=num_envs,
        num_workers=config.env.num_workers,
        step_timeout_s=config.env.step_timeout_s,
        entry_point=spec.entry_point,
    )


def runner_config(config: Config):
    """``RunnerConfig`` for training rollouts (evaluation overrides the sampling)."""
    rollout = config.rollout
    return RunnerConfig(
        group_size=rollout.group_size,
        max_turns=max_turns(config),
        sampling=SamplingParams(
            temperature=rollout.temperature,
            top_p=rollout.top_p,
            top_k=rollout.top_k,
            max_new_tokens=rollout.max_new_tokens,
            stop=tuple(rollout.stop),
            seed=config.trainer.seed,
        ),
        prompt=PromptConfig(
            intro=env_spec(config).intro(),
            tool_calls=env_spec(config).tool_calls,
            action_format=rollout.action_format,
            history_window=rollout.history_window,
            full_history=rollout.full_history,
            max_prompt_tokens=prompt_budget(config),
            instructions=rollout.instructions,
            restate_after_rejection=rollout.restate_after_rejection
            and env_spec(config).rejection_is_feedback,
        ),
        invalid_penalty=config.algorithm.invalid_penalty,
        invalid_turn=rollout.invalid_turn,
        max_action_chars=rollout.max_action_chars,
        progress=config.logging.progress,
    )


def eval_runner_config(config: Config):
    """``runner_config`` with the sampled evaluation's temperature (``trainer.eval_temperature``, if set)."""
    base = runner_config(config)
    if config.trainer.eval_temperature is None:
        return base
    return replace(base, sampling=replace(base.sampling, temperature=config.trainer.eval_temperature))


def engine_kwargs(
    config: Config,
    policy_logprobs: bool = False,
    peer_exchange: Any = None,
    trainable_params: int | None = None,
) -> dict[str, Any]:
    """Constructor arguments of the rollout engine (vLLM ones only when vLLM runs); ``policy_logprobs``: the
    engine reports the learner's old log-probs (``reuse_rollout_logprobs``); ``peer_exchange``: the rank's
    tensor-parallel group (``trainer.dist.PeerGroup``); ``trainable_params``: what the learner's optimizer
    updates (empty: every parameter), for the memory plan."""
    kind = resolve_engine_kind(config.rollout.engine)
    dtype = "bfloat16" if _bf16(config) else "float32"
    lora = config.learner.lora
    serves_adapters = lora.enabled and lora.sync == "adapter"
    if kind != "vllm":
        if serves_adapters:
            raise ValueError(
                f"learner.lora.sync=adapter needs the vllm engine (rollout.engine resolves to {kind}); "
                "set learner.lora.sync=merged"
            )
        return {
            "device": "cuda" if _cuda() else "cpu",
            "dtype": dtype,
            "score_sampled_distribution": config.learner.score_sampled_distribution,
        }
    vllm = config.rollout.vllm
    rank, world_size = tdist.rank_and_world()
    return {
        "seed": config.trainer.seed,
        "dtype": dtype,
        **engine_memory_kwargs(config, trainable_params),
        "enable_sleep_mode": vllm.enable_sleep_mode,
        "enforce_eager": vllm.enforce_eager,
        "max_num_seqs": vllm.max_num_seqs,
        "tensor_parallel_size": vllm.tensor_parallel_size,
        "sync_chunk_mib": vllm.sync_chunk_mib,
        "max_model_len": config.model.max_context_tokens,
        "policy_logprobs": policy_logprobs,
        "score_sampled_distribution": config.learner.score_sampled_distribution,
        "rank": rank,
        "world_size": world_size,
        "peer_exchange": peer_exchange,
        "max_lora_rank": lora.rank if serves_adapters else 0,
        "llm_kwargs": dict(vllm.engine_kwargs),
    }


def engine_memory_kwargs(
    config: Config, trainable_params: int | None = None, gpu_total_bytes: int | None = None
) -> dict[str, Any]:
    """The vLLM engine's memory, from the memory plan (``trainer.memory_plan``) for this world of ranks.

    GPU: ``gpu_memory_utilization`` when the config sets it, else the plan's engine share and what the learner
    still adds while the engine is awake (the engine caps its share by the memory free when it starts).
    CPU: the KV cache the rollout needs. ``gpu_total_bytes``: one GPU's memory (default: CUDA's answer)."""
    vllm = config.rollout.vllm
    _, ranks = tdist.rank_and_world()
    bf16 = _bf16(config)
    if gpu_total_bytes is None and not _cuda():
        if vllm.cpu_kvcache_space_gib is not None:
            return {"cpu_kv_cache_bytes": int(vllm.cpu_kvcache_space_gib * GIB)}
        return {"cpu_kv_cache_bytes": rollout_kv_cache_bytes(config, ranks, 2 if bf16 else 4)}
    if vllm.gpu_memory_utilization is not None:
        return {"gpu_memory_utilization": vllm.gpu_memory_utilization}
    if gpu_total_bytes is None:
        gpu_total_bytes = torch.cuda.mem_get_info()[1]
    memory_plan = plan(
        plan_inputs(config, ranks, gpu_total_bytes, bf16=bf16, trainable_params=trainable_params)
    )
    return {
        "engine_budget_bytes": memory_plan.engine_bytes,
        "learner_growth_bytes": memory_plan.learner_lazy_bytes,
    }


def reuse_rollout_logprobs(config: Config) -> bool:
    """Whether the PPO old log-probs come from the engine (``learner.old_logprobs``, resolved).

    Exact only where the engine computes the learner's numbers: float32 (bf16 kernels differ), and for vLLM
    an estimator that needs no old entropies (vLLM reports none; EPO and AEM read them) and temperature 1 (its
    raw log-probs are before temperature) unless the learner scores the sampled distribution (its processed
    log-probs are then the learner's at any temperature).
    """
    kind = resolve_engine_kind(config.rollout.engine)
    reasons = []
    if _bf16(config):
        reasons.append("the run is in bfloat16")
    if kind == "vllm":
        if config.rollout.temperature != 1.0 and not config.learner.score_sampled_distribution:
            reasons.append(
                f"vLLM reports log-probs at temperature 1 only (rollout.temperature={config.rollout.temperature})"
            )
        if config.algorithm.name in ("epo", "aem"):
            reasons.append(f"{config.algorithm.name} needs entropies, which vLLM does not report")
    mode = config.learner.old_logprobs
    if mode == "rollout" and reasons:
        raise ValueError(
            f"learner.old_logprobs=rollout cannot be exact here: {'; '.join(reasons)}. Set "
            "learner.old_logprobs to recompute or auto"
        )
    return mode == "rollout" or (mode == "auto" and not reasons)


def old_logprobs_source(config: Config, learner) -> OldLogprobs:
    """Where a step's PPO old log-probs come from (``reuse_rollout_logprobs``), with the policy guard that checks
    them against the engine's (bound: ``max_policy_gap``). ``top_p`` / ``top_k`` are the truncation the engine's
    sampling log-probs carry beyond the learner's: none when the learner scores the sampled distribution."""
    sampled = config.learner.score_sampled_distribution
    return OldLogprobs(
        learner,
        PolicyGuard(max_policy_gap(config)),
        from_engine=reuse_rollout_logprobs(config),
        top_p=1.0 if sampled else config.rollout.top_p,
        top_k=-1 if sampled else config.rollout.top_k,
        seed=config.trainer.seed,
    )


def max_policy_gap(config: Config) -> float:
    """``trainer.max_policy_gap``, or its default for the run's dtype (the field's doc says why)."""
    if config.trainer.max_policy_gap is not None:
        return config.trainer.max_policy_gap
    return BF16_MAX_GAP if _bf16(config) else FP32_MAX_GAP


def _cuda() -> bool:
    return torch.cuda.is_available()


def _bf16(config: Config) -> bool:
    return config.model.dtype == "bfloat16" or (config.model.dtype == "auto" and _cuda())


def epo_regularizer(config: Config):
    """EPO's regulariser for an ``algorithm.name: epo`` run (its schedule spans ``trainer.total_steps``), else None."""
    if config.algorithm.name != "epo":
        return None
    epo = config.algorithm.epo
    return EPORegularizer(
        state=EPOState(total_steps=max(1, config.trainer.total_steps)),
        coef=epo.coef,
        alpha=epo.alpha,
        kappa_low=epo.kappa_low,
        kappa_high=epo.kappa_high,
        decay=epo.decay,
        smoothing=epo.smoothing,
        agg_mode=config.learner.loss_agg_mode,
    )
