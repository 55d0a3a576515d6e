"""Property tests (hypothesis) over random rollouts: masking, finiteness, row-order equivariance,
group-shift invariance of GRPO, and the degenerate cases (std = 0, singletons, empty masks)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms import StepBatch, estimate

ANCHORS = ["s0", "s1", "room A", "room B", "room 1 key"]
REWARDS = [0.0, 1.0, 10.0, -0.5]
CONFIGS = [
    ("grpo", {}),
    ("grpo", {"norm": "mean"}),
    ("grpo", {"per_trajectory_stats": True}),
    ("gigpo", {}),
    ("gigpo", {"norm": "mean_std", "gamma": 0.9, "step_weight": 0.5}),
    ("gigpo", {"similarity_threshold": 0.6}),
    ("epo", {"base": "gigpo", "norm": "mean_std"}),
    ("aem", {}),
    ("aem", {"base": "gigpo", "uncertainty": "surprisal", "lam": 2.0}),
    ("aem", {"uncertainty": "relative_surprisal", "alpha_min": 0.5, "alpha_max": 1.5}),
]
CONFIG_IDS = [
    f"{name}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'default'}" for name, params in CONFIGS
]
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def step_batches(draw: st.DrawFn, allow_empty_rows: bool = True) -> StepBatch:
    width = draw(st.integers(1, 4))
    min_length = 0 if allow_empty_rows else 1
    rows: dict[str, list] = {k: [] for k in ("group", "traj", "step", "reward", "anchor", "valid", "length")}
    traj_counter = 0
    for g in range(draw(st.integers(1, 3))):
        for _ in range(draw(st.integers(1, 4))):
            for s in range(draw(st.integers(1, 4))):
                rows["group"].append(f"g{g}")
                rows["traj"].append(traj_counter)
                rows["step"].append(s)
                rows["reward"].append(draw(st.sampled_from(REWARDS)))
                rows["anchor"].append(draw(st.sampled_from(ANCHORS)))
                rows["valid"].append(draw(st.booleans()))
                rows["length"].append(draw(st.integers(min_length, width)))
            traj_counter += 1
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    n = len(rows["group"])
    mask = (torch.arange(width)[None, :] < torch.tensor(rows["length"])[:, None]).float()
    return StepBatch(
        group_id=rows["group"],
        traj_id=rows["traj"],
        step=rows["step"],
        reward=torch.tensor(rows["reward"]),
        anchor=rows["anchor"],
        valid=torch.tensor(rows["valid"]),
        response_mask=mask,
        old_logprobs=-torch.rand(n, width, generator=generator) * 4 * mask,
        entropy=torch.rand(n, width, generator=generator) * 3 * mask,
    )


def permute(batch: StepBatch, order: list[int]) -> StepBatch:
    def pick(values: list) -> list:
        return [values[i] for i in order]

    index = torch.tensor(order, dtype=torch.long)
    return StepBatch(
        group_id=pick(list(batch.group_id)),
        traj_id=pick(list(batch.traj_id)),
        step=batch.step[index],
        reward=batch.reward[index],
        anchor=pick(list(batch.anchor)),
        valid=batch.valid[index],
        response_mask=batch.response_mask[index],
        old_logprobs=batch.old_logprobs[index],
        entropy=None if batch.entropy is None else batch.entropy[index],
    )


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=CONFIG_IDS)
@PROPERTY_SETTINGS
@given(batch=step_batches())
def test_zero_on_masked_tokens_and_finite(name: str, params: dict, batch: StepBatch) -> None:
    advantages = estimate(name, batch, **params)
    assert advantages.shape == batch.response_mask.shape and advantages.dtype == torch.float32
    assert torch.isfinite(advantages).all()
    assert torch.all(advantages[batch.response_mask == 0] == 0)


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=CONFIG_IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_permuting_rows_permutes_outputs(name: str, params: dict, data: st.DataObject) -> None:
    batch = data.draw(step_batches())
    order = data.draw(st.permutations(range(batch.num_rows)))
    expected = estimate(name, batch, **params)[torch.tensor(order, dtype=torch.long)]
    torch.testing.assert_close(
        estimate(name, permute(batch, order), **params), expected, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("params", [{}, {"norm": "mean"}, {"per_trajectory_stats": True}], ids=str)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_grpo_invariant_to_a_constant_added_to_a_groups_returns(params: dict, data: st.DataObject) -> None:
    batch = data.draw(step_batches(allow_empty_rows=False))
    group = data.draw(st.sampled_from(sorted(set(batch.group_id))))
    shift = data.draw(st.integers(-20, 20)) / 2  # exact in float32, so equal scores stay equal
    in_group = torch.tensor([g == group for g in batch.group_id])
    last_turn = {}
    for row, (traj, step) in enumerate(zip(batch.traj_id, batch.step.tolist())):
        if last_turn.get(traj, (-1, -1))[1] < step:
            last_turn[traj] = (row, step)
    shifted_reward = batch.reward.clone()
    for row, _ in last_turn.values():
        if in_group[row]:
            shifted_reward[row] += shift
    shifted = permute(batch, list(range(batch.num_rows)))
    shifted.reward = shifted_reward
    before, after = estimate("grpo", batch, **params), estimate("grpo", shifted, **params)
    samples = len({t for t, g in zip(batch.traj_id, batch.group_id) if g == group})
    if not params.get("per_trajectory_stats"):
        samples = int(in_group.sum())
    if samples == 1:  # singleton group: the advantage is the raw score, so it moves with the shift
        torch.testing.assert_close(after[in_group], before[in_group] + shift * batch.float_mask()[in_group])
    else:
        torch.testing.assert_close(after[in_group], before[in_group], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(after[~in_group], before[~in_group])


def _single_group(rewards_per_traj: list[list[float]], width: int = 2, empty: bool = False) -> StepBatch:
    rows = [(t, s, r) for t, rewards in enumerate(rewards_per_traj) for s, r in enumerate(rewards)]
    n = len(rows)
    mask = torch.zeros(n, width) if empty else torch.ones(n, width)
    return StepBatch(
        group_id=["g"] * n,
        traj_id=[t for t, _, _ in rows],
        step=[s for _, s, _ in rows],
        reward=torch.tensor([r for _, _, r in rows]),
        anchor=["same"] * n,
        valid=torch.ones(n, dtype=torch.bool),
        response_mask=mask,
        old_logprobs=-torch.ones(n, width) * mask,
        entropy=torch.ones(n, width) * mask,
    )


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=CONFIG_IDS)
def test_std_zero_group_gives_exactly_zero(name: str, params: dict) -> None:
    batch = _single_group([[0.3, 0.7], [1.0], [0.5, 0.5]])  # every trajectory returns 1.0
    advantages = estimate(name, batch, **params)
    if name == "gigpo" or params.get("base") == "gigpo":
        # all rows share one anchor: step returns differ, so only the episode part must vanish
        assert torch.isfinite(advantages).all()
    else:
        assert torch.all(advantages == 0)


@pytest.mark.parametrize(("name", "params"), CONFIGS, ids=CONFIG_IDS)
def test_singleton_group_and_all_empty_masks(name: str, params: dict) -> None:
    singleton = _single_group([[2.0]])
    value = estimate(name, singleton, **params)
    assert (
        torch.isfinite(value).all() and value.abs().sum() > 0
    )  # singleton episode group keeps its raw score
    empty = _single_group([[1.0, 0.0], [10.0]], empty=True)
    assert torch.all(estimate(name, empty, **params) == 0)


def test_empty_batch() -> None:
    batch = StepBatch(
        group_id=[],
        traj_id=[],
        step=[],
        reward=torch.zeros(0),
        anchor=[],
        valid=torch.zeros(0, dtype=torch.bool),
        response_mask=torch.zeros(0, 3),
        old_logprobs=torch.zeros(0, 3),
        entropy=torch.zeros(0, 3),
    )
    for name, params in CONFIGS:
        assert estimate(name, batch, **params).shape == (0, 3)
