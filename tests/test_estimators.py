"""Estimators on hand-computed examples, the registry contract, StepBatch validation, GiGPO
similarity grouping (verl-agent's ``build_step_group``) and AEM (the formula in algorithms/aem.py) behaviour."""

from __future__ import annotations

import difflib
import math
import random

import pytest
import torch

from algorithms import (
    ESTIMATORS,
    StepBatch,
    available_estimators,
    estimate,
    estimator_params,
    register_estimator,
)
from algorithms.aem import aem_scales
from algorithms.gigpo import gigpo_parts
from algorithms.segments import dense_ids
from algorithms.step_groups import build_step_groups


def make_batch(trajectories: list[dict], width: int = 3, seed: int = 0) -> StepBatch:
    """Rows from {"group", "traj", "rewards", optional "anchors", "valid", "lengths"}; trajectory-major."""
    rows: dict[str, list] = {k: [] for k in ("group", "traj", "step", "reward", "anchor", "valid", "length")}
    for tr in trajectories:
        n = len(tr["rewards"])
        rows["group"] += [tr["group"]] * n
        rows["traj"] += [tr["traj"]] * n
        rows["step"] += list(range(n))
        rows["reward"] += tr["rewards"]
        rows["anchor"] += tr.get("anchors", [f"{tr['group']}:{t}" for t in range(n)])
        rows["valid"] += tr.get("valid", [True] * n)
        rows["length"] += tr.get("lengths", [width] * n)
    generator = torch.Generator().manual_seed(seed)
    num_rows = len(rows["group"])
    mask = (torch.arange(width)[None, :] < torch.tensor(rows["length"])[:, None]).float()
    return StepBatch(
        group_id=rows["group"],
        traj_id=rows["traj"],
        step=rows["step"],
        reward=torch.tensor(rows["reward"], dtype=torch.float32),
        anchor=rows["anchor"],
        valid=torch.tensor(rows["valid"], dtype=torch.bool),
        response_mask=mask,
        old_logprobs=-torch.rand(num_rows, width, generator=generator) * 3 * mask,
        entropy=torch.rand(num_rows, width, generator=generator) * 2 * mask,
    )


TWO_TRAJ_GROUP = [
    {"group": "A", "traj": "a1", "rewards": [0.0, 10.0]},
    {"group": "A", "traj": "a2", "rewards": [0.0]},
]


# ---------------------------------------------------------------- registry


def test_registry_lists_all_estimators() -> None:
    assert available_estimators() == ["aem", "epo", "gigpo", "grpo"]
    assert set(ESTIMATORS) == set(available_estimators())


def test_unknown_estimator_lists_registered_names() -> None:
    with pytest.raises(ValueError, match="unknown estimator 'ppo'.*aem, epo, gigpo, grpo"):
        estimate("ppo", make_batch(TWO_TRAJ_GROUP))


@pytest.mark.parametrize("name", ["grpo", "gigpo", "epo", "aem"])
def test_unknown_parameter_is_named(name: str) -> None:
    with pytest.raises(TypeError, match="gama"):
        estimate(name, make_batch(TWO_TRAJ_GROUP), gama=0.9)


def test_bad_parameter_values_are_rejected() -> None:
    batch = make_batch(TWO_TRAJ_GROUP)
    with pytest.raises(ValueError, match="norm"):
        estimate("grpo", batch, norm="std")
    with pytest.raises(ValueError, match="gamma"):
        estimate("gigpo", batch, gamma=1.5)
    with pytest.raises(ValueError, match="base"):
        estimate("aem", batch, base="aem")
    with pytest.raises(ValueError, match="base"):
        estimate("epo", batch, base="ppo")
    with pytest.raises(ValueError, match="invalid_penalty"):
        estimate("grpo", batch, invalid_penalty=-1.0)


def test_register_custom_estimator_and_reject_duplicates() -> None:
    @register_estimator("test_zero")
    def zero(batch: StepBatch, *, scale: float = 1.0) -> torch.Tensor:
        return torch.ones(batch.num_rows, batch.response_length) * scale

    try:
        batch = make_batch([{"group": "A", "traj": "a", "rewards": [1.0], "lengths": [2]}])
        assert estimate("test_zero", batch, scale=2.0).tolist() == [[2.0, 2.0, 0.0]]
        assert estimator_params("test_zero") == {"scale": 1.0}
        with pytest.raises(ValueError, match="already registered"):
            register_estimator("test_zero")(zero)
    finally:
        ESTIMATORS.pop("test_zero")


def test_estimator_output_shape_is_checked() -> None:
    @register_estimator("test_bad_shape")
    def bad(batch: StepBatch) -> torch.Tensor:
        return torch.zeros(batch.num_rows + 1)

    try:
        with pytest.raises(RuntimeError, match="returned shape"):
            estimate("test_bad_shape", make_batch(TWO_TRAJ_GROUP))
    finally:
        ESTIMATORS.pop("test_bad_shape")


def test_documented_defaults() -> None:
    assert estimator_params("grpo")["norm"] == "mean_std"
    gigpo_defaults = estimator_params("gigpo")
    assert gigpo_defaults["norm"] == "mean" and gigpo_defaults["gamma"] == 0.95
    assert gigpo_defaults["similarity_threshold"] is None and gigpo_defaults["invalid_penalty"] == 0.1


# ---------------------------------------------------------------- StepBatch validation


def _fields(**overrides: object) -> dict:
    base = {
        "group_id": ["g", "g"],
        "traj_id": ["t", "t"],
        "step": [0, 1],
        "reward": torch.zeros(2),
        "anchor": ["s0", "s1"],
        "valid": torch.ones(2, dtype=torch.bool),
        "response_mask": torch.ones(2, 3),
        "old_logprobs": torch.zeros(2, 3),
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"group_id": ["g"]}, "group_id has length 1"),
        ({"anchor": ["s0"]}, "anchor has length 1"),
        ({"reward": torch.zeros(3)}, r"reward has shape \(3,\)"),
        ({"reward": [0.0, 0.0]}, "reward must be a torch.Tensor"),
        ({"reward": torch.tensor([0.0, float("nan")])}, "NaN or inf"),
        ({"valid": torch.ones(2)}, "valid must be a bool tensor"),
        ({"old_logprobs": torch.zeros(2, 4)}, r"old_logprobs has shape \(2, 4\)"),
        ({"entropy": torch.zeros(3, 3)}, "entropy has shape"),
        ({"response_mask": torch.ones(2)}, "response_mask must be a 2-D tensor"),
        ({"response_mask": torch.full((2, 3), 0.5)}, "only 0 and 1"),
        ({"step": [0, 0]}, "two rows with step 0"),
        ({"step": [0.0, 1.0]}, "step must hold ints"),
        ({"group_id": ["g", "h"]}, "appears in two groups"),
        ({"anchor": ["s0", 3]}, "anchor must hold strings"),
    ],
)
def test_step_batch_rejects_bad_input(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StepBatch(**_fields(**overrides))


def test_step_batch_accepts_tensor_steps_and_bool_mask() -> None:
    batch = StepBatch(**_fields(step=torch.tensor([3, 1]), response_mask=torch.ones(2, 3, dtype=torch.bool)))
    assert batch.step.dtype == torch.long and batch.float_mask().dtype == torch.float32


# ---------------------------------------------------------------- GRPO


def test_grpo_hand_computed_step_row_statistics() -> None:
    # Scores per row: 10, 10 (trajectory a1, two turns), 0 (a2): mean 20/3, unbiased std sqrt(100/3).
    batch = make_batch(TWO_TRAJ_GROUP)
    std = math.sqrt(100 / 3)
    expected = torch.tensor([10 / 3 / std, 10 / 3 / std, -20 / 3 / std])
    advantages = estimate("grpo", batch)
    assert advantages.dtype == torch.float32
    torch.testing.assert_close(advantages[:, 0], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        estimate("grpo", batch, norm="mean")[:, 0], torch.tensor([10 / 3, 10 / 3, -20 / 3])
    )


def test_grpo_per_trajectory_statistics() -> None:
    # One sample per trajectory: 10 and 0 -> mean 5, std sqrt(50).
    advantages = estimate("grpo", make_batch(TWO_TRAJ_GROUP), per_trajectory_stats=True)
    value = 5 / math.sqrt(50)
    torch.testing.assert_close(advantages[:, 0], torch.tensor([value, value, -value]), atol=1e-5, rtol=0)


def test_grpo_per_trajectory_statistics_without_spread_do_not_divide_a_penalty_by_eps() -> None:
    # Both trajectories score 10 on their first turn (std 0); a2's second turn was rejected: 10 - 0.5
    trajectories = [
        {"group": "A", "traj": "a1", "rewards": [0.0, 10.0]},
        {"group": "A", "traj": "a2", "rewards": [0.0, 10.0], "valid": [True, False]},
    ]
    advantages = estimate("grpo", make_batch(trajectories), per_trajectory_stats=True, invalid_penalty=0.5)
    # mean 10, std 0 -> 1: the rejected row keeps -0.5 / (1 + eps); before, -0.5 / eps = -5e5
    torch.testing.assert_close(advantages[:, 0], torch.tensor([0.0, 0.0, 0.0, -0.5]), atol=1e-5, rtol=0)


def test_grpo_invalid_penalty_hits_only_its_row() -> None:
    trajectories = [dict(TWO_TRAJ_GROUP[0], valid=[False, True]), TWO_TRAJ_GROUP[1]]
    advantages = estimate("grpo", make_batch(trajectories), norm="mean")
    mean = (9.9 + 10 + 0) / 3
    torch.testing.assert_close(
        advantages[:, 0], torch.tensor([9.9 - mean, 10 - mean, -mean]), atol=1e-5, rtol=0
    )


def test_grpo_singleton_group_keeps_raw_score() -> None:
    batch = make_batch([{"group": "S", "traj": "s", "rewards": [10.0]}])
    assert estimate("grpo", batch)[0, 0].item() == pytest.approx(10.0 / (1 + 1e-6))
    assert estimate("grpo", batch, norm="mean")[0, 0].item() == 10.0


# ---------------------------------------------------------------- GiGPO

GIGPO_EXAMPLE = [
    {"group": "g", "traj": "t1", "rewards": [0.0, 0.0, 10.0], "anchors": ["s", "x", "y"]},
    {"group": "g", "traj": "t2", "rewards": [0.0, 0.0], "anchors": ["s", "x"]},
    {"group": "h", "traj": "t3", "rewards": [0.0], "anchors": ["s"]},
]


def test_gigpo_hand_computed() -> None:
    batch = make_batch(GIGPO_EXAMPLE)
    parts = gigpo_parts(batch, gamma=0.5, norm="mean")
    # step returns t1: 2.5, 5, 10; t2: 0, 0. Step groups (g,s): {2.5, 0}, (g,x): {5, 0}, (g,y) and (h,s) singletons.
    torch.testing.assert_close(parts.step.float(), torch.tensor([1.25, 2.5, 0.0, -1.25, -2.5, 0.0]))
    # episode scores g: 10, 10, 10, 0, 0 (mean 6); h is a singleton group -> raw score 0.
    torch.testing.assert_close(parts.episode.float(), torch.tensor([4.0, 4.0, 4.0, -6.0, -6.0, 0.0]))
    advantages = estimate("gigpo", batch, gamma=0.5, step_weight=0.5)
    torch.testing.assert_close(advantages[:, 0], torch.tensor([4.625, 5.25, 4.0, -6.625, -7.25, 0.0]))


def test_gigpo_mean_std_divides_step_term_by_group_std() -> None:
    parts = gigpo_parts(make_batch(GIGPO_EXAMPLE), gamma=0.5, norm="mean_std")
    std_s, std_x = math.sqrt(2 * 1.25**2), math.sqrt(2 * 2.5**2)
    expected = [1.25 / std_s, 2.5 / std_x, 0.0, -1.25 / std_s, -2.5 / std_x, 0.0]
    torch.testing.assert_close(parts.step.float(), torch.tensor(expected), atol=1e-5, rtol=0)


def test_gigpo_penalty_is_not_discounted_back() -> None:
    trajectories = [dict(GIGPO_EXAMPLE[0], valid=[True, False, True]), GIGPO_EXAMPLE[1]]
    parts = gigpo_parts(make_batch(trajectories), gamma=0.5, norm="mean", invalid_penalty=0.1)
    # only (g,x) changes: returns {4.9, 0}; (g,s) keeps {2.5, 0}
    torch.testing.assert_close(parts.step.float(), torch.tensor([1.25, 2.45, 0.0, -1.25, -2.45]))


def test_gigpo_never_merges_anchor_across_episode_groups() -> None:
    groups, _ = build_step_groups(make_batch(GIGPO_EXAMPLE))
    assert groups.tolist() == [0, 1, 2, 0, 1, 3]


# ---------------------------------------------------------------- invalid turns without the episode outcome

# a1 wins with a rejected first turn, a3 loses with a rejected last turn; penalty 0.5.
# Scores per row: 9.5, 10 | 0 | 0, -0.5: mean 3.8, deviations 5.7, 6.2, -3.8, -3.8, -4.3.
NO_OP_GROUP = [
    {"group": "A", "traj": "a1", "rewards": [0.0, 10.0], "valid": [False, True]},
    {"group": "A", "traj": "a2", "rewards": [0.0]},
    {"group": "A", "traj": "a3", "rewards": [0.0, 0.0], "valid": [True, False]},
]
NO_OP_DEVIATIONS = [5.7, 6.2, -3.8, -3.8, -4.3]
NO_OP_STD = math.sqrt(sum(d * d for d in NO_OP_DEVIATIONS) / 4)


def test_invalid_penalty_only_grpo_hand_computed() -> None:
    batch = make_batch(NO_OP_GROUP)
    on = estimate("grpo", batch, invalid_penalty=0.5, invalid_penalty_only=True)[:, 0]
    expected = [d / (NO_OP_STD + 1e-6) for d in NO_OP_DEVIATIONS]
    expected[0] = expected[4] = -0.5 / (NO_OP_STD + 1e-6)
    torch.testing.assert_close(on, torch.tensor(expected), atol=1e-6, rtol=0)
    assert on[0] < 0  # the rejected turn of the won episode no longer shares its win

    on_mean = estimate("grpo", batch, norm="mean", invalid_penalty=0.5, invalid_penalty_only=True)[:, 0]
    torch.testing.assert_close(on_mean, torch.tensor([-0.5, 6.2, -3.8, -3.8, -0.5]), atol=1e-6, rtol=0)


def test_invalid_penalty_only_off_is_todays_advantage_bit_for_bit() -> None:
    batch = make_batch(NO_OP_GROUP + GIGPO_EXAMPLE)
    for name, params in [("grpo", {}), ("grpo", {"norm": "mean"}), ("gigpo", {"gamma": 0.5})]:
        today = estimate(name, batch, invalid_penalty=0.5, **params)
        assert torch.equal(
            estimate(name, batch, invalid_penalty=0.5, invalid_penalty_only=False, **params), today
        )
        on = estimate(name, batch, invalid_penalty=0.5, invalid_penalty_only=True, **params)
        assert torch.equal(on[batch.valid], today[batch.valid]), (name, params)  # same group statistics
        assert not torch.equal(on[~batch.valid], today[~batch.valid]), (name, params)
    torch.testing.assert_close(
        estimate("grpo", make_batch(NO_OP_GROUP), invalid_penalty=0.5)[:, 0],
        torch.tensor([d / (NO_OP_STD + 1e-6) for d in NO_OP_DEVIATIONS]),
        atol=1e-6,
        rtol=0,
    )


def test_invalid_penalty_only_without_spread_takes_std_one() -> None:
    # Group Z: every row rejected in lost episodes (scores all -0.5, std 0); S: a singleton group.
    batch = make_batch(
        [
            {"group": "Z", "traj": "z1", "rewards": [0.0, 0.0], "valid": [False, False]},
            {"group": "Z", "traj": "z2", "rewards": [0.0], "valid": [False]},
            {"group": "S", "traj": "s", "rewards": [10.0], "valid": [False]},
        ]
    )
    assert estimate("grpo", batch, invalid_penalty=0.5)[:3, 0].tolist() == [0.0, 0.0, 0.0]
    on = estimate("grpo", batch, invalid_penalty=0.5, invalid_penalty_only=True)[:, 0]
    torch.testing.assert_close(on, torch.full((4,), -0.5 / (1 + 1e-6)), atol=1e-7, rtol=0)


def test_invalid_penalty_only_gigpo_hand_computed() -> None:
    # GIGPO_EXAMPLE with t1's middle turn rejected (penalty 0.1, gamma 0.5): step terms 1.25, 2.45, 0, -1.25, -2.45
    # (test_gigpo_penalty_is_not_discounted_back); episode scores 10, 9.9, 10, 0, 0 (mean 5.98).
    trajectories = [dict(GIGPO_EXAMPLE[0], valid=[True, False, True]), GIGPO_EXAMPLE[1]]
    batch = make_batch(trajectories)
    step = [1.25, 2.45, 0.0, -1.25, -2.45]
    episode = [4.02, 3.92, 4.02, -5.98, -5.98]

    parts = gigpo_parts(batch, gamma=0.5, norm="mean", invalid_penalty_only=True)
    torch.testing.assert_close(parts.step.float(), torch.tensor(step))
    torch.testing.assert_close(parts.episode.float(), torch.tensor([4.02, -0.1, 4.02, -5.98, -5.98]))
    on = estimate("gigpo", batch, gamma=0.5, invalid_penalty_only=True)[:, 0]
    off = estimate("gigpo", batch, gamma=0.5)[:, 0]
    torch.testing.assert_close(on, torch.tensor([5.27, 2.35, 4.02, -7.23, -8.43]))
    torch.testing.assert_close(off, torch.tensor([5.27, 6.37, 4.02, -7.23, -8.43]))

    std = math.sqrt(sum(e * e for e in episode) / 4)
    on_std = gigpo_parts(batch, gamma=0.5, norm="mean_std", invalid_penalty_only=True)
    expected = [e / (std + 1e-6) for e in episode]
    expected[1] = -0.1 / (std + 1e-6)
    torch.testing.assert_close(on_std.episode.float(), torch.tensor(expected), atol=1e-6, rtol=0)


def test_invalid_penalty_only_reaches_epo_and_aem_bases() -> None:
    batch = make_batch(NO_OP_GROUP)
    params = {"invalid_penalty": 0.5, "invalid_penalty_only": True}
    for base, extra in [("grpo", {}), ("gigpo", {"gamma": 0.5})]:
        on = estimate(base, batch, **params, **extra)
        torch.testing.assert_close(estimate("epo", batch, base=base, **params, **extra), on)
        alpha = aem_scales(batch).alpha
        torch.testing.assert_close(estimate("aem", batch, base=base, **params, **extra), on * alpha[:, None])


# ---------------------------------------------------------------- similarity grouping (verl-agent build_step_group)


def greedy_clusters_reference(
    anchors_by_group: dict[str, list[str]], threshold: float
) -> list[tuple[str, int]]:
    """Straight transcription of the spec: rows in order, first cluster whose representative matches."""
    labels = []
    for group, anchors in anchors_by_group.items():
        representatives: list[str] = []
        for anchor in anchors:
            for number, rep in enumerate(representatives):
                if difflib.SequenceMatcher(None, anchor, rep).ratio() >= threshold:
                    labels.append((group, number))
                    break
            else:
                representatives.append(anchor)
                labels.append((group, len(representatives) - 1))
    return labels


def test_similarity_uses_first_representative_not_transitive_closure() -> None:
    base = "abcdefghij"
    one_off = "abcdefghiX"  # ratio vs base 0.9
    two_off = "abcdefghYX"  # ratio vs base 0.8, vs one_off 0.9
    trajectory = {"group": "g", "traj": "t", "rewards": [0.0, 0.0, 0.0], "anchors": [base, one_off, two_off]}
    groups, _ = build_step_groups(make_batch([trajectory]), similarity_threshold=0.85)
    assert groups.tolist() == [0, 0, 1]
    exact, _ = build_step_groups(make_batch([trajectory]))
    assert exact.tolist() == [0, 1, 2]


def test_similarity_matches_spec_transcription_on_random_anchors() -> None:
    rng = random.Random(0)
    alphabet = "ab c"
    for threshold in (0.5, 0.7, 0.9):
        trajectories, anchors_by_group = [], {}
        for g in range(3):
            for t in range(4):
                anchors = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 9))) for _ in range(3)]
                trajectories.append(
                    {"group": f"g{g}", "traj": f"g{g}t{t}", "rewards": [0.0] * 3, "anchors": anchors}
                )
                anchors_by_group.setdefault(f"g{g}", []).extend(anchors)
        ours, _ = build_step_groups(make_batch(trajectories), similarity_threshold=threshold)
        expected, _ = dense_ids(greedy_clusters_reference(anchors_by_group, threshold))
        assert ours.tolist() == expected.tolist(), f"threshold {threshold}"


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5, -0.2])
def test_similarity_threshold_must_be_in_open_unit_interval(threshold: float) -> None:
    with pytest.raises(ValueError, match="similarity_threshold"):
        estimate("gigpo", make_batch(GIGPO_EXAMPLE), similarity_threshold=threshold)


def test_similarity_grouping_changes_step_advantage() -> None:
    trajectories = [
        {"group": "g", "traj": "t1", "rewards": [0.0, 10.0], "anchors": ["room 1 key", "x"]},
        {"group": "g", "traj": "t2", "rewards": [0.0, 0.0], "anchors": ["room 1 kez", "y"]},
    ]
    batch = make_batch(trajectories)
    exact = gigpo_parts(batch, gamma=1.0, norm="mean")
    similar = gigpo_parts(batch, gamma=1.0, norm="mean", similarity_threshold=0.8)
    assert exact.step.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert similar.step.tolist() == [5.0, 0.0, -5.0, 0.0]


# ---------------------------------------------------------------- EPO / AEM estimators


def test_epo_returns_base_advantages() -> None:
    batch = make_batch(GIGPO_EXAMPLE)
    torch.testing.assert_close(estimate("epo", batch), estimate("grpo", batch))
    torch.testing.assert_close(
        estimate("epo", batch, base="gigpo", gamma=0.5), estimate("gigpo", batch, gamma=0.5)
    )


AEM_GROUP = [{"group": "A", "traj": f"a{i}", "rewards": [float(i % 2) * 10, 0.0]} for i in range(4)]


def test_aem_needs_entropy_for_entropy_uncertainty() -> None:
    batch = make_batch(AEM_GROUP)
    batch.entropy = None
    with pytest.raises(ValueError, match="needs batch.entropy"):
        estimate("aem", batch)
    estimate("aem", batch, uncertainty="surprisal")


@pytest.mark.parametrize("uncertainty", ["entropy", "surprisal", "relative_surprisal"])
def test_aem_alpha_is_self_normalised_and_bounded(uncertainty: str) -> None:
    batch = make_batch(AEM_GROUP + [{"group": "B", "traj": "b0", "rewards": [1.0, 0.0, 0.0]}], seed=3)
    lam = 2.0
    scales = aem_scales(batch, lam=lam, uncertainty=uncertainty)
    in_a = torch.tensor([g == "A" for g in batch.group_id])
    assert scales.alpha[in_a].mean().item() == pytest.approx(1.0, abs=1e-6)
    assert scales.alpha[~in_a].mean().item() == pytest.approx(1.0, abs=1e-6)
    assert scales.htil.min() >= 0 and scales.htil.max() <= 1
    assert torch.all(scales.alpha >= math.exp(-lam) - 1e-6) and torch.all(
        scales.alpha <= math.exp(lam) + 1e-6
    )
    most_confident = torch.argmin(torch.where(in_a, scales.uncertainty, torch.tensor(float("inf"))))
    assert scales.alpha[most_confident] > 1


def test_aem_uncertainty_sources_by_hand() -> None:
    batch = make_batch(AEM_GROUP, seed=5)
    mask = batch.float_mask()
    length = mask.sum(1)
    surprisal = -(batch.old_logprobs * mask).sum(1) / length
    mean_entropy = (batch.entropy * mask).sum(1) / length
    torch.testing.assert_close(aem_scales(batch, uncertainty="surprisal").uncertainty, surprisal)
    torch.testing.assert_close(aem_scales(batch, uncertainty="entropy").uncertainty, mean_entropy)
    relative = aem_scales(batch, uncertainty="relative_surprisal").uncertainty
    torch.testing.assert_close(relative, surprisal - mean_entropy)


def test_aem_scales_base_advantages_and_clamps() -> None:
    batch = make_batch(AEM_GROUP, seed=1)
    base = estimate("gigpo", batch, gamma=0.9)
    alpha = aem_scales(batch, lam=1.5).alpha
    torch.testing.assert_close(
        estimate("aem", batch, base="gigpo", lam=1.5, gamma=0.9), base * alpha[:, None]
    )
    clamped = estimate("aem", batch, base="gigpo", lam=1.5, gamma=0.9, alpha_min=0.9, alpha_max=1.1)
    torch.testing.assert_close(clamped, base * alpha.clamp(0.9, 1.1)[:, None])
    torch.testing.assert_close(estimate("aem", batch, lam=0.0), estimate("grpo", batch))


def test_aem_ignores_empty_rows_in_group_statistics() -> None:
    batch = make_batch(AEM_GROUP, seed=2)
    with_empty = make_batch(
        AEM_GROUP + [{"group": "A", "traj": "empty", "rewards": [0.0], "lengths": [0]}], seed=2
    )
    with_empty.old_logprobs[:-1] = batch.old_logprobs
    with_empty.entropy[:-1] = batch.entropy
    alpha, alpha_with_empty = aem_scales(batch).alpha, aem_scales(with_empty).alpha
    torch.testing.assert_close(alpha_with_empty[:-1], alpha)
    assert alpha_with_empty[-1].item() == 1.0


# ---------------------------------------------------------------- KL in the reward
def test_kl_in_the_reward_comes_off_each_turns_reward_by_hand() -> None:
    from dataclasses import replace

    from algorithms.rewards import subtract_kl_from_reward

    batch = make_batch([{"group": "A", "traj": "a1", "rewards": [1.0, 2.0], "lengths": [2, 3]}], width=3)
    old = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, -0.5, -0.5]])
    ref = torch.tensor([[-1.5, -1.0, -9.0], [-1.0, -0.5, 0.0]])
    batch = replace(batch, old_logprobs=old, ref_logprobs=ref)
    out = subtract_kl_from_reward(batch, "k1", coef=0.1)
    # k1 = old - ref on the response tokens: row 0 (2 tokens) 0.5 - 1.0 = -0.5; row 1 (3 tokens) 0.5 + 0 - 0.5 = 0
    torch.testing.assert_close(out.reward, torch.tensor([1.0 + 0.05, 2.0]))
    assert out.old_logprobs is old and out.ref_logprobs is ref
    with pytest.raises(ValueError, match="ref_logprobs"):
        subtract_kl_from_reward(replace(batch, ref_logprobs=None), "k1", coef=0.1)
