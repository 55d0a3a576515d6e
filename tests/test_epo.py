"""EPO loss term and state, from the formulas of the EPO paper (arXiv 2509.22576; no reference vectors exist)."""

from __future__ import annotations

import io
import math

import pytest
import torch

from algorithms.epo import EPOState, epo_entropy_loss, smoothing_hinge
from algorithms.losses import agg_loss


def state_with_history(values: list[float], total_steps: int = 10) -> EPOState:
    state = EPOState(total_steps=total_steps)
    for value in values:
        state.update(value)
    return state


def test_beta_schedule_values() -> None:
    state = EPOState(total_steps=10)
    assert state.beta(decay=1.0) == pytest.approx(2.0)
    for k, expected in [(5, 1 + math.exp(-1.0)), (10, 1 + math.exp(-2.0))]:
        state.step = k
        assert state.beta(decay=1.0) == pytest.approx(expected)
    state.step = 5
    assert state.beta(decay=3.0) == pytest.approx(1 + math.exp(-3.0))
    single = EPOState(total_steps=1, step=1)  # floor(K/2) = 0 is guarded to 1
    assert single.beta(decay=1.0) == pytest.approx(1 + math.exp(-1.0))


def test_history_is_the_cumulative_mean_of_previous_steps() -> None:
    state = EPOState(total_steps=4)
    assert state.history_mean() is None
    state.update(1.0)
    state.update(torch.tensor(2.0))
    state.update(6.0)
    assert state.history_mean() == pytest.approx(3.0) and state.step == 3


def test_state_validation() -> None:
    with pytest.raises(ValueError, match="total_steps"):
        EPOState(total_steps=0)
    with pytest.raises(ValueError, match="non-finite"):
        EPOState(total_steps=3).update(float("nan"))


def test_state_dict_round_trip_through_torch_save() -> None:
    state = state_with_history([0.7, 1.1, 0.9], total_steps=20)
    buffer = io.BytesIO()
    torch.save(state.state_dict(), buffer)
    buffer.seek(0)
    restored = EPOState(total_steps=1)
    restored.load_state_dict(torch.load(buffer))
    assert restored == state
    assert restored.history_mean() == state.history_mean() and restored.beta(2.0) == state.beta(2.0)


def test_released_weight_schedule() -> None:
    state = EPOState(total_steps=500)
    expected = {
        0: 1.0,
        75: 1 - 0.2 * (1 - math.exp(-2.0)),
        150: 0.8 * math.exp(-3.0),
        1000: 0.8 * math.exp(-3.0),
    }
    for k, value in expected.items():
        state.step = k
        assert state.released_weight() == pytest.approx(value)


def test_no_smoothing_before_any_history() -> None:
    entropy = torch.tensor([[0.1, 5.0, 1.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, metrics = epo_entropy_loss(
        entropy, mask, EPOState(total_steps=5), coef=0.5, alpha=1.0, kappa_high=1.2
    )
    assert loss.item() == pytest.approx(-0.5 * agg_loss(entropy, mask, "seq-mean-token-mean").item())
    assert metrics["epo/smooth_loss"] == 0.0 and metrics["epo/smooth_weight"] == 0.0


def test_hinge_gradient_points_back_into_the_band() -> None:
    entropy = torch.tensor([0.2, 1.0, 3.0], requires_grad=True)
    smoothing_hinge(entropy, history_mean=1.0, kappa_low=0.5, kappa_high=1.5).sum().backward()
    assert entropy.grad.tolist() == [-1.0, 0.0, 1.0]


def test_paper_loss_gradient_step_moves_entropy_into_band_from_both_sides() -> None:
    state = state_with_history([1.0, 1.0], total_steps=10)  # Hbar = 1, k = 2
    beta, alpha, coef = state.beta(1.0), 5.0, 1.0
    entropy = torch.tensor([[0.2, 1.0, 3.0]], requires_grad=True)
    mask = torch.ones(1, 3)
    loss, metrics = epo_entropy_loss(
        entropy,
        mask,
        state,
        coef=coef,
        alpha=alpha,
        kappa_low=0.5,
        kappa_high=1.5,
        decay=1.0,
        agg_mode="token-mean",
    )
    loss.backward()
    # d/dH of -(H - beta*alpha*hinge)/3: below band -(1 + beta*alpha)/3, inside -1/3, above (beta*alpha - 1)/3
    expected_grad = torch.tensor([[-(1 + beta * alpha), -1.0, beta * alpha - 1]]) / 3
    torch.testing.assert_close(entropy.grad, expected_grad)
    stepped = entropy.detach() - 0.1 * entropy.grad
    assert stepped[0, 0] > 0.2 and stepped[0, 2] < 3.0
    hinge_part = alpha * (0.5 - 0.2 + 3.0 - 1.5) / 3
    assert metrics["epo/smooth_loss"] == pytest.approx(hinge_part)
    assert loss.item() == pytest.approx(-coef * ((0.2 + 1.0 + 3.0) / 3 - beta * hinge_part))
    assert metrics["epo/out_of_band_frac"] == pytest.approx(2 / 3)
    assert metrics["epo/smooth_weight"] == pytest.approx(beta)


def test_paper_loss_ignores_masked_tokens() -> None:
    state = state_with_history([1.0])
    entropy = torch.tensor([[0.1, 9.0]], requires_grad=True)
    loss, metrics = epo_entropy_loss(entropy, torch.tensor([[1.0, 0.0]]), state, alpha=1.0, kappa_low=0.5)
    loss.backward()
    assert entropy.grad[0, 1].item() == 0.0 and entropy.grad[0, 0].item() < 0
    assert metrics["epo/out_of_band_frac"] == pytest.approx(1.0)


def test_released_smoothing_is_gradient_free_and_shifts_the_value() -> None:
    state = state_with_history([1.0, 1.0, 1.0])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    values = torch.tensor([[0.2, 1.0, 3.0], [1.4, 0.9, 7.0]])
    released_in = values.clone().requires_grad_(True)
    bonus_in = values.clone().requires_grad_(True)
    kwargs = {
        "coef": 0.01,
        "alpha": 0.1,
        "kappa_low": 0.5,
        "kappa_high": 1.2,
        "agg_mode": "seq-mean-token-mean",
    }
    loss, metrics = epo_entropy_loss(released_in, mask, state, smoothing="released", **kwargs)
    plain_bonus = -0.01 * agg_loss(bonus_in, mask, "seq-mean-token-mean")
    loss.backward()
    plain_bonus.backward()
    torch.testing.assert_close(released_in.grad, bonus_in.grad)
    # out of (0.5, 1.2): row 0 -> 0.2, 3.0 (2 of 3); row 1 -> 1.4 (1 of 2)
    smooth = 0.1 * (2 / 3 + 1 / 2) / 2
    assert metrics["epo/smooth_loss"] == pytest.approx(smooth)
    assert loss.item() == pytest.approx(plain_bonus.item() + 0.01 * state.released_weight() * smooth)


def test_bad_options() -> None:
    state = state_with_history([1.0])
    entropy, mask = torch.ones(1, 2), torch.ones(1, 2)
    with pytest.raises(ValueError, match="smoothing"):
        epo_entropy_loss(entropy, mask, state, smoothing="code")
    with pytest.raises(ValueError, match="kappa_low"):
        epo_entropy_loss(entropy, mask, state, kappa_low=2.0, kappa_high=1.0)
    with pytest.raises(ValueError, match="loss_agg_mode"):
        epo_entropy_loss(entropy, mask, state, agg_mode="sum")


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum-norm"])
def test_epo_term_aggregates_with_the_learners_mode(mode):
    """The learner rescales an extra loss by ``loss_agg_mode``'s share of the mini-batch; EPO's term must be
    aggregated with that same mode, or micro-batches of different sizes are weighed wrongly."""
    from trainer.build import epo_regularizer
    from trainer.config import load_config
    from trainer.learner.update import aggregation_units

    config = load_config(None, ["algorithm.name=epo", f"learner.loss_agg_mode={mode}"])
    loss_fn = epo_regularizer(config)
    assert loss_fn.agg_mode == mode
    torch.manual_seed(0)
    entropy = torch.rand(6, 5)
    mask = (torch.rand(6, 5) > 0.3).float()
    mask[:, 0] = 1
    whole, _ = loss_fn(entropy, mask)
    # the learner's recombination of two micro-batches equals the whole-batch value
    lengths = mask.sum(1).int().tolist()
    total = aggregation_units(mode, lengths) if mode != "seq-mean-token-sum-norm" else 1.0
    parts = [(slice(0, 2)), (slice(2, 6))]
    combined = sum(
        loss_fn(entropy[p], mask[p])[0]
        * (aggregation_units(mode, lengths[p]) / total if mode != "seq-mean-token-sum-norm" else 1.0)
        for p in parts
    )
    assert torch.allclose(combined, whole, atol=1e-6)
