"""Rollout: engines (HF on CPU, vLLM colocated on GPU), prompts and memory, action parsing, episode runner.

Importing this package never imports vllm; ``VLLMEngine`` imports it when constructed.
"""

from rollout.engine import Completion, Engine, SamplingParams, create_engine, resolve_engine_kind
from rollout.hf_engine import HFEngine
from rollout.parse import ParsedAction, parse_action, parse_tool_call
from rollout.policy import Choice, EnginePolicy, LiveEpisode, Policy
from rollout.prompts import EpisodeMemory, Prompt, PromptBuilder, PromptConfig
from rollout.runner import EpisodeRunner, EvalResult, RunnerConfig, evaluate, play, summarize_eval
from rollout.trajectory import RolloutBatch, Trajectory, Turn
from rollout.vllm_engine import VLLMEngine

__all__ = [
    "Choice",
    "Completion",
    "Engine",
    "EnginePolicy",
    "EpisodeMemory",
    "EpisodeRunner",
    "EvalResult",
    "HFEngine",
    "LiveEpisode",
    "ParsedAction",
    "Policy",
    "Prompt",
    "PromptBuilder",
    "PromptConfig",
    "RolloutBatch",
    "RunnerConfig",
    "SamplingParams",
    "Trajectory",
    "Turn",
    "VLLMEngine",
    "create_engine",
    "evaluate",
    "parse_action",
    "parse_tool_call",
    "play",
    "resolve_engine_kind",
    "summarize_eval",
]
