"""A ZeRO-3 learner in a world of one (gloo, CPU): what it leaves behind in the process, and how it streams its
weights. Run in a child process: DeepSpeed's zero.Init patches process-wide state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_SCRIPT = r"""
import json, sys
import torch
import deepspeed
from trainer.config import KLConfig, LearnerConfig
from trainer.dist import init_distributed
from trainer.learner import Learner, LearnerSetup

original_linear = torch.nn.functional.linear
init_distributed()
setup = LearnerSetup(
    learner=LearnerConfig(zero_stage=3), model_path=sys.argv[1], dtype="float32", kl=KLConfig(coef=0.01),
    temperature=1.0, top_p=1.0, top_k=-1, seed=0, total_optimizer_steps=1,
)
learner = Learner(setup)
gathered = []
Gathered = deepspeed.zero.GatheredParameters


class Counting(Gathered):
    def __init__(self, params, *args, **kwargs):
        gathered.extend(id(p) for p in params)
        super().__init__(params, *args, **kwargs)


deepspeed.zero.GatheredParameters = Counting
weights = list(learner.named_weights())
embedding = learner.ds_engine.module.get_input_embeddings().weight
print(json.dumps({
    "linear_is_torch": torch.nn.functional.linear is original_linear,
    "names": [name for name, _ in weights],
    "gathers": len(gathered),
    "distinct_gathered": len(set(gathered)),
    "embedding_gathers": gathered.count(id(embedding)),
    "parameters": len({id(p) for p in learner.ds_engine.module.parameters()}),
}))
"""


@pytest.fixture(scope="module")
def tied_model(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    path = build_tiny_model(tmp_path_factory.getbasetemp() / "zero3_tiny_model", default_corpus())
    assert json.loads((path / "config.json").read_text())["tie_word_embeddings"] is True
    return path


@pytest.mark.slow
def test_zero3_learner_keeps_functional_linear_and_gathers_a_tied_head_once(tied_model):
    """zero.Init must not leave ``torch.nn.functional.linear`` replaced (the colocated vLLM engine shares the
    process), and streaming the weights gathers every parameter once: the tied LM head is the embedding,
    yielded under both names from one gather."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tied_model)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["linear_is_torch"] is True
    assert "lm_head.weight" in report["names"] and "model.embed_tokens.weight" in report["names"]
    assert len(report["names"]) == len(set(report["names"]))
    assert report["embedding_gathers"] == 1
    assert report["gathers"] == report["distinct_gathered"] == report["parameters"]
