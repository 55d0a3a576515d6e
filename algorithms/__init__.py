"""Advantage estimators (GRPO, GiGPO, EPO, AEM) and PPO losses for turnrl.

Pure tensor code: this package never imports envs, rollout, trainer, deepspeed or vllm.

    from algorithms import StepBatch, estimate
    advantages = estimate("gigpo", batch, gamma=0.95, norm="mean")
"""

from algorithms import gigpo as _gigpo  # noqa: F401  (registers "gigpo")
from algorithms import grpo as _grpo  # noqa: F401  (registers "grpo")
from algorithms.batch import StepBatch
from algorithms.registry import (
    ESTIMATORS,
    available_estimators,
    estimate,
    estimator_params,
    register_estimator,
)

__all__ = [
    "ESTIMATORS",
    "StepBatch",
    "available_estimators",
    "estimate",
    "estimator_params",
    "register_estimator",
]
