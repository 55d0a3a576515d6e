"""Rollout: engines (HF on CPU, vLLM colocated on GPU), prompts and memory, action parsing, episode runner.

Importing this package never imports vllm (``VLLMEngine`` imports it when constructed), and imports nothing
heavy until one of its public names is first used, so the torch-free config schema can read
``rollout.choices``.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Choice": "rollout.policy",
    "Completion": "rollout.engine",
    "Engine": "rollout.engine",
    "EpisodeMemory": "rollout.prompts",
    "EpisodeOutcome": "rollout.runner",
    "EnginePolicy": "rollout.policy",
    "EpisodeRunner": "rollout.runner",
    "EvalResult": "rollout.runner",
    "HFEngine": "rollout.hf_engine",
    "LiveEpisode": "rollout.policy",
    "ParsedAction": "rollout.parse",
    "Policy": "rollout.policy",
    "Prompt": "rollout.prompts",
    "PromptBuilder": "rollout.prompts",
    "PromptConfig": "rollout.prompts",
    "RolloutBatch": "rollout.trajectory",
    "RunnerConfig": "rollout.runner",
    "SamplingParams": "rollout.engine",
    "Trajectory": "rollout.trajectory",
    "Turn": "rollout.trajectory",
    "VLLMEngine": "rollout.vllm_engine",
    "create_engine": "rollout.engine",
    "evaluate": "rollout.runner",
    "parse_action": "rollout.parse",
    "parse_tool_call": "rollout.parse",
    "play": "rollout.runner",
    "resolve_engine_kind": "rollout.engine",
    "summarize_eval": "rollout.runner",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'rollout' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
