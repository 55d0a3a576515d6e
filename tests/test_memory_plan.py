"""The memory plan (trainer/memory_plan.py), `turnrl plan`, the engine sizes it feeds, and the shipped GPU configs.

The GPU configs name model folders that do not exist here; tests/data/model_shapes holds the published
``config.json`` of each (Qwen2.5-1.5B-Instruct, Qwen2.5-7B-Instruct, Qwen3-32B), which is all the plan reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.config import load_config
from trainer.memory_plan import (
    ANCHOR_PEAK_GIB,
    GIB,
    LEARNER_RESIDENT,
    PlanError,
    lora_parameter_count,
    plan,
    plan_config,
    plan_inputs,
    read_model_shape,
)

REPO = Path(__file__).resolve().parents[1]
SHAPES = REPO / "tests" / "data" / "model_shapes"
# every config for a GPU machine names it in a "# machine: N x G GiB" line
GPU_CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if "# machine:" in p.read_text())


def shape_override(config_file: Path) -> str:
    """``model.path=`` the shape file of the model the config names (by folder name)."""
    name = Path(load_config(config_file).model.path).name
    assert (SHAPES / name / "config.json").is_file(), f"add tests/data/model_shapes/{name}/config.json"
    return f"model.path={SHAPES / name}"


def machine(config_file: Path) -> tuple[int, float]:
    """The GPUs a config names in its ``# machine: N x G GiB`` line."""
    found = re.search(r"^# machine: (\d+) x ([\d.]+) GiB", config_file.read_text(), re.M)
    assert found, f"{config_file.name} names no machine ('# machine: N x G GiB')"
    return int(found[1]), float(found[2])


def test_parameter_counts_match_the_published_sizes():
    # published: 1.54B, 7.61B, 32.8B (biases and norms, left out here, are under 0.1%)
    for name, billions in (
        ("Qwen2.5-1.5B-Instruct", 1.54),
        ("Qwen2.5-7B-Instruct", 7.61),
        ("Qwen3-32B", 32.8),
    ):
        assert read_model_shape(SHAPES / name).params / 1e9 == pytest.approx(billions, rel=0.01)


def test_the_measured_anchor_lies_between_the_plans_with_and_without_checkpointing():
    """ZeRO-2 bf16 on one H100, Qwen2.5-1.5B shape, micro-batch 4 x 1,024 tokens: 38.2 GiB measured."""
    peaks = []
    for checkpointing in ("true", "false"):
        config = load_config(
            REPO / "configs" / "alfworld_gpu.yaml",
            [
                f"model.path={SHAPES / 'Qwen2.5-1.5B-Instruct'}",
                "algorithm.kl.coef=0",
                "model.max_context_tokens=1024",
                "learner.max_tokens_per_micro_batch=4096",
                f"learner.gradient_checkpointing={checkpointing}",
            ],
        )
        parts = plan_config(config, 1, 80).parts
        peaks.append(sum(parts[name] for name in (*LEARNER_RESIDENT, "activations", "logits")) / GIB)
    assert peaks[0] < ANCHOR_PEAK_GIB < peaks[1]


def test_zero_stages_offload_and_trainable_parameters_divide_what_they_should():
    config = load_config(
        REPO / "configs" / "webshop_gpu.yaml", [f"model.path={SHAPES / 'Qwen2.5-7B-Instruct'}"]
    )
    base = plan_inputs(config, 8, 80 * GIB)
    p = base.shape.params
    stage1 = plan(replace(base, zero_stage=1)).parts
    assert stage1["optimizer_states"] == 8 * p // 8 and stage1["master_weights"] == 4 * p // 8
    assert stage1["learner_weights"] == 2 * p  # not partitioned below stage 3
    stage2 = plan(replace(base, zero_stage=2)).parts
    assert stage2["gradients"] < stage1["gradients"]  # stage 2 also partitions gradients
    stage3 = plan(replace(base, zero_stage=3)).parts
    assert stage3["learner_weights"] == 2 * p // 8 and stage3["reference_model"] == 2 * p // 8
    offload = plan(replace(base, offload_optimizer=True)).parts
    assert offload["optimizer_states"] == offload["master_weights"] == 0
    lora = plan(replace(base, trainable_params=p // 100)).parts
    assert lora["learner_weights"] == stage2["learner_weights"]
    # the optimizer's side follows the trainable parameters only (a LoRA learner passes its adapter's size)
    assert lora["optimizer_states"] == 8 * (p // 100) // 8 and lora["master_weights"] == 4 * (p // 100) // 8
    tp = plan(replace(base, tensor_parallel=4)).parts
    assert tp["engine_weights"] == stage2["engine_weights"] // 4


def test_without_sleep_mode_the_learners_activations_come_off_the_kv_cache():
    config = load_config(
        REPO / "configs" / "alfworld_gpu.yaml", [f"model.path={SHAPES / 'Qwen2.5-1.5B-Instruct'}"]
    )
    asleep = plan_config(config, 1, 80)
    awake = plan(replace(asleep.inputs, sleep_mode=False))
    transient = asleep.parts["activations"] + asleep.parts["logits"]
    assert asleep.parts["kv_cache"] - awake.parts["kv_cache"] == transient
    assert awake.learner_lazy_bytes == asleep.learner_lazy_bytes + transient


@pytest.mark.parametrize("config_file", GPU_CONFIGS, ids=lambda path: path.name)
def test_every_shipped_gpu_config_fits_the_machine_it_names(config_file):
    gpus, gib = machine(config_file)
    memory_plan = plan_config(load_config(config_file, [shape_override(config_file)]), gpus, gib)
    assert memory_plan.fits, memory_plan.problems


def test_the_gpu_configs_are_the_ones_checked():
    assert {p.name for p in GPU_CONFIGS} >= {
        "alfworld_gpu.yaml",
        "webshop_gpu.yaml",
        "swe_gpu.yaml",
        "alfworld_7b_lora.yaml",
    }


def test_lora_plans_only_the_adapters_optimizer_and_no_reference():
    """learner.lora: the optimizer holds the adapters (counted from config.json), the KL reference is the same
    model with adapters off (no second copy): a 7B model that cannot train in full on one 80 GiB GPU fits."""
    lora_file = REPO / "configs" / "alfworld_7b_lora.yaml"
    overrides = [shape_override(lora_file), "algorithm.kl.coef=0.01"]
    lora = plan_config(load_config(lora_file, overrides), 1, 80)
    full = plan_config(load_config(lora_file, [*overrides, "learner.lora.rank=0"]), 1, 80)
    config = load_config(lora_file, overrides)
    adapters = lora_parameter_count(read_model_shape(config.model.path), config.learner.lora)
    assert (
        lora.inputs.trainable_params == adapters == 161_480_704
    )  # rank 64, all seven projections, 28 layers
    assert lora.parts["optimizer_states"] == 8 * adapters and lora.parts["reference_model"] == 0
    assert full.parts["reference_model"] > 0
    assert lora.fits and not full.fits


def test_plan_cli_says_which_part_does_not_fit_and_what_would(capsys):
    swe = REPO / "configs" / "swe_gpu.yaml"
    args = ["plan", "--config", str(swe), "--gpus", "8", "--gpu-memory-gib", "80", shape_override(swe)]
    assert main([*args, "rollout.vllm.tensor_parallel_size=1"]) == 1
    out = capsys.readouterr().out
    assert "does not fit: kv_cache" in out and "engine_weights take 61.0 GiB" in out
    assert "would fit with: rollout.vllm.tensor_parallel_size=" in out
    assert main(args) == 0
    assert "fits: peak" in capsys.readouterr().out


def test_plan_cli_json_has_exactly_the_documented_keys(capsys):
    alfworld = REPO / "configs" / "alfworld_gpu.yaml"
    assert (
        main(
            [
                "plan",
                "-c",
                str(alfworld),
                "--gpus",
                "1",
                "--gpu-memory-gib",
                "80",
                "--json",
                shape_override(alfworld),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["fits", "gpus", "gpu_memory_gib", "total_gib", "kv_cache_gib", "per_gpu_gib"]
    assert data["fits"] is True and data["gpus"] == 1 and data["gpu_memory_gib"] == 80
    assert data["kv_cache_gib"] == data["per_gpu_gib"]["kv_cache"]
    # the peak is the rollout phase: everything but the learner's activations and logits (the engine sleeps then)
    awake = {name: gib for name, gib in data["per_gpu_gib"].items() if name not in ("activations", "logits")}
    assert sum(awake.values()) == pytest.approx(data["total_gib"], abs=0.01) == 80


def test_plan_cli_bad_input_exits_2_naming_the_file(capsys):
    assert (
        main(
            [
                "plan",
                "-c",
                str(REPO / "configs" / "alfworld_gpu.yaml"),
                "--gpus",
                "1",
                "--gpu-memory-gib",
                "80",
            ]
        )
        == 2
    )
    assert "/models/Qwen2.5-1.5B-Instruct/config.json is missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--gpus", "0", "--gpu-memory-gib", "80"])
    assert exited.value.code == 2
    with pytest.raises(PlanError, match="must divide the number of GPUs"):
        plan_inputs(load_config(None, ["rollout.vllm.tensor_parallel_size=2"]), 3, 80 * GIB)


def test_the_plan_command_imports_no_torch():
    code = (
        "import sys; from trainer.cli import main; "
        f"rc = main(['plan', '--gpus', '1', '--gpu-memory-gib', '80', 'model.path={SHAPES / 'Qwen2.5-1.5B-Instruct'}']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode in (0, 1), done.stderr
    assert "memory plan per GPU" in done.stdout


@pytest.mark.slow  # six interpreter starts
def test_train_sh_refuses_a_config_that_does_not_fit_unless_told(tmp_path):
    swe = REPO / "configs" / "swe_gpu.yaml"
    env = {**os.environ, "GPU_MEMORY_MIB": "81920", "PYTHONPATH": str(REPO)}
    command = [
        "bash",
        "scripts/train.sh",
        "--gpus",
        "8",
        "--dry-run",
        "--config",
        str(swe),
        shape_override(swe),
    ]
    tp1 = "rollout.vllm.tensor_parallel_size=1"
    refused = subprocess.run([*command, tp1], capture_output=True, text=True, cwd=REPO, env=env)
    assert refused.returncode == 1 and "--skip-plan" in refused.stderr
    forced = subprocess.run([*command, tp1, "--skip-plan"], capture_output=True, text=True, cwd=REPO, env=env)
    assert forced.returncode == 0 and "deepspeed.launcher.runner" in forced.stdout
    fits = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    assert fits.returncode == 0 and "fits: peak" in fits.stdout


def test_vllm_cpu_kv_cache_is_what_the_rollout_runs_at_once():
    from trainer.build import engine_memory_kwargs

    quickstart = load_config()
    # 8 tasks x 8 trajectories, or 64 evaluation slots; 1,024 tokens; K and V of 2 layers x 2 heads x 32 in fp32
    assert engine_memory_kwargs(quickstart)["cpu_kv_cache_bytes"] == 64 * 1024 * (2 * 2 * 2 * 32 * 4)
    asked = load_config(None, ["rollout.vllm.cpu_kvcache_space_gib=0.5"])
    assert engine_memory_kwargs(asked)["cpu_kv_cache_bytes"] == GIB // 2


def test_engine_gets_the_plans_share_and_the_learners_growth_on_gpu():
    from trainer.build import engine_memory_kwargs

    config = load_config(
        REPO / "configs" / "alfworld_gpu.yaml", [f"model.path={SHAPES / 'Qwen2.5-1.5B-Instruct'}"]
    )
    kwargs = engine_memory_kwargs(config, gpu_total_bytes=80 * GIB)
    memory_plan = plan_config(config, 1, 80)
    assert kwargs["engine_budget_bytes"] == memory_plan.engine_bytes
    assert (
        kwargs["learner_growth_bytes"]
        == memory_plan.parts["optimizer_states"] + memory_plan.parts["gradients"]
    )
    asked = load_config(REPO / "configs" / "alfworld_gpu.yaml", ["rollout.vllm.gpu_memory_utilization=0.4"])
    assert engine_memory_kwargs(asked, gpu_total_bytes=80 * GIB)["gpu_memory_utilization"] == 0.4


def test_nucleus_scoring_plans_the_sort_of_a_logits_chunk():
    """learner.score_sampled_distribution with a truncated, sampled rollout: each logits chunk holds six fp32
    copies instead of three (its sort, order and cumulative sum); greedy or untruncated rollouts score as before."""
    gpu_file = REPO / "configs" / "alfworld_gpu.yaml"
    base = [shape_override(gpu_file), "rollout.top_p=0.95"]
    off = plan_config(load_config(gpu_file, base), 1, 80)
    on = plan_config(load_config(gpu_file, [*base, "learner.score_sampled_distribution=true"]), 1, 80)
    shape = read_model_shape(load_config(gpu_file, base).model.path)
    chunk = min(on.inputs.logits_chunk_rows, on.inputs.tokens_per_micro_batch)
    assert on.inputs.nucleus_scoring and not off.inputs.nucleus_scoring
    assert on.parts["logits"] - off.parts["logits"] == chunk * shape.vocab_size * 4 * 3
    for untruncated in ("rollout.top_p=1.0", "rollout.temperature=0"):
        config = load_config(gpu_file, [*base, "learner.score_sampled_distribution=true", untruncated])
        assert not plan_config(config, 1, 80).inputs.nucleus_scoring
