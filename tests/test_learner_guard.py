"""The learner's side of the policy guard and the rollout correction: sync stamps and weighted policy loss."""

from __future__ import annotations

import pytest
import torch
from learner_worker import learner_setup, make_batch, padded_logprobs

from algorithms.losses import policy_loss
from rollout.policy_version import MODEL_FOLDER
from trainer.learner import Learner
from trainer.learner.packing import response_mask


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_guard_model", default_corpus())


@pytest.fixture(scope="module")
def learner(tiny_model_path):
    return Learner(learner_setup(tiny_model_path, zero_stage=2, lr=1e-3, max_tokens_per_micro_batch=40))


class RecordingEngine:
    policy_version = MODEL_FOLDER

    def load_weights(self, weights):
        self.weights = {name: tensor.clone() for name, tensor in weights}


def test_sync_stamps_engine_and_learner_with_updates_and_fingerprint(learner):
    engine = RecordingEngine()
    learner.sync_to(engine)
    first = engine.policy_version
    assert first == learner.policy_version and first.updates == learner.update_calls and first.fingerprint
    learner.sync_to(engine)
    assert engine.policy_version == first  # the same weights: the same stamp
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(3), 4)
    old, _ = learner.score(prompts, responses, with_entropy=False)
    learner.update(prompts, responses, advantages, old)
    learner.sync_to(engine)
    assert engine.policy_version.updates == first.updates + 1
    assert engine.policy_version.fingerprint != first.fingerprint


def test_update_weights_each_tokens_policy_loss(learner, tiny_model_path):
    from test_learner import hf_model

    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(21), 8)
    width = advantages.shape[1]
    mask = response_mask([len(r) for r in responses], width)
    weights = 2 * torch.rand(advantages.shape, generator=torch.Generator().manual_seed(22)) * mask
    reference = hf_model(tiny_model_path, learner.state_dict())
    with torch.no_grad():
        old = padded_logprobs(reference, prompts, responses, width) - 0.1
        logprobs = padded_logprobs(reference, prompts, responses, width)
        want, *_ = policy_loss(
            old, logprobs, advantages, mask, cliprange_low=0.2, cliprange_high=0.28, token_weights=weights
        )
        unweighted, *_ = policy_loss(old, logprobs, advantages, mask, cliprange_low=0.2, cliprange_high=0.28)
    metrics = learner.update(prompts, responses, advantages, old, pg_weights=weights)
    assert metrics["perf/micro_batches"] > 2  # the weights follow their rows through the token packing
    assert metrics["actor/pg_loss"] == pytest.approx(float(want), abs=1e-5)
    assert abs(float(want) - float(unweighted)) > 1e-3


def test_update_rejects_weights_of_another_shape(learner):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(4), 3)
    with pytest.raises(ValueError, match="pg_weights"):
        learner.update(prompts, responses, advantages, advantages, pg_weights=advantages[:, :-1])
