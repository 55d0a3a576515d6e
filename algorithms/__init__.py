"""Advantage estimators (GRPO, GiGPO, EPO, AEM) and PPO losses for turnrl.

Pure tensor code: this package never imports envs, rollout, trainer, deepspeed or vllm.

    from algorithms import StepBatch, estimate
    advantages = estimate("gigpo", batch, gamma=0.95, norm="mean")

The public names below load on first use, and with them every built-in estimator (each module registers
itself on import). Until then importing the package costs nothing, so the torch-free config schema can read
``algorithms.choices``.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "ESTIMATORS": "algorithms.registry",
    "EPOState": "algorithms.epo",
    "EPORegularizer": "algorithms.epo",
    "StepBatch": "algorithms.batch",
    "available_estimators": "algorithms.registry",
    "epo_entropy_loss": "algorithms.epo",
    "estimate": "algorithms.registry",
    "estimator_params": "algorithms.registry",
    "register_estimator": "algorithms.registry",
}
_BUILTIN_ESTIMATORS = ("algorithms.grpo", "algorithms.gigpo", "algorithms.epo", "algorithms.aem")

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'algorithms' has no attribute {name!r}")
    for module in _BUILTIN_ESTIMATORS:
        importlib.import_module(module)
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
