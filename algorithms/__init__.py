"""Advantage estimators (GRPO, GiGPO, EPO, AEM) and PPO losses for turnrl.

Pure tensor code: this package never imports envs, rollout, trainer, deepspeed or vllm.

    from algorithms import StepBatch, estimate
    advantages = estimate("gigpo", batch, gamma=0.95, norm="mean")

Importing the package registers every estimator (each module registers itself on import).
"""

from algorithms import aem, epo, gigpo, grpo  # noqa: F401  (register the estimators)
from algorithms.batch import StepBatch
from algorithms.epo import EPOState, epo_entropy_loss
from algorithms.registry import (
    ESTIMATORS,
    available_estimators,
    estimate,
    estimator_params,
    register_estimator,
)

__all__ = [
    "ESTIMATORS",
    "EPOState",
    "StepBatch",
    "available_estimators",
    "epo_entropy_loss",
    "estimate",
    "estimator_params",
    "register_estimator",
]
