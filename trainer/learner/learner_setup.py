"""What a Learner is built from: its config section, plus the few values that live in other sections.

The ``learner`` section is the schema's own ``LearnerConfig`` (trainer/config.py), so each learner setting has
one definition and one default. The values read from other sections (model, KL, rollout temperature and
nucleus, seed, schedule length) are fields without defaults: whoever builds a learner passes them explicitly
(``trainer.build.learner_setup`` from a whole config; tests and benchmarks their own values).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trainer.config import KLConfig, LearnerConfig


class LearnerSetup(BaseModel):
    """A learner's ``learner`` section and the values it reads from elsewhere; immutable once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learner: LearnerConfig
    """The ``learner`` section."""
    model_path: str = Field(min_length=1)
    """Local Hugging Face folder of the policy (the reference, when KL is on, starts as a frozen copy)."""
    dtype: Literal["auto", "float32", "bfloat16"]
    """``model.dtype``: ``auto`` is bf16 on GPU and fp32 on CPU (CPU bf16 is slow and imprecise)."""
    kl: KLConfig
    """``algorithm.kl``: a coefficient of 0 skips the reference model."""
    temperature: float = Field(gt=0)
    """The rollout's sampling temperature: logits are divided by it before log-probs and entropies (a greedy
    rollout, temperature 0, scores at 1)."""
    top_p: float = Field(gt=0, le=1)
    """The rollout's nucleus mass (a greedy rollout: 1.0); the learner scores within it only with
    ``learner.score_sampled_distribution``."""
    top_k: int = Field(ge=-1)
    """The rollout's top-k, -1 off (a greedy rollout: -1); used like ``top_p``."""
    seed: int
    """``trainer.seed``: seeds the mini-batch shuffling."""
    total_optimizer_steps: int = Field(ge=1)
    """Length of the learning-rate schedule: RL steps x ``ppo_epochs`` x ``mini_batches``."""

    @property
    def uses_reference(self) -> bool:
        return self.kl.coef > 0

    @property
    def kl_in_loss(self) -> bool:
        return self.kl.coef > 0 and not self.kl.in_reward

    @property
    def scored_top_p(self) -> float:
        """The top-p every learner log-prob and entropy is computed within: the rollout's with
        ``learner.score_sampled_distribution``, else 1.0 (the full distribution)."""
        return self.top_p if self.learner.score_sampled_distribution else 1.0

    @property
    def scored_top_k(self) -> int:
        """The top-k likewise: the rollout's with ``learner.score_sampled_distribution``, else -1."""
        return self.top_k if self.learner.score_sampled_distribution else -1

    @property
    def packed_layout(self) -> bool:
        """Sequences end to end in one row (``micro_batch_layout``; ``auto``: with a flash attention kernel)."""
        if self.learner.micro_batch_layout == "auto":
            return "flash" in (self.learner.attn_implementation or "")
        return self.learner.micro_batch_layout == "packed"

    @property
    def score_token_budget(self) -> int:
        return self.learner.score_max_tokens_per_micro_batch or 2 * self.learner.max_tokens_per_micro_batch
