"""Supervised warm start: the response-only loss and that a short run fits a handful of demonstrations."""

from __future__ import annotations

import logging

import pytest
import torch

from trainer.sft import response_loss, supervised_finetune
from trainer.tiny_model import build_tiny_model, default_corpus


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "sft_tiny_model", default_corpus())


def _model(model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir)


PAIRS = [([5, 9, 14, 3, 8, 21], [30, 31, 2]), ([7, 7, 12], [40, 2]), ([11, 4, 6, 9, 10, 13, 15, 5], [33, 2])]


def test_response_loss_matches_the_unpadded_full_logits_loss(model_dir):
    """The padded, response-only forward gives the loss HF computes on each unpadded sequence with labels."""
    model = _model(model_dir)
    summed, count = 0.0, 0
    for prompt, response in PAIRS:
        ids = torch.tensor([prompt + response])
        labels = torch.tensor([[-100] * len(prompt) + response])
        summed += model(input_ids=ids, labels=labels).loss * len(response)
        count += len(response)
    assert torch.allclose(response_loss(model, PAIRS, pad_id=0), summed / count, atol=1e-6)


def test_a_short_run_fits_the_demonstrations(model_dir, caplog):
    model = _model(model_dir)
    with caplog.at_level(logging.INFO, logger="turnrl"):
        losses = supervised_finetune(model, PAIRS, steps=60, batch_size=3, lr=1e-2, pad_id=0, progress=False)
    assert len(losses) == 60 and losses[-1] < 0.2 * losses[0]
    # without a progress bar the log says how far it is, every tenth of the steps
    assert [r.getMessage().split(",")[0] for r in caplog.records if "SFT step" in r.getMessage()] == [
        f"SFT step {k}/60" for k in range(6, 61, 6)
    ]
    with pytest.raises(ValueError, match="no demonstrations"):
        supervised_finetune(model, [], steps=1, batch_size=1, lr=1e-3, pad_id=0, progress=False)
