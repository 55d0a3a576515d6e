"""Rollout correction weights against hand-computed vectors, and their place in the PPO loss."""

import math

import pytest
import torch

from algorithms.losses import policy_loss
from algorithms.rollout_correction import rollout_correction

# learner old log-probs and engine log-probs of 2 turns x 4 tokens; the second turn has 3 tokens
OLD = torch.tensor([[-1.0, -2.0, -0.5, -3.0], [-1.0, -1.0, -1.0, 0.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
# log rho = old - engine: row 0: log 3, log 0.25, 0, log 1.5; row 1: log 0.8, log 0.8, log 0.8 (and padding)
ENGINE = OLD - torch.log(torch.tensor([[3.0, 0.25, 1.0, 1.5], [0.8, 0.8, 0.8, 1.0]]))


def test_none_gives_ones_on_the_mask():
    out = rollout_correction(OLD, ENGINE, MASK, "none")
    assert torch.equal(out.weights, MASK)
    assert not out.truncated.any() and not out.masked.any()


def test_token_truncate_caps_the_ratio():
    out = rollout_correction(OLD, ENGINE, MASK, "token_truncate", cap=2.0)
    expected = torch.tensor([[2.0, 0.25, 1.0, 1.5], [0.8, 0.8, 0.8, 0.0]])
    assert torch.allclose(out.weights, expected, atol=1e-6)
    assert out.truncated.tolist() == [[True, False, False, False], [False, False, False, False]]
    assert torch.allclose(out.ratio[0], torch.tensor([3.0, 0.25, 1.0, 1.5]), atol=1e-6)


def test_token_mask_zeroes_tokens_outside_the_band():
    out = rollout_correction(OLD, ENGINE, MASK, "token_mask", low=0.5, high=2.0)
    expected = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    assert torch.equal(out.weights, expected)
    assert out.masked.tolist() == [[True, True, False, False], [False, False, False, False]]


def test_sequence_mask_uses_the_geometric_mean_ratio():
    # row 0: mean log rho = (log 3 + log 0.25 + 0 + log 1.5) / 4 = log(1.125) / 4 -> kept in [0.9, 1.1];
    # row 1: mean log rho = log 0.8 -> 0.8 < 0.9: the whole turn is masked
    out = rollout_correction(OLD, ENGINE, MASK, "sequence_mask", low=0.9, high=1.1)
    assert math.isclose(math.exp((math.log(3) + math.log(0.25) + math.log(1.5)) / 4), 1.125**0.25)
    assert torch.equal(out.weights, torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
    assert out.masked.sum() == 3  # only the turn's real tokens count as masked


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(ValueError, match="unknown rollout correction 'tis'"):
        rollout_correction(OLD, ENGINE, MASK, "tis")
    with pytest.raises(ValueError, match="same \\[N, T\\] shape"):
        rollout_correction(OLD, ENGINE[:, :3], MASK, "none")


def test_policy_loss_weights_each_token_before_aggregation():
    logprob = OLD + 0.05
    advantages = torch.tensor([[1.0, -1.0, 0.5, 2.0], [-0.5, 1.0, 1.0, 0.0]])
    weights = rollout_correction(OLD, ENGINE, MASK, "token_truncate", cap=2.0).weights
    weighted, *_ = policy_loss(OLD, logprob, advantages, MASK, token_weights=weights)
    # by hand: ratio exp(0.05) is inside the clip range, so each token's loss is -A * ratio
    per_token = -advantages * math.exp(0.05) * weights
    assert torch.isclose(weighted, (per_token * MASK).sum() / MASK.sum(), atol=1e-6)
    plain, *_ = policy_loss(OLD, logprob, advantages, MASK)
    assert not torch.isclose(weighted, plain)
