"""The DeepSpeed config and learner setup a run gets from its config: ZeRO stage, overlap and dtypes on GPU
and CPU, the attention kernel and the micro-batch layout."""

from __future__ import annotations

import torch


def _settings(**kwargs):
    from trainer.config import LearnerConfig

    return LearnerConfig(**kwargs)


def test_ds_config_of_a_gpu_run():
    from trainer.learner.deepspeed_init import build_ds_config

    gpu = build_ds_config(_settings(zero_stage=2), torch.bfloat16, on_gpu=True)
    assert gpu["zero_optimization"]["overlap_comm"] is True
    assert gpu["data_types"]["grad_accum_dtype"] == "fp32"  # bf16 gradients accumulate in fp32
    assert gpu["bf16"]["enabled"]
    cpu = build_ds_config(_settings(zero_stage=2), torch.float32, on_gpu=False)
    assert cpu["zero_optimization"]["overlap_comm"] is False and "data_types" not in cpu
    stage1 = build_ds_config(_settings(zero_stage=1), torch.bfloat16, on_gpu=True)
    assert stage1["zero_optimization"]["overlap_comm"] is False  # nothing to overlap below stage 2
    offload = build_ds_config(_settings(zero_stage=3, offload_params=True), torch.bfloat16, on_gpu=True)
    assert offload["zero_optimization"]["offload_param"]["pin_memory"] is True


def test_effective_zero_stage():
    from trainer.learner.deepspeed_init import effective_zero_stage

    assert effective_zero_stage(2, 1, torch.bfloat16, offload_optimizer=False) == 1  # one GPU: no ZeRO-2 tax
    assert effective_zero_stage(2, 8, torch.bfloat16, offload_optimizer=False) == 2
    assert effective_zero_stage(2, 1, torch.bfloat16, offload_optimizer=True) == 2  # CPU Adam needs ZeRO-2
    assert effective_zero_stage(0, 8, torch.bfloat16, offload_optimizer=False) == 1  # fp32 accumulation
    assert effective_zero_stage(0, 1, torch.float32, offload_optimizer=False) == 0
    assert effective_zero_stage(3, 1, torch.bfloat16, offload_optimizer=False) == 3


def test_attention_kernel_and_micro_batch_layout_come_from_the_config():
    from trainer.build import learner_setup
    from trainer.config import load_config

    def setup(*overrides: str):
        return learner_setup(load_config(None, list(overrides)), "unused", total_steps=10)

    assert not setup().packed_layout  # sdpa: left-padded rows
    flash = setup("learner.attn_implementation=flash_attention_2")
    assert flash.packed_layout and flash.learner.attn_implementation == "flash_attention_2"
    assert not setup(
        "learner.attn_implementation=flash_attention_2", "learner.micro_batch_layout=padded"
    ).packed_layout
