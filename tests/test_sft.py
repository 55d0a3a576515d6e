"""Supervised warm start: the response-only loss and that a short run fits a handful of demonstrations."""

from __future__ import annotations

import pytest
import torch

from trainer.sft import _pad_batch, response_loss, supervised_finetune
from trainer.tiny_model import build_tiny_model, default_corpus


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "sft_tiny_model", default_corpus())


def _model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir)


PAIRS = [([5, 9, 14, 3, 8, 21], [30, 31, 2]), ([7, 7, 12], [40, 2]), ([11, 4, 6, 9, 10, 13, 15, 5], [33, 2])]


def test_response_loss_matches_the_full_logits_loss(model_dir):
    model = _model(model_dir)
    ids, mask, labels = _pad_batch(PAIRS, pad_id=0)
    assert (labels != -100).sum() == sum(len(r) for _, r in PAIRS)
    expected = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.allclose(response_loss(model, ids, mask, labels), expected, atol=1e-6)


def test_a_short_run_fits_the_demonstrations(model_dir):
    model = _model(model_dir)
    losses = supervised_finetune(model, PAIRS, steps=60, batch_size=3, lr=1e-2, pad_id=0, progress=False)
    assert len(losses) == 60 and losses[-1] < 0.2 * losses[0]
    with pytest.raises(ValueError, match="no demonstrations"):
        supervised_finetune(model, [], steps=1, batch_size=1, lr=1e-3, pad_id=0, progress=False)
