"""Every output of the reference vectors (tests/data, layout in tests/data/SCHEMA.md) reproduced to atol 1e-5.

The vectors come from verl-agent's reference behaviour (AEM: the formula derived from its paper's abstract,
written out in algorithms/aem.py). Inputs go through our public API only: a StepBatch built from the rows
and `estimate`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from algorithms import StepBatch, estimate
from algorithms.aem import aem_scales
from algorithms.gigpo import gigpo_parts
from algorithms.grpo import episode_advantages
from algorithms.losses import LOSS_AGG_MODES, agg_loss, entropy_from_logits, kl_penalty, policy_loss
from algorithms.rewards import step_discounted_returns, step_returns_after_penalty, token_level_rewards
from algorithms.segments import dense_ids

ATOL = 1e-5
SEEDS = (0, 1, 2)
GIGPO_MODES = {"mean_std_norm": "mean_std", "mean_norm": "mean"}
KL_KINDS = ("kl", "abs", "mse", "low_var_kl")
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def vectors(request: pytest.FixtureRequest) -> dict:
    return json.loads((DATA / f"vectors_seed{request.param}.json").read_text())


def tensor(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def assert_close(actual: torch.Tensor | float, expected: object, what: str) -> None:
    actual_t = torch.as_tensor(actual, dtype=torch.float32)
    expected_t = tensor(expected)
    assert actual_t.shape == expected_t.shape, (
        f"{what}: shape {tuple(actual_t.shape)} != {tuple(expected_t.shape)}"
    )
    error = float((actual_t - expected_t).abs().max()) if actual_t.numel() else 0.0
    assert error <= ATOL, f"{what}: max abs error {error:.3g} > {ATOL}"


def make_batch(vectors: dict) -> StepBatch:
    inputs, rows = vectors["inputs"], vectors["inputs"]["rows"]
    return StepBatch(
        group_id=rows["uid"],
        traj_id=rows["traj_uid"],
        step=rows["step_idx"],
        reward=tensor(rows["env_reward"]),
        anchor=rows["anchor_obs"],
        valid=torch.tensor(rows["is_action_valid"], dtype=torch.bool),
        response_mask=tensor(inputs["response_mask"]),
        old_logprobs=tensor(inputs["old_log_probs"]),
        entropy=entropy_from_logits(tensor(inputs["logits"])),
        ref_logprobs=tensor(inputs["ref_log_probs"]),
    )


def test_params_are_the_ones_we_use(vectors: dict) -> None:
    params = vectors["params"]
    assert params["gamma"] == 0.95 and params["step_advantage_w"] == 1.0
    assert params["epsilon"] == 1e-6 and params["invalid_action_penalty_coef"] == 0.1
    assert params["aem_lambda"] == 1.0 and not params["gigpo_enable_similarity"]
    assert list(params["loss_agg_modes"]) == list(LOSS_AGG_MODES)


def test_reward_quantities(vectors: dict) -> None:
    batch, out = make_batch(vectors), vectors["outputs"]
    assert_close(
        step_discounted_returns(batch, 0.95), out["step_discounted_returns"], "step_discounted_returns"
    )
    assert_close(
        step_returns_after_penalty(batch, 0.95, 0.1), out["step_rewards_after_penalty"], "after penalty"
    )
    assert_close(token_level_rewards(batch, 0.1), out["token_level_rewards"], "token_level_rewards")


@pytest.mark.parametrize(
    ("variant", "params"),
    [
        ("mean_std", {"norm": "mean_std"}),
        ("mean_only", {"norm": "mean"}),
        ("mean_std_per_trajectory_stats", {"norm": "mean_std", "per_trajectory_stats": True}),
    ],
)
def test_grpo(vectors: dict, variant: str, params: dict) -> None:
    batch, expected = make_batch(vectors), vectors["outputs"]["grpo"][variant]
    assert_close(estimate("grpo", batch, **params), expected["advantages"], f"grpo.{variant}.advantages")
    if "per_row_scalar" in expected:
        rows = episode_advantages(
            batch,
            params["norm"],
            params.get("per_trajectory_stats", False),
            invalid_penalty=0.1,
            epsilon=1e-6,
        )
        assert_close(rows, expected["per_row_scalar"], f"grpo.{variant}.per_row_scalar")


@pytest.mark.parametrize("mode", list(GIGPO_MODES))
def test_gigpo(vectors: dict, mode: str) -> None:
    batch, expected = make_batch(vectors), vectors["outputs"]["gigpo"][mode]
    norm = GIGPO_MODES[mode]
    mask = batch.float_mask()
    parts = gigpo_parts(batch, gamma=0.95, norm=norm, invalid_penalty=0.1)
    assert_close(
        parts.episode.float()[:, None] * mask, expected["episode_advantages"], f"gigpo.{mode}.episode"
    )
    assert_close(parts.step.float()[:, None] * mask, expected["step_advantages"], f"gigpo.{mode}.step")
    ours, _ = dense_ids(parts.step_group.tolist())
    theirs, _ = dense_ids(expected["step_group_ids"])
    assert torch.equal(ours, theirs), f"gigpo.{mode}: step-group partition differs"
    advantages = estimate("gigpo", batch, gamma=0.95, step_weight=1.0, norm=norm, invalid_penalty=0.1)
    assert_close(advantages, expected["advantages"], f"gigpo.{mode}.advantages")


def test_policy_loss(vectors: dict) -> None:
    batch, inputs, expected = make_batch(vectors), vectors["inputs"], vectors["outputs"]["policy_loss"]
    sources = {
        "gigpo_mean_std_norm": estimate("gigpo", batch, norm="mean_std"),
        "grpo_mean_std": estimate("grpo", batch, norm="mean_std"),
    }
    assert set(expected) == set(sources)
    checked = 0
    for source, advantages in sources.items():
        for clip_name, clip in vectors["params"]["clip_configs"].items():
            for mode in LOSS_AGG_MODES:
                outputs = policy_loss(
                    batch.old_logprobs,
                    tensor(inputs["log_probs"]),
                    advantages,
                    batch.response_mask,
                    cliprange=clip["cliprange"],
                    cliprange_low=clip["cliprange_low"],
                    cliprange_high=clip["cliprange_high"],
                    clip_ratio_c=clip["clip_ratio_c"],
                    loss_agg_mode=mode,
                )
                reference = expected[source][clip_name][mode]
                for key, value in zip(("pg_loss", "pg_clipfrac", "ppo_kl", "pg_clipfrac_lower"), outputs):
                    assert_close(value, reference[key], f"policy_loss.{source}.{clip_name}.{mode}.{key}")
                    checked += 1
    assert checked == 2 * 2 * 4 * 4


@pytest.mark.parametrize("kind", KL_KINDS)
def test_kl_penalty(vectors: dict, kind: str) -> None:
    inputs, expected = vectors["inputs"], vectors["outputs"]["kl_penalty"][kind]
    elementwise = kl_penalty(tensor(inputs["log_probs"]), tensor(inputs["ref_log_probs"]), kind)
    assert_close(elementwise, expected["elementwise"], f"kl.{kind}.elementwise")
    for mode in LOSS_AGG_MODES:
        value = agg_loss(elementwise, tensor(inputs["response_mask"]), mode)
        assert_close(value, expected["agg"][mode], f"kl.{kind}.agg.{mode}")


def test_entropy(vectors: dict) -> None:
    inputs, expected = vectors["inputs"], vectors["outputs"]["entropy"]
    token_entropy = entropy_from_logits(tensor(inputs["logits"]), chunk_size=7)
    assert_close(token_entropy, expected["token_entropy"], "entropy.token_entropy")
    for mode in LOSS_AGG_MODES:
        value = agg_loss(token_entropy, tensor(inputs["response_mask"]), mode)
        assert_close(value, expected["entropy_loss"][mode], f"entropy.entropy_loss.{mode}")


def test_aem(vectors: dict) -> None:
    batch, expected = make_batch(vectors), vectors["outputs"]["aem_derived"]
    assert expected["group_key"] == "uid"
    scales = aem_scales(batch, lam=expected["lambda"], uncertainty="entropy")
    assert_close(scales.uncertainty, expected["mean_token_entropy"], "aem.mean_token_entropy")
    assert_close(scales.htil, expected["htil"], "aem.htil")
    assert_close(scales.alpha, expected["alpha"], "aem.alpha")
    grpo_based = estimate("aem", batch, base="grpo", lam=expected["lambda"], norm="mean_std")
    assert_close(grpo_based, expected["advantages"]["grpo_mean_std"], "aem.advantages.grpo_mean_std")
    gigpo_based = estimate("aem", batch, base="gigpo", lam=expected["lambda"], norm="mean_std", gamma=0.95)
    assert_close(
        gigpo_based, expected["advantages"]["gigpo_mean_std_norm"], "aem.advantages.gigpo_mean_std_norm"
    )


def test_reference_covers_the_edge_cases(vectors: dict) -> None:
    """The std = 0 group (g2) must come out as exactly 0 GRPO advantage; seed 2's singleton g3 as its raw score."""
    batch = make_batch(vectors)
    advantages = estimate("grpo", batch)
    in_g2 = torch.tensor([g == "g2" for g in batch.group_id])
    assert in_g2.any() and torch.all(advantages[in_g2] == 0)
    if "g3" in batch.group_id:
        row = batch.group_id.index("g3")
        assert batch.group_id.count("g3") == 1
        expected = float(batch.reward[row]) - (0.0 if bool(batch.valid[row]) else 0.1)
        assert advantages[row, 0].item() == pytest.approx(expected, abs=1e-5)
