"""The learner's streamed Hugging Face export: safetensors shards with an index that transformers loads."""

from __future__ import annotations

import torch


def test_streamed_export_writes_shards_that_transformers_loads(tmp_path):
    from transformers import AutoModelForCausalLM

    from trainer.learner.export import INDEX_FILE, write_safetensors_shards
    from trainer.tiny_model import build_tiny_model, default_corpus

    model_dir = build_tiny_model(tmp_path / "tiny", default_corpus())
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    out = tmp_path / "export"
    weights = list(
        model.named_parameters(remove_duplicate=False)
    )  # the tied head comes twice, as in training
    largest = max(p.numel() * 4 for _, p in weights)
    weight_map = write_safetensors_shards(
        weights, out, shard_bytes=largest, keep={n for n, _ in model.named_parameters()}
    )
    assert (out / INDEX_FILE).is_file() and len(set(weight_map.values())) > 2
    assert "lm_head.weight" not in weight_map  # tied: stored once
    model.config.save_pretrained(out)
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
