"""Everything the learner needs to know, as one plain dataclass.

The trainer's pydantic config maps onto this (``LearnerSettings(**fields)``), which keeps the learner free of
the config schema and easy to build in tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LOSS_AGG_MODES = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")
KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3")


@dataclass
class LearnerSettings:
    """Learner configuration; every field is documented where it is defined."""

    model_path: str = ""
    """Local Hugging Face folder of the policy (and the reference, which starts as a frozen copy)."""
    tokenizer_path: str | None = None
    """Folder of the tokenizer written into exported checkpoints; empty: ``model_path``."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    """ZeRO stage: 0 plain data parallel, 1 shards optimizer states, 2 also gradients, 3 also parameters."""
    offload_optimizer: bool = False
    """Optimizer states in CPU memory (DeepSpeedCPUAdam; its C++ op is JIT-built once, ~2 min)."""
    offload_params: bool = False
    """Parameters in CPU memory between uses (ZeRO-3 only)."""
    dtype: Literal["auto", "bf16", "fp32"] = "auto"
    """Compute dtype: ``auto`` is bf16 on GPU and fp32 on CPU (CPU bf16 is slow and imprecise)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward to fit longer sequences."""
    attn_implementation: str | None = None
    """Passed to ``from_pretrained`` (e.g. ``flash_attention_2`` on GPU); empty: the transformers default (sdpa)."""

    lr: float = 1e-6
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    adam_eps: float = 1e-8
    """AdamW epsilon."""
    warmup_steps: int = 0
    """Linear warm-up from 0 to ``lr`` over this many optimizer steps."""
    lr_schedule: Literal["constant", "cosine"] = "constant"
    """Shape after warm-up; cosine decays to ``min_lr_ratio * lr`` at ``total_optimizer_steps``."""
    min_lr_ratio: float = 0.0
    """Floor of the cosine schedule as a fraction of ``lr``."""
    total_optimizer_steps: int = 0
    """Length of the cosine schedule in optimizer steps (RL steps x ppo_epochs x mini_batches); needed for cosine."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0 disables)."""

    ppo_epochs: int = 1
    """Passes over each rollout batch per ``update`` call."""
    mini_batches: int = 1
    """Optimizer steps per epoch: the rows of each rank are split into this many mini-batches."""
    shuffle_mini_batches: bool = True
    """Shuffle rows (seeded) before splitting them into mini-batches."""
    max_tokens_per_micro_batch: int = 8192
    """Sequences (prompt + response) are packed into one forward of at most this many tokens (a longer
    sequence runs alone); gradient accumulation covers the rest of the mini-batch."""
    micro_batch_layout: Literal["auto", "packed", "padded"] = "auto"
    """``packed`` (sequences end to end in one row) needs a varlen attention kernel; ``padded`` (left-padded
    [B, L]) suits every other attention. ``auto``: packed with a flash-attention implementation, else padded."""
    score_max_tokens_per_micro_batch: int | None = None
    """Token budget of the no-grad scoring passes (they fit more); empty: 2x ``max_tokens_per_micro_batch``."""

    clip_ratio_low: float = 0.2
    """PPO clip range below 1."""
    clip_ratio_high: float = 0.28
    """PPO clip range above 1 (clip-higher)."""
    clip_ratio_c: float = 3.0
    """Dual-clip bound for negative advantages (> 1)."""
    loss_agg_mode: str = "token-mean"
    """How token losses are averaged over the whole mini-batch (see algorithms.losses.agg_loss)."""
    entropy_coeff: float = 0.0
    """Entropy bonus weight: loss -= entropy_coeff * agg(entropy)."""
    kl_coef: float = 0.0
    """KL-to-reference weight; 0 skips the reference model entirely."""
    kl_type: str = "low_var_kl"
    """KL estimator (algorithms.losses.kl_penalty kinds)."""
    kl_in_reward: bool = False
    """The trainer puts the KL into the rewards (``Learner.in_reward_kl``) instead of the loss."""
    temperature: float = 1.0
    """Sampling temperature of the rollout; logits are divided by it before log-probs and entropies."""

    reference_offload: bool = False
    """Keep the reference model in CPU memory and move it to the GPU only while it scores (stages 0-2);
    under ZeRO-3 it becomes ZeRO-3 parameter offload of the reference engine."""
    logits_chunk_size: int = 1024
    """Rows of [tokens, vocab] logits turned into log-probs / entropies at once (memory bound for big vocabularies)."""
    seed: int = 0
    """Seeds the mini-batch shuffling."""
    extra_ds_config: dict = field(default_factory=dict)
    """Merged last into the generated DeepSpeed config (expert escape hatch)."""

    def __post_init__(self) -> None:
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage!r}")
        if self.offload_params and self.zero_stage != 3:
            raise ValueError("offload_params needs zero_stage 3 (only ZeRO-3 partitions parameters)")
        if self.offload_optimizer and self.zero_stage == 0:
            raise ValueError("offload_optimizer needs zero_stage >= 1")
        if self.loss_agg_mode not in LOSS_AGG_MODES:
            raise ValueError(f"loss_agg_mode {self.loss_agg_mode!r} is not one of {LOSS_AGG_MODES}")
        if self.kl_type not in KL_TYPES:
            raise ValueError(f"kl_type {self.kl_type!r} is not one of {KL_TYPES}")
        if self.micro_batch_layout not in ("auto", "packed", "padded"):
            raise ValueError(f"micro_batch_layout must be auto, packed or padded, got {self.micro_batch_layout!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.lr_schedule == "cosine" and self.total_optimizer_steps <= 0:
            raise ValueError("lr_schedule 'cosine' needs total_optimizer_steps > 0")
        for name in ("ppo_epochs", "mini_batches", "max_tokens_per_micro_batch", "logits_chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_ratio_c <= 1.0:
            raise ValueError(f"clip_ratio_c must be > 1, got {self.clip_ratio_c}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {self.kl_coef}")

    @property
    def uses_reference(self) -> bool:
        return self.kl_coef > 0

    @property
    def kl_in_loss(self) -> bool:
        return self.kl_coef > 0 and not self.kl_in_reward

    @property
    def packed_layout(self) -> bool:
        if self.micro_batch_layout == "auto":
            return "flash" in (self.attn_implementation or "")
        return self.micro_batch_layout == "packed"

    @property
    def score_token_budget(self) -> int:
        return self.score_max_tokens_per_micro_batch or 2 * self.max_tokens_per_micro_batch
