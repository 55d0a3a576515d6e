"""DeepSpeed setup: the config dict, model loading under ZeRO-3, the policy's DeepSpeed engine and the reference model.

(The learner's engine is DeepSpeed's ``DeepSpeedEngine``, called ``ds_engine`` throughout; "engine" alone means
the rollout engine of ``rollout/``.)

Choices that matter on a CPU machine (measured with DeepSpeed 0.19.8, torch 2.13):
- the optimizer is a client ``torch.optim.AdamW`` (``zero_allow_untested_optimizer``), because letting DeepSpeed
  pick FusedAdam/CPUAdam JIT-compiles a C++ op for ~2 minutes; only optimizer offload needs DeepSpeedCPUAdam;
- ZeRO-3 models are built under ``HfDeepSpeedConfig`` (transformers' own ``zero.Init``), never inside a manual
  ``zero.Init``; the global HF config is unset right after loading so later rank-0-only loads do not deadlock;
- ``torch._dynamo`` is imported before DeepSpeed patches ``Tensor.__new__``;
- ZeRO-3 runs without ``memory_efficient_linear``, which would replace ``torch.nn.functional.linear``
  process-wide (the vLLM engine in the same process included) and never restore it.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch._dynamo  # noqa: F401  (must precede deepspeed's zero.Init patching, see module docstring)

from trainer.config import LearnerConfig
from trainer.learner.learner_setup import LearnerSetup
from trainer.learner.lora import wrap_with_lora

log = logging.getLogger("turnrl")


def resolve_dtype(setup: LearnerSetup) -> torch.dtype:
    if setup.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[setup.dtype]


def _deep_merge(base: dict, extra: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def effective_zero_stage(requested: int, world_size: int, dtype: torch.dtype, offload_optimizer: bool) -> int:
    """The ZeRO stage actually run: ``requested`` unless it only costs here.

    - bf16 under stage 0 would accumulate gradients in bf16 (DeepSpeed allows fp32 accumulation only with
      ZeRO), so it runs stage 1 (BF16_Optimizer: fp32 master weights and gradients);
    - on one rank stage 2 partitions gradients among nobody and still pays its bucketed reduce-scatter, so it
      runs stage 1 (unless the optimizer is offloaded, which needs ZeRO-2's CPU path).
    """
    if requested == 0 and dtype == torch.bfloat16:
        return 1
    if requested == 2 and world_size == 1 and not offload_optimizer:
        return 1
    return requested


def build_ds_config(
    learner: LearnerConfig, dtype: torch.dtype, *, for_reference: bool = False, on_gpu: bool | None = None
) -> dict[str, Any]:
    """The DeepSpeed config of the policy engine (or, ``for_reference``, of a frozen ZeRO-3 inference engine).

    Micro-batch size 1 and accumulation 1 are placeholders: micro-batches are token-packed and their number
    varies, so the learner marks accumulation boundaries itself and scales each micro-batch's loss.
    ``on_gpu`` (default: whether CUDA is present) lets tests build the GPU config on a CPU machine.
    """
    on_gpu = torch.cuda.is_available() if on_gpu is None else on_gpu
    zero: dict[str, Any] = {"stage": 3 if for_reference else learner.zero_stage}
    if zero["stage"] >= 1:
        # GPU: ZeRO-2/3 overlap the gradient reduce with the backward on a side CUDA stream. The CPU accelerator
        # has no streams to overlap on.
        zero.update({"contiguous_gradients": True, "overlap_comm": on_gpu and zero["stage"] >= 2})
    if zero["stage"] == 3:
        # memory_efficient_linear (DeepSpeed's default) makes zero.Init replace torch.nn.functional.linear for
        # the whole process and never put it back, so the colocated vLLM engine's GEMMs would run through
        # DeepSpeed's autograd wrapper too; ZeRO-3 gathers and releases parameters with its module hooks either way.
        zero.update({"stage3_gather_16bit_weights_on_model_save": False, "memory_efficient_linear": False})
        offload = learner.reference_offload if for_reference else learner.offload_params
        if offload:
            zero["offload_param"] = {"device": "cpu", "pin_memory": on_gpu}
    if learner.offload_optimizer and not for_reference:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu}
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
        "zero_optimization": zero,
        "bf16": {"enabled": dtype == torch.bfloat16},
        "fp16": {"enabled": False},
        # bf16 gradients summed over many micro-batches lose the small ones: accumulate in fp32 (ZeRO >= 1)
        **(
            {"data_types": {"grad_accum_dtype": "fp32"}}
            if dtype == torch.bfloat16 and zero["stage"] >= 1
            else {}
        ),
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if not for_reference:
        config["gradient_clipping"] = learner.grad_clip
        config["zero_allow_untested_optimizer"] = True
        if learner.offload_optimizer:
            config["optimizer"] = {
                "type": "AdamW",
                "params": {
                    "lr": learner.lr,
                    "betas": list(learner.betas),
                    "eps": learner.adam_eps,
                    "weight_decay": learner.weight_decay,
                },
            }
    return _deep_merge(config, learner.extra_ds_config)


def lr_multiplier(step: int, learner: LearnerConfig, total_optimizer_steps: int) -> float:
    """Learning-rate factor after ``step`` optimizer steps: linear warm-up, then constant or cosine (reaching its
    floor at ``total_optimizer_steps``)."""
    if learner.warmup_steps > 0 and step < learner.warmup_steps:
        return (step + 1) / learner.warmup_steps
    if learner.lr_schedule == "constant":
        return 1.0
    span = max(1, total_optimizer_steps - learner.warmup_steps)
    progress = min(1.0, (step - learner.warmup_steps) / span)
    floor = learner.min_lr_ratio
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def load_model(
    path: str, dtype: torch.dtype, attn_implementation: str | None, zero3_config: dict | None
) -> torch.nn.Module:
    """``from_pretrained`` from a local folder; under ZeRO-3 the weights are partitioned while loading."""
    from transformers import AutoModelForCausalLM
    from transformers.integrations import HfDeepSpeedConfig
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    hf_ds_config = HfDeepSpeedConfig(zero3_config) if zero3_config is not None else None
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as err:
        raise OSError(
            f"cannot load a model from {path!r} (a local Hugging Face folder is required): {err}"
        ) from err
    finally:
        if hf_ds_config is not None:
            unset_hf_deepspeed_config()
    return model


@dataclass
class DeepSpeedPolicy:
    """The DeepSpeed engine around the policy plus the facts the learner needs about the model."""

    ds_engine: Any
    dtype: torch.dtype
    device: torch.device
    zero_stage: int


def init_policy(setup: LearnerSetup) -> DeepSpeedPolicy:
    import deepspeed

    learner = setup.learner
    dtype = resolve_dtype(setup)
    ds_config = build_ds_config(learner, dtype)
    model = load_model(
        setup.model_path, dtype, learner.attn_implementation, ds_config if learner.zero_stage == 3 else None
    )
    model.config.use_cache = False
    if learner.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if learner.lora.enabled:
        model = wrap_with_lora(model, learner.lora)
    optimizer = None
    if not learner.offload_optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params,
            lr=learner.lr,
            betas=learner.betas,
            eps=learner.adam_eps,
            weight_decay=learner.weight_decay,
        )

    def make_scheduler(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_multiplier(step, learner, setup.total_optimizer_steps)
        )

    ds_engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=make_scheduler, config=ds_config
    )
    return DeepSpeedPolicy(
        ds_engine=ds_engine, dtype=dtype, device=ds_engine.device, zero_stage=learner.zero_stage
    )


class ReferenceModel:
    """The frozen start policy that KL is measured against.

    Under ZeRO-3 it is its own parameter-partitioned inference engine (optionally offloading parameters to
    CPU); otherwise a plain module, kept in CPU memory between scoring passes when ``reference_offload``.
    """

    def __init__(self, setup: LearnerSetup, device: torch.device) -> None:
        import deepspeed

        learner = setup.learner
        self.device = device
        dtype = resolve_dtype(setup)
        self.offload = learner.reference_offload and learner.zero_stage != 3 and device.type != "cpu"
        if learner.zero_stage == 3:
            ds_config = build_ds_config(learner, dtype, for_reference=True)
            model = load_model(setup.model_path, dtype, learner.attn_implementation, ds_config)
            model.requires_grad_(False)
            model.eval()
            self.module, *_ = deepspeed.initialize(model=model, config=ds_config)
        else:
            model = load_model(setup.model_path, dtype, learner.attn_implementation, None)
            model.requires_grad_(False)
            model.eval()
            self.module = model if self.offload else model.to(device)

    def __enter__(self) -> Any:
        if self.offload:
            self.module.to(self.device)
        return self.module

    def __exit__(self, *exc: object) -> None:
        if self.offload:
            self.module.to("cpu")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()


class AdapterOffReference:
    """The KL reference of a LoRA policy: the policy's own model with its adapters switched off (peft's
    ``disable_adapter``), so the base weights are held once. Scores through the DeepSpeed engine like the policy."""

    def __init__(self, ds_engine: Any) -> None:
        self.ds_engine = ds_engine
        self._disabled: Any = None

    def __enter__(self) -> Any:
        self._disabled = self.ds_engine.module.disable_adapter()
        self._disabled.__enter__()
        return self.ds_engine

    def __exit__(self, *exc: object) -> None:
        disabled, self._disabled = self._disabled, None
        disabled.__exit__(*exc)
