"""CheckpointManager: atomic writes, the COMPLETE marker, keep-last pruning, resume picking; plus a real
single-process learner round trip through a checkpoint and its exported Hugging Face folder."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from learner_worker import learner_setup, make_batch

from trainer.learner import CheckpointManager, Learner


class FakeLearner:
    """Stands in for the learner: records what it was asked to write and read."""

    lora = False

    def __init__(self, fail_in_export: bool = False) -> None:
        self.fail_in_export = fail_in_export
        self.loaded_from = None

    def save_checkpoint(self, directory):
        directory.mkdir(parents=True)
        (directory / "shard.pt").write_text("model+optimizer")

    def export_hf(self, directory):
        if self.fail_in_export:
            raise RuntimeError("disk full")
        directory.mkdir(parents=True)
        (directory / "config.json").write_text("{}")

    def load_checkpoint(self, directory):
        self.loaded_from = directory


def test_save_writes_complete_checkpoints_prunes_and_points_latest(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpt", keep_last=2)
    assert manager.latest() is None
    for step in (2, 4, 6):
        path = manager.save(step, FakeLearner(), {"step": step})
        assert path.name == f"step_{step:08d}" and (path / "COMPLETE").is_file()
        assert json.loads((path / "COMPLETE").read_text())["step"] == step
    assert [s for s, _ in manager.complete_checkpoints()] == [4, 6]
    assert manager.latest() == tmp_path / "ckpt" / "step_00000006"
    assert (tmp_path / "ckpt" / "latest").read_text().strip() == "step_00000006"
    assert not list((tmp_path / "ckpt").glob(".tmp-*"))
    learner = FakeLearner()
    assert manager.load(manager.latest(), learner) == {"step": 6}
    assert learner.loaded_from == tmp_path / "ckpt" / "step_00000006" / "deepspeed"


def test_half_written_checkpoints_are_never_picked(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(1, FakeLearner(), {"step": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        manager.save(2, FakeLearner(fail_in_export=True), {"step": 2})
    assert (tmp_path / ".tmp-step_00000002").is_dir() and not (tmp_path / "step_00000002").exists()
    (tmp_path / "step_00000003" / "deepspeed").mkdir(parents=True)  # renamed but unmarked (e.g. a copy)
    assert manager.latest() == tmp_path / "step_00000001"
    assert (tmp_path / "latest").read_text().strip() == "step_00000001"
    with pytest.raises(FileNotFoundError, match="COMPLETE"):
        manager.load(tmp_path / "step_00000003", FakeLearner())
    manager.save(4, FakeLearner(), {"step": 4})  # the next good save clears the leftovers of the failed one
    assert not (tmp_path / ".tmp-step_00000002").exists()
    assert manager.latest() == tmp_path / "step_00000004"


def test_resume_and_eval_checks_agree_with_the_manager(tmp_path):
    """``trainer.resume`` and ``eval --checkpoint`` are checked early with the manager's own rule."""
    from trainer.checkpoint_layout import model_folder
    from trainer.config import ConfigError, check_paths, load_config

    manager = CheckpointManager(tmp_path, keep_last=3)
    good = manager.save(1, FakeLearner(), {"step": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        manager.save(2, FakeLearner(fail_in_export=True), {"step": 2})
    half = tmp_path / ".tmp-step_00000002"
    check_paths(load_config(None, [f"trainer.resume={good}"]))
    assert model_folder(good) == good / "hf" and model_folder(tmp_path) == manager.latest() / "hf"
    (half / "hf").mkdir()  # the export died half-way
    for bad in (half, tmp_path):
        with pytest.raises(ConfigError, match=r"^trainer\.resume: .*COMPLETE"):
            check_paths(load_config(None, [f"trainer.resume={bad}"]))
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        model_folder(half)


def test_rejects_bad_keep_last(tmp_path):
    with pytest.raises(ValueError):
        CheckpointManager(tmp_path, keep_last=0)


def test_learner_round_trip_restores_weights_optimizer_and_exports_loadable_hf(tmp_path_factory, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.tiny_model import build_tiny_model, default_corpus

    model_path = build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_learner_model", default_corpus())
    learner = Learner(learner_setup(model_path, zero_stage=1, lr=1e-3, warmup_steps=3))
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(2), 6)
    old, _ = learner.score(prompts, responses, with_entropy=False)
    learner.update(prompts, responses, advantages, old)
    manager = CheckpointManager(tmp_path, keep_last=1)
    state = {
        "step": 1,
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
    }
    path = manager.save(1, learner, state)
    saved = learner.state_dict()
    next_step = learner.update(prompts, responses, advantages, old)
    learner.update(prompts, responses, advantages, old)

    restored = manager.load(path, learner)
    assert restored["step"] == 1 and torch.equal(restored["rng"]["torch"], state["rng"]["torch"])
    assert all(torch.equal(saved[k], v) for k, v in learner.state_dict().items())
    assert learner.update_calls == 1
    again = learner.update(
        prompts, responses, advantages, old
    )  # optimizer moments and LR warm-up restored too
    assert again["actor/loss"] == pytest.approx(next_step["actor/loss"], abs=1e-7)
    assert again["actor/lr"] == pytest.approx(next_step["actor/lr"]) == pytest.approx(2e-3 / 3)

    hf = AutoModelForCausalLM.from_pretrained(path / "hf", dtype=torch.float32)
    for name, tensor in hf.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    assert hf.config.tie_word_embeddings
    assert AutoTokenizer.from_pretrained(path / "hf")("go to desk")["input_ids"]
