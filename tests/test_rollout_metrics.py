"""The per-step rollout metrics the trainer logs, computed on hand-built trajectories."""

from __future__ import annotations

import pytest

from rollout.trajectory import RolloutBatch, Trajectory, Turn
from trainer.metrics import rollout_metrics


def _episode(group: str, member: int, won: bool, valid: tuple[bool, ...]) -> Trajectory:
    turns = [
        Turn(
            prompt_ids=[1, 2, 3],
            response_ids=[4, 5],
            sampling_logprobs=[-0.1, -0.2],
            response_text="a",
            action="a",
            reward=10.0 if (won and i == len(valid) - 1) else 0.0,
            anchor=f"s{i}",
            valid=ok,
            done=i == len(valid) - 1,
        )
        for i, ok in enumerate(valid)
    ]
    return Trajectory(
        group_id=group, traj_id=f"{group}t{member}", task_id=group, task_type="pick", turns=turns, won=won
    )


def test_success_invalid_rate_and_mixed_groups():
    trajectories = [
        _episode("g0", 0, True, (True, True)),
        _episode("g0", 1, False, (False, True, True)),  # g0: one win, one loss -> mixed
        _episode("g1", 0, True, (True,)),
        _episode("g1", 1, True, (True,)),  # g1: all won -> no learning signal
        _episode("g2", 0, False, (False,)),
        _episode("g2", 1, False, (True,)),  # g2: all lost
    ]
    metrics = rollout_metrics(RolloutBatch.from_trajectories(trajectories))
    assert metrics["rollout/success"] == pytest.approx(3 / 6)
    assert metrics["rollout/invalid_rate"] == pytest.approx(2 / 9)
    assert metrics["rollout/turns_mean"] == pytest.approx(9 / 6)
    assert metrics["rollout/reward_mean"] == pytest.approx(30 / 6)
    assert metrics["rollout/mixed_groups"] == pytest.approx(1 / 3)
    assert metrics["env/success_pick"] == pytest.approx(3 / 6)
