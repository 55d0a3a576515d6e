"""Fast learner tests: packing, MFU arithmetic, LR schedule, setup, and single-process learner steps.

The single-process learner (a DeepSpeed world of one on a free port, no launcher) is built once per module;
each check compares it with plain torch on the same weights, so the order of the tests does not matter.
"""

from __future__ import annotations

import math

import pytest
import torch
from learner_worker import learner_setup, make_batch, padded_logprobs
from pydantic import ValidationError

from algorithms.losses import agg_loss, entropy_from_logits, kl_penalty, policy_loss
from trainer.config import KLConfig, LearnerConfig
from trainer.learner import Learner, LearnerSetup
from trainer.learner.deepspeed_init import lr_multiplier
from trainer.learner.flops import inference_flops, matmul_params, mfu, peak_flops, training_flops
from trainer.learner.packing import (
    build_packed,
    build_padded,
    dummy_micro_batch,
    pack_by_tokens,
    pad_by_tokens,
    response_mask,
    share_computed,
    to_rows,
    unique_sequences,
)
from trainer.learner.scoring import forward_pack


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "tiny_learner_model", default_corpus())


@pytest.fixture(scope="module")
def learner(tiny_model_path):
    return Learner(learner_setup(tiny_model_path, zero_stage=2, lr=1e-3, max_tokens_per_micro_batch=40))


def hf_model(path, weights):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.load_state_dict(weights)
    return model


# ------------------------------------------------------------------------------------------------ packing
def test_pack_by_tokens_respects_budget_and_covers_every_row_once():
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        lengths = torch.randint(
            0, 30, (int(torch.randint(1, 40, (1,), generator=generator)),), generator=generator
        ).tolist()
        bins = pack_by_tokens(lengths, 32)
        packed = sorted(i for b in bins for i in b)
        assert packed == [i for i, n in enumerate(lengths) if n > 0]
        assert all(sum(lengths[i] for i in b) <= 32 for b in bins)
        # first-fit decreasing never needs more than twice the lower bound
        assert len(bins) <= max(1, 2 * math.ceil(sum(lengths) / 32))


def test_pack_by_tokens_oversize_runs_alone_and_rejects_bad_budget():
    assert pack_by_tokens([5, 50, 5], 10) == [[1], [0, 2]]
    with pytest.raises(ValueError):
        pack_by_tokens([1], 0)


def test_build_packed_positions_labels_and_row_layout():
    pack = build_packed([[1, 2, 3], [9], [7, 7]], [[4, 5], [8, 8, 8], []], [0, 1])
    assert pack.input_ids.tolist() == [[1, 2, 3, 4, 5, 9, 8, 8, 8]]
    assert pack.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3]]
    assert pack.logit_positions.tolist() == [2, 3, 5, 6, 7]
    assert pack.labels.tolist() == [4, 5, 8, 8, 8]
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    rows = to_rows(values, pack.response_lengths, 4)
    assert rows.tolist() == [[1, 2, 0, 0], [3, 4, 5, 0]]
    rows.sum().backward()
    assert values.grad.tolist() == [1.0] * 5
    assert response_mask([2, 3], 4).tolist() == [[1, 1, 0, 0], [1, 1, 1, 0]]
    assert dummy_micro_batch(0).is_dummy
    with pytest.raises(ValueError, match="empty prompt"):
        build_packed([[]], [[1]], [0])


def test_pad_by_tokens_bounds_padded_size():
    lengths = [30, 10, 0, 25, 12, 9]
    bins = pad_by_tokens(lengths, 50)
    assert sorted(i for b in bins for i in b) == [0, 1, 3, 4, 5]
    for members in bins:
        assert len(members) == 1 or len(members) * max(lengths[i] for i in members) <= 50


@pytest.mark.parametrize("layout", ["packed", "padded"])
def test_micro_batch_layouts_equal_separate_forwards(tiny_model_path, layout):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    prompts, responses, _, _ = make_batch(torch.Generator().manual_seed(4), 6)
    pack = (
        build_packed(prompts, responses, range(6))
        if layout == "packed"
        else build_padded(prompts, responses, range(6), pad_id=0)
    )
    with torch.no_grad():
        stats = forward_pack(
            model, pack, torch.device("cpu"), temperature=1.0, with_entropy=False, chunk_size=7
        )
        offset = 0
        for p, r in zip(prompts, responses):
            alone = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : len(p) + len(r) - 1]
            expected = torch.log_softmax(alone, -1).gather(-1, torch.tensor(r)[:, None])[:, 0]
            torch.testing.assert_close(
                stats.logprobs[offset : offset + len(r)], expected, atol=1e-5, rtol=1e-5
            )
            offset += len(r)


@pytest.mark.parametrize("layout", ["packed", "padded"])
def test_duplicate_sequences_computed_once_with_exact_gradients(tiny_model_path, layout):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    prompts, responses, _, _ = make_batch(torch.Generator().manual_seed(8), 4)
    order = [0, 1, 0, 2, 1, 0, 3]  # row i is a copy of base row order[i]
    prompts, responses = [prompts[i] for i in order], [responses[i] for i in order]
    copies = unique_sequences(prompts, responses, range(7))
    assert copies == {0: [0, 2, 5], 1: [1, 4], 3: [3], 6: [6]}
    weights = torch.randn(sum(len(r) for r in responses), generator=torch.Generator().manual_seed(9))

    def weighted_logprobs(pack):
        model.zero_grad()
        stats = forward_pack(
            model, pack, torch.device("cpu"), temperature=1.0, with_entropy=True, chunk_size=5
        )
        per_row = dict(zip(pack.rows, torch.split(stats.logprobs, pack.response_lengths)))
        flat = torch.cat([per_row[row] for row in range(7)])  # back to row order
        (flat * weights).sum().backward()
        return flat.detach(), [p.grad.clone() for p in model.parameters()]

    build = build_packed if layout == "packed" else lambda p, r, rows: build_padded(p, r, rows, pad_id=0)
    shared = share_computed(build(prompts, responses, sorted(copies)), copies)
    assert sorted(shared.rows) == list(range(7)) and len(shared.sequence_lengths) == 4
    logprobs, grads = weighted_logprobs(shared)
    want_logprobs, want_grads = weighted_logprobs(build(prompts, responses, range(7)))
    torch.testing.assert_close(logprobs, want_logprobs, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads, want_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_packed_forward_equals_separate_forwards(tiny_model_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32)
    prompts, responses, _, _ = make_batch(torch.Generator().manual_seed(3), 5)
    pack = build_packed(prompts, responses, range(5))
    with torch.no_grad():
        packed = model(
            input_ids=pack.input_ids,
            position_ids=pack.position_ids,
            logits_to_keep=pack.logit_positions,
            use_cache=False,
        ).logits[0]
        offset = 0
        for p, r in zip(prompts, responses):
            alone = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : len(p) + len(r) - 1]
            torch.testing.assert_close(packed[offset : offset + len(r)], alone, atol=1e-5, rtol=1e-5)
            offset += len(r)


# --------------------------------------------------------------------------------------------- flops / lr
def test_flops_and_mfu_arithmetic():
    # 6 * N * tokens + 12 * layers * width * sum(len^2)
    assert training_flops([3, 5], 1000, 2, 8) == 6 * 1000 * 8 + 12 * 2 * 8 * (9 + 25)
    assert inference_flops([4], 10, 1, 1) == pytest.approx((6 * 10 * 4 + 12 * 16) / 3)
    assert matmul_params(100, 10, 2, tied_embeddings=True) == 100
    assert matmul_params(100, 10, 2, tied_embeddings=False) == 80
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops(None) is None and peak_flops("Intel Xeon") is None
    assert mfu(989e12, 2.0, 989e12, 4) == pytest.approx(0.125)
    assert mfu(1.0, 1.0, None, 1) is None


def test_lr_schedule_warmup_then_constant_or_cosine():
    constant = LearnerConfig(warmup_steps=4)
    assert [lr_multiplier(i, constant, 12) for i in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    cosine = LearnerConfig(warmup_steps=2, lr_schedule="cosine", min_lr_ratio=0.1)
    assert lr_multiplier(1, cosine, 12) == 1.0
    assert lr_multiplier(2, cosine, 12) == pytest.approx(1.0)
    assert lr_multiplier(7, cosine, 12) == pytest.approx(0.55)
    assert lr_multiplier(12, cosine, 12) == pytest.approx(0.1)
    assert lr_multiplier(50, cosine, 12) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_path": ""}, "model_path"),
        ({"total_optimizer_steps": 0}, "total_optimizer_steps"),
        ({"temperature": 0.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": -2}, "top_k"),
        ({"dtype": "bf16"}, "dtype"),
        ({"lr": 1e-3}, "lr"),  # learner fields belong in the section, not beside it
    ],
)
def test_setup_rejects_bad_values(fields, message):
    good = {
        "learner": LearnerConfig(),
        "model_path": "x",
        "dtype": "auto",
        "kl": KLConfig(),
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": -1,
        "seed": 0,
        "total_optimizer_steps": 1,
    }
    LearnerSetup(**good)
    with pytest.raises(ValidationError, match=message):
        LearnerSetup(**{**good, **fields})


def test_setup_takes_the_section_itself_and_is_immutable():
    section = LearnerConfig(lr=3e-4)
    setup = learner_setup("x").model_copy(update={"learner": section})
    assert setup.learner is section
    with pytest.raises(ValidationError, match="frozen"):
        setup.temperature = 2.0
    assert learner_setup("x", max_tokens_per_micro_batch=100).score_token_budget == 200
    assert (
        learner_setup(
            "x", max_tokens_per_micro_batch=100, score_max_tokens_per_micro_batch=150
        ).score_token_budget
        == 150
    )
    assert not learner_setup("x").packed_layout
    assert learner_setup("x", attn_implementation="flash_attention_2").packed_layout
    assert not learner_setup(
        "x", attn_implementation="flash_attention_2", micro_batch_layout="padded"
    ).packed_layout


# --------------------------------------------------------------------------------- single-process learner
def reference_loss(model, prompts, responses, advantages, old, mode, **extra):
    mask = response_mask([len(r) for r in responses], advantages.shape[1])
    logprobs = padded_logprobs(model, prompts, responses, advantages.shape[1])
    loss, *_ = policy_loss(
        old,
        logprobs,
        advantages,
        mask,
        cliprange_low=0.2,
        cliprange_high=0.28,
        clip_ratio_c=3.0,
        loss_agg_mode=mode,
    )
    return float(loss)


@pytest.mark.parametrize(
    "mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"]
)
def test_update_loss_over_micro_batches_equals_whole_batch_loss(learner, tiny_model_path, mode):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(5), 8)
    reference = hf_model(tiny_model_path, learner.state_dict())
    with torch.no_grad():
        shift = 0.3 * torch.randn(advantages.shape, generator=torch.Generator().manual_seed(11))
        old = (
            padded_logprobs(reference, prompts, responses, advantages.shape[1]) + shift
        )  # ratio != 1: clipping active
        want = reference_loss(reference, prompts, responses, advantages, old, mode)
    learner.setup.learner.loss_agg_mode = mode
    try:
        metrics = learner.update(prompts, responses, advantages, old)
    finally:
        learner.setup.learner.loss_agg_mode = "token-mean"
    assert metrics["perf/micro_batches"] > 2  # the 40-token budget really split the batch
    assert metrics["actor/loss"] == pytest.approx(want, abs=1e-5)
    assert metrics["actor/optimizer_steps"] == 1 and metrics["actor/skipped_steps"] == 0
    assert metrics["actor/grad_norm"] > 0 and metrics["actor/lr"] == pytest.approx(1e-3)
    assert 0 < metrics["actor/pg_clipfrac"] < 1
    assert metrics["perf/update_tokens_per_s"] > 0 and "perf/update_mfu" not in metrics  # no MFU on CPU


def test_update_with_repeated_turns_equals_whole_batch_loss(learner, tiny_model_path):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(12), 4)
    prompts, responses = prompts + prompts[:3], responses + responses[:3]  # three turns played twice
    width = advantages.shape[1]
    extra = torch.randn(3, width, generator=torch.Generator().manual_seed(13))
    advantages = torch.cat([advantages, extra * response_mask([len(r) for r in responses[4:]], width)])
    reference = hf_model(tiny_model_path, learner.state_dict())
    with torch.no_grad():
        old = padded_logprobs(reference, prompts, responses, width) - 0.1
        want = reference_loss(reference, prompts, responses, advantages, old, "token-mean")
    scored, _ = learner.score(prompts, responses, with_entropy=False)
    torch.testing.assert_close(scored[4:], scored[:3])
    metrics = learner.update(prompts, responses, advantages, old)
    assert metrics["actor/loss"] == pytest.approx(want, abs=1e-5)


def test_score_returns_steps_batch_layout(learner, tiny_model_path):
    prompts, responses, _, mask = make_batch(torch.Generator().manual_seed(6), 7)
    responses[2] = []  # an empty response scores as an all-zero row
    logprobs, entropy = learner.score(prompts, responses)
    reference = hf_model(tiny_model_path, learner.state_dict())
    with torch.no_grad():
        keep = [i for i in range(7) if responses[i]]
        want = padded_logprobs(
            reference, [prompts[i] for i in keep], [responses[i] for i in keep], logprobs.shape[1]
        )
    assert logprobs.shape == entropy.shape == (7, max(len(r) for r in responses))
    torch.testing.assert_close(logprobs[keep], want, atol=1e-5, rtol=1e-5)
    assert torch.all(logprobs[2] == 0) and torch.all(entropy[2] == 0)
    layout = response_mask([len(r) for r in responses], logprobs.shape[1])
    assert torch.all((logprobs != 0) == layout.bool()) and torch.all(entropy[layout.bool()] > 0)
    assert learner.reference_logprobs(prompts, responses) is None  # kl_coef 0: no reference model at all
    assert learner.reference is None


def test_nonfinite_loss_skips_the_step_and_training_goes_on(learner):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(7), 6)
    old, _ = learner.score(prompts, responses, with_entropy=False)
    before = learner.state_dict()
    poisoned = advantages.clone()
    poisoned[0, 0] = float("nan")
    metrics = learner.update(prompts, responses, poisoned, old)
    assert metrics["actor/skipped_steps"] == 1 and metrics["actor/optimizer_steps"] == 0
    after = learner.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    metrics = learner.update(prompts, responses, advantages, old)
    assert metrics["actor/optimizer_steps"] == 1 and math.isfinite(metrics["actor/loss"])
    assert not all(torch.equal(before[k], v) for k, v in learner.state_dict().items())


def test_named_weights_include_tied_lm_head_and_sync_to_reports_time(learner):
    class RecordingEngine:
        def load_weights(self, weights):
            self.weights = {name: tensor.clone() for name, tensor in weights}

    engine = RecordingEngine()
    seconds = learner.sync_to(engine)
    assert seconds >= 0
    assert torch.equal(engine.weights["lm_head.weight"], engine.weights["model.embed_tokens.weight"])
    assert set(engine.weights) == set(learner.ds_engine.module.state_dict())
    learner.weight_name_map = lambda name: None if name.startswith("lm_head") else "x." + name
    try:
        names = [name for name, _ in learner.named_weights()]
    finally:
        learner.weight_name_map = None
    assert names and all(n.startswith("x.") for n in names) and "x.lm_head.weight" not in names


def test_entropy_bonus_kl_loss_and_extra_loss_hook(tiny_model_path):
    setup = learner_setup(
        tiny_model_path,
        zero_stage=0,
        lr=1e-3,
        max_tokens_per_micro_batch=40,
        entropy_coeff=0.01,
        kl=KLConfig(coef=0.5, type="k1"),
    )
    learner = Learner(setup)
    assert learner.reference is not None
    prompts, responses, advantages, mask = make_batch(torch.Generator().manual_seed(8), 6)
    ref = learner.reference_logprobs(prompts, responses)
    old, _ = learner.score(prompts, responses)
    torch.testing.assert_close(ref, old)  # the reference starts as the policy
    first = learner.update(prompts, responses, advantages, old, ref)
    assert first["actor/kl_loss"] == pytest.approx(0.0, abs=1e-6)  # identical models before the first step
    calls = []

    def extra(entropy, emask):
        calls.append(entropy.requires_grad)
        return 0.1 * agg_loss(entropy, emask, "token-mean"), {
            "extra/mean_entropy": agg_loss(entropy.detach(), emask)
        }

    reference = hf_model(tiny_model_path, learner.state_dict())
    with torch.no_grad():
        logprobs = padded_logprobs(reference, prompts, responses, advantages.shape[1])
        pg = reference_loss(reference, prompts, responses, advantages, old, "token-mean")
        kl = float(agg_loss(kl_penalty(logprobs, ref, "k1"), mask))
    metrics = learner.update(prompts, responses, advantages, old, ref, extra_loss_fn=extra)
    assert calls and all(calls)
    assert metrics["actor/kl_loss"] == pytest.approx(kl, abs=1e-5) and metrics["actor/kl_loss"] != 0
    entropy_term = metrics["actor/entropy_loss"]
    assert entropy_term == pytest.approx(metrics["actor/entropy"], rel=1e-5)  # token-mean entropy
    assert metrics["extra/mean_entropy"] == pytest.approx(entropy_term, rel=1e-5)
    want = pg + 0.5 * kl - 0.01 * entropy_term + 0.1 * entropy_term
    assert metrics["actor/loss"] == pytest.approx(want, abs=1e-5)
    with pytest.raises(ValueError, match="ref_logprobs"):
        learner.update(prompts, responses, advantages, old)
    # stage 0 has no DeepSpeed overflow check: the learner's own check must skip a non-finite step
    before = learner.state_dict()
    poisoned = advantages.clone()
    poisoned[1, 0] = float("inf")
    skipped = learner.update(prompts, responses, poisoned, old, ref)
    assert skipped["actor/skipped_steps"] == 1
    assert all(torch.equal(before[k], v) for k, v in learner.state_dict().items())


def test_update_rejects_mismatched_shapes(learner):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(9), 4)
    with pytest.raises(ValueError, match="T="):
        learner.update(prompts, responses, advantages[:, :1], advantages[:, :1])
    with pytest.raises(ValueError, match="prompts"):
        learner.update(prompts[:3], responses, advantages, advantages)


def test_entropy_metric_matches_logits(learner, tiny_model_path):
    prompts, responses, _, mask = make_batch(torch.Generator().manual_seed(10), 3)
    _, entropy = learner.score(prompts, responses)
    reference = hf_model(tiny_model_path, learner.state_dict())
    p, r = prompts[0], responses[0]
    with torch.no_grad():
        logits = reference(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : len(p) + len(r) - 1]
    torch.testing.assert_close(entropy[0, : len(r)], entropy_from_logits(logits), atol=1e-5, rtol=1e-5)


def test_zero_advantage_rows_are_left_out_and_the_step_is_the_same(tiny_model_path):
    """``skip_zero_advantage_rows``: rows without gradient are not computed, and the weights after the step,
    the loss and its gradient are those of the update that computes them."""
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(21), 8)
    advantages[::2] = 0.0
    width = advantages.shape[1]
    results = {}
    for skip in (False, True):
        learner = Learner(
            learner_setup(
                tiny_model_path,
                zero_stage=2,
                lr=1e-3,
                max_tokens_per_micro_batch=40,
                skip_zero_advantage_rows=skip,
            )
        )
        with torch.no_grad():
            old = (
                padded_logprobs(hf_model(tiny_model_path, learner.state_dict()), prompts, responses, width)
                - 0.05
            )
        results[skip] = (learner.update(prompts, responses, advantages, old), learner.state_dict())
    (kept, kept_weights), (skipped, skipped_weights) = results[False], results[True]
    assert kept["perf/rows_skipped"] == 0 and skipped["perf/rows_skipped"] == 4
    assert skipped["perf/micro_batches"] < kept["perf/micro_batches"]
    assert skipped["actor/loss"] == pytest.approx(kept["actor/loss"], abs=1e-7)
    assert skipped["actor/grad_norm"] == pytest.approx(kept["actor/grad_norm"], rel=1e-5)
    # Adam's first step moves each weight by about lr = 1e-3 (g / |g|); summing fewer micro-batches changes
    # the gradient by rounding only, which Adam amplifies only where a gradient is near its eps (~1e-5 seen);
    # a row of real gradient left out would flip whole updates (2e-3)
    from transformers import AutoModelForCausalLM

    start = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).state_dict()
    assert max(float((kept_weights[n] - start[n]).abs().max()) for n in kept_weights) > 5e-4  # it moved
    for name, weight in kept_weights.items():
        torch.testing.assert_close(skipped_weights[name], weight, atol=1e-4, rtol=0)


def test_no_row_is_left_out_when_the_kl_or_the_entropy_bonus_reaches_it(tiny_model_path):
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(22), 4)
    advantages.zero_()
    for extra in ({"entropy_coeff": 0.01}, {"kl": KLConfig(coef=0.1, type="k1")}):
        learner = Learner(learner_setup(tiny_model_path, zero_stage=0, lr=1e-3, **extra))
        old, _ = learner.score(prompts, responses)
        metrics = learner.update(
            prompts, responses, advantages, old, learner.reference_logprobs(prompts, responses)
        )
        assert metrics["perf/rows_skipped"] == 0 and metrics["actor/grad_norm"] > 0
