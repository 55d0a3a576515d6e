"""PPO loss, aggregation, KL estimators and the chunked entropy / log-prob helpers."""

from __future__ import annotations

import math

import pytest
import torch

from algorithms.losses import (
    LOSS_AGG_MODES,
    agg_loss,
    entropy_from_logits,
    kl_penalty,
    log_probs_from_logits,
    masked_mean,
    policy_loss,
)

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("token-mean", 7.0 / 3.0),
        ("seq-mean-token-sum", (3.0 + 4.0) / 2),
        ("seq-mean-token-mean", (1.5 + 4.0) / 2),
        ("seq-mean-token-sum-norm", 7.0 / 3.0),
    ],
)
def test_agg_loss_modes(mode: str, expected: float) -> None:
    assert agg_loss(LOSS, MASK, mode).item() == pytest.approx(expected)


def test_agg_loss_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown loss_agg_mode 'mean'"):
        agg_loss(LOSS, MASK, "mean")


@pytest.mark.parametrize("mode", LOSS_AGG_MODES)
def test_agg_loss_empty_rows_give_no_nan(mode: str) -> None:
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    value = agg_loss(LOSS, mask, mode)
    assert torch.isfinite(value)
    assert agg_loss(LOSS, torch.zeros_like(mask), mode).item() == 0.0


def test_policy_loss_hand_cases() -> None:
    # one token per row; ratios e^d; advantages +-1
    ratios = torch.tensor([1.1, 1.5, 0.5, 0.9, 5.0, 0.5])
    advantages = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])
    old = torch.zeros(6, 1)
    new = ratios.log()[:, None]
    mask = torch.ones(6, 1)
    loss, clipfrac, ppo_kl, clipfrac_lower = policy_loss(old, new, advantages[:, None], mask, cliprange=0.2)
    # per token: A=+1: -min(r, clip(r)) -> -1.1, -1.2, -0.5 ; A=-1: max(r, clip(r)) capped at c=3 -> 0.9, 3.0, 0.8
    expected = torch.tensor([-1.1, -1.2, -0.5, 0.9, 3.0, 0.8])
    assert loss.item() == pytest.approx(expected.mean().item(), abs=1e-6)
    assert clipfrac.item() == pytest.approx(2 / 6)  # rows 2 (1.5 clipped) and 6 (0.5 -> 0.8)
    assert clipfrac_lower.item() == pytest.approx(1 / 6)  # row 5: dual clip active
    assert ppo_kl.item() == pytest.approx(-ratios.log().mean().item(), abs=1e-6)


def test_policy_loss_asymmetric_clip_and_gradient() -> None:
    old = torch.zeros(2, 1)
    new = torch.tensor([[math.log(1.25)], [math.log(1.25)]], requires_grad=True)
    advantages = torch.tensor([[1.0], [1.0]])
    symmetric, *_ = policy_loss(old, new, advantages, torch.ones(2, 1), cliprange=0.2)
    higher, *_ = policy_loss(old, new, advantages, torch.ones(2, 1), cliprange_low=0.2, cliprange_high=0.28)
    assert symmetric.item() == pytest.approx(-1.2)
    assert higher.item() == pytest.approx(-1.25)
    higher.backward()
    torch.testing.assert_close(new.grad, torch.full((2, 1), -1.25 / 2))


def test_policy_loss_rejects_bad_dual_clip() -> None:
    with pytest.raises(ValueError, match="clip_ratio_c"):
        policy_loss(
            torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1), clip_ratio_c=1.0
        )


def test_kl_estimators_and_aliases() -> None:
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -1.0, -0.5])
    d = logp - ref
    torch.testing.assert_close(kl_penalty(logp, ref, "kl"), d)
    torch.testing.assert_close(kl_penalty(logp, ref, "k1"), d)
    torch.testing.assert_close(kl_penalty(logp, ref, "abs"), d.abs())
    torch.testing.assert_close(kl_penalty(logp, ref, "k2"), 0.5 * d**2)
    k3 = torch.exp(-d) + d - 1
    torch.testing.assert_close(kl_penalty(logp, ref, "low_var_kl"), k3)
    torch.testing.assert_close(kl_penalty(logp, ref, "k3"), k3)
    assert torch.all(kl_penalty(logp, ref, "k3") >= 0)
    assert kl_penalty(torch.tensor([0.0]), torch.tensor([20.0]), "low_var_kl").item() == 10.0


@pytest.mark.parametrize("kind", ["full", "kl2", ""])
def test_kl_unknown_kind(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown KL kind"):
        kl_penalty(torch.zeros(1), torch.zeros(1), kind)


def _reference_entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = torch.log_softmax(logits.float(), dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


@pytest.mark.parametrize("chunk_size", [1, 5, 64, 10_000])
def test_entropy_chunked_matches_direct_with_gradient(chunk_size: int) -> None:
    logits = torch.randn(3, 7, 11, generator=torch.Generator().manual_seed(0)) * 3
    ours_in = logits.clone().requires_grad_(True)
    ref_in = logits.clone().requires_grad_(True)
    ours = entropy_from_logits(ours_in, chunk_size=chunk_size)
    expected = _reference_entropy(ref_in)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    weights = torch.randn(3, 7)
    (ours * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(ours_in.grad, ref_in.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 4, 10_000])
def test_log_probs_chunked_matches_direct_with_gradient(chunk_size: int) -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 9, 13, generator=generator)
    labels = torch.randint(0, 13, (2, 9), generator=generator)
    ours_in = logits.clone().requires_grad_(True)
    ref_in = logits.clone().requires_grad_(True)
    ours = log_probs_from_logits(ours_in, labels, chunk_size=chunk_size)
    expected = torch.log_softmax(ref_in, -1).gather(-1, labels[..., None]).squeeze(-1)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    ours.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(ours_in.grad, ref_in.grad, atol=1e-5, rtol=1e-5)


def test_low_precision_logits_give_float32_results() -> None:
    logits = torch.randn(4, 6, 10).to(torch.bfloat16)
    labels = torch.zeros(4, 6, dtype=torch.long)
    assert entropy_from_logits(logits, chunk_size=5).dtype == torch.float32
    assert log_probs_from_logits(logits, labels).dtype == torch.float32
    torch.testing.assert_close(
        entropy_from_logits(logits), _reference_entropy(logits.float()), atol=1e-4, rtol=1e-4
    )


def test_chunked_helpers_edge_cases() -> None:
    assert entropy_from_logits(torch.zeros(0, 5, 8)).shape == (0, 5)
    uniform = entropy_from_logits(torch.zeros(2, 3, 8))
    torch.testing.assert_close(uniform, torch.full((2, 3), math.log(8.0)))
    with pytest.raises(ValueError, match="labels shape"):
        log_probs_from_logits(torch.zeros(2, 3, 8), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="chunk_size"):
        entropy_from_logits(torch.zeros(2, 3, 8), chunk_size=0)


def test_masked_mean_of_empty_mask_is_zero() -> None:
    assert masked_mean(torch.ones(2, 2), torch.zeros(2, 2)).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("which", ["entropy", "log_probs"])
def test_autograd_keeps_no_vocab_sized_copies(which: str, dtype: torch.dtype) -> None:
    """Under autograd only views of the caller's logits may be saved for backward: a [N, T, V] softmax
    (or float32 copy) kept per chunk would add up to the full-batch tensor the chunking exists to avoid."""
    logits = torch.randn(4, 8, 1000).to(dtype).requires_grad_(True)
    storage = logits.untyped_storage().data_ptr()
    new_elements = []

    def pack(saved: torch.Tensor) -> torch.Tensor:
        if saved.untyped_storage().data_ptr() != storage:
            new_elements.append(saved.numel())
        return saved

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda saved: saved):
        if which == "entropy":
            out = entropy_from_logits(logits, chunk_size=4)
        else:
            out = log_probs_from_logits(logits, torch.zeros(4, 8, dtype=torch.long), chunk_size=4)
    assert sum(new_elements) < 0.05 * logits.numel()
    out.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
