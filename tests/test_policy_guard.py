"""The policy guard's checks on hand-made batches: version stamps, the gap statistic, truncation slack."""

import math

import pytest
import torch

from rollout.policy_version import MODEL_FOLDER, PolicyVersion
from rollout.trajectory import RolloutBatch, Trajectory, Turn
from trainer.policy_guard import (
    PolicyGuard,
    PolicyMismatchError,
    check_version,
    comparable_engine_logprobs,
    reuse_sample,
    token_gaps,
    truncation_slack,
)


def _batch(versions, sampling=(-1.0, -2.0), policy=(-1.0, -2.0)) -> RolloutBatch:
    turn = Turn(
        [1, 2], [3, 4], list(sampling), "", "a", 0.0, "s", True, True, policy_logprobs=policy and list(policy)
    )
    trajs = [Trajectory(f"g{i}", f"t{i}", 0, turns=[turn], policy_version=v) for i, v in enumerate(versions)]
    return RolloutBatch.from_trajectories(trajs)


def test_version_must_be_the_learners_last_sync():
    current = PolicyVersion(3, "abc")
    check_version(5, _batch([current, current]), current)
    with pytest.raises(PolicyMismatchError) as err:
        check_version(5, _batch([PolicyVersion(2, "old"), current]), current)
    message = str(err.value)
    assert "\n" not in message
    assert "step 5" in message and "update 2 (old)" in message and "update 3 (abc)" in message
    assert "weight sync" in message and "adapter" in message and "tokenizer" in message
    with pytest.raises(PolicyMismatchError, match="model folder"):
        check_version(1, _batch([MODEL_FOLDER]), current)


def test_gap_is_the_mean_over_tokens_and_stops_above_the_bound():
    learner = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, 0.0, 0.0]])
    engine = learner + torch.tensor([[0.001, -0.003, 0.0], [0.002, 5.0, 5.0]])  # padding differs: ignored
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    metrics = PolicyGuard(2e-3).check_gap(7, learner, engine, mask)
    assert math.isclose(metrics["rollout/policy_gap"], 0.0015, rel_tol=1e-4)
    assert math.isclose(metrics["rollout/policy_gap_max"], 0.003, rel_tol=1e-4)
    with pytest.raises(PolicyMismatchError) as err:
        PolicyGuard(2e-3).check_gap(7, learner, engine + 0.01, mask)
    message = str(err.value)
    assert "\n" not in message and "step 7" in message and "by 0.01 on average" in message
    assert "trainer.max_policy_gap=0.002" in message
    with pytest.raises(PolicyMismatchError):  # a NaN gap stops too
        PolicyGuard(2e-3).check_gap(7, learner, engine * float("nan"), mask)


def test_truncation_slack_explains_only_an_engine_log_prob_above_the_learners():
    learner = torch.tensor([-1.0, -1.0, -1.0, -1.0])
    engine = torch.tensor([-1.0, -0.98, -0.9, -1.02])  # +0, +0.02 (kept mass 0.98), +0.1, -0.02
    slack = truncation_slack(0.95, -1)
    assert math.isclose(slack, -math.log(0.95))
    gaps = token_gaps(learner, engine, slack)
    assert torch.allclose(gaps, torch.tensor([0.0, 0.0, 0.1 - slack, 0.02]), atol=1e-6)
    assert truncation_slack(1.0, 20) == math.inf
    assert torch.allclose(
        token_gaps(learner, engine, math.inf), torch.tensor([0.0, 0.0, 0.0, 0.02]), atol=1e-6
    )


def test_engine_log_probs_prefer_the_full_distribution():
    engine, slack = comparable_engine_logprobs(_batch([MODEL_FOLDER], sampling=(-0.5, -1.5)), 3, 0.9, -1)
    assert slack == 0.0 and engine.tolist() == [[-1.0, -2.0, 0.0]]
    engine, slack = comparable_engine_logprobs(
        _batch([MODEL_FOLDER], sampling=(-0.5, -1.5), policy=None), 3, 0.9, -1
    )
    assert math.isclose(slack, -math.log(0.9)) and engine.tolist() == [[-0.5, -1.5, 0.0]]


def test_reuse_sample_is_an_eighth_seeded_by_step():
    rows = reuse_sample(40, 3, 0)
    assert len(rows) == 5 and rows == sorted(set(rows)) and rows == reuse_sample(40, 3, 0)
    assert rows != reuse_sample(40, 4, 0)
    assert reuse_sample(3, 1, 0) and len(reuse_sample(3, 1, 0)) == 1


@pytest.mark.parametrize("rank", [0, 1])
def test_a_stopped_run_prints_the_line_once_and_every_rank_exits_3(tmp_path, monkeypatch, capsys, rank):
    """The guard raises on every rank together; only rank 0 prints its line, so a multi-GPU job's log shows it
    once, and every rank exits with the guard's code."""
    import trainer.dist
    import trainer.run
    from trainer.config import load_config

    config = load_config(None, [f"trainer.output_dir={tmp_path}", "trainer.run_name=run"])
    info = trainer.dist.DistInfo(rank=rank, world_size=2, local_rank=rank, backend="gloo")
    monkeypatch.setattr(trainer.dist, "init_distributed", lambda **_: info)
    monkeypatch.setattr(trainer.dist, "shutdown_distributed", lambda: None)

    def spoiled(*_):
        raise PolicyMismatchError("policy guard: step 3: the engine's log-probs ...")

    monkeypatch.setattr(trainer.run, "_train_policy", spoiled)
    with pytest.raises(SystemExit) as stopped:
        trainer.run.train(config)
    assert stopped.value.code == 3
    printed = capsys.readouterr().err.splitlines()
    lines = [line for line in printed if line.startswith("turnrl: policy guard")]
    assert lines == (["turnrl: policy guard: step 3: the engine's log-probs ..."] if rank == 0 else [])
