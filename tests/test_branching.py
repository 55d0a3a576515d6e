"""Groups that start where the greedy policy fails (``rollout.branching``) on the toy env, with scripted
policies: where the branch lands, the replay, what is trained, GiGPO's step group there, lost replays."""

from __future__ import annotations

import hashlib
import json
import random
import re

import pytest
import torch
from test_runner import LocalPool, current_section, make_runner, open_task_policy, task_ids_of_type

from algorithms import estimate
from algorithms.step_groups import build_step_groups
from envs.pool import StepResult
from envs.toy.env import ToyEnv
from rollout.branching import branch_prefix, failure_prefixes, first_failure, rollout_from_failures
from rollout.engine import FINISH_STOP, Completion
from rollout.policy_version import MODEL_FOLDER
from rollout.runner import Prefix, play
from rollout.trajectory import Trajectory, Turn
from trainer.config import ConfigError, load_config
from trainer.tiny_model import build_tiny_model, default_corpus

GROUP = 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "branching_tiny_model", default_corpus())


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


class TwoFacedEngine:
    """Answers greedy calls with ``greedy(prompt)`` and sampled ones with ``sampled(prompt, rng)``."""

    def __init__(self, tokenizer, greedy, sampled):
        self.tokenizer, self.greedy, self.sampled = tokenizer, greedy, sampled
        self.policy_version = MODEL_FOLDER
        self.calls: list[tuple[float, int]] = []  # (temperature, prompts) per generate
        self.rng = random.Random(0)

    def generate(self, prompts, sampling):
        self.calls.append((sampling.temperature, len(prompts)))
        out = []
        for prompt in prompts:
            text = self.tokenizer.decode(prompt)
            answer = self.greedy(text) if sampling.greedy else self.sampled(text, self.rng)
            ids = self.tokenizer.encode(answer, add_special_tokens=False)
            out.append(Completion(ids, self.tokenizer.decode(ids), [-1.0] * len(ids), FINISH_STOP))
        return out

    def drain(self):
        pass


def target_of(prompt_text: str) -> str:
    return re.search(r"Your task: open the (\w+)", prompt_text).group(1)


def go_then_dance(prompt_text: str) -> str:
    """Greedy: goes to the receptacle to open, then answers with a command the env rejects."""
    target = target_of(prompt_text)
    if f"You arrive at the {target}" in current_section(prompt_text):
        return "<action>dance</action>"
    return f"<action>go to {target}</action>"


def open_or_wander(prompt_text: str, rng: random.Random) -> str:
    """Sampled: opens the receptacle when it can, else goes somewhere at random."""
    if rng.random() < 0.5:
        return open_task_policy(prompt_text, 0)
    return f"<action>go to {rng.choice(['shelf', 'table', 'countertop'])}</action>"


@pytest.fixture()
def open_tasks():
    return task_ids_of_type("open", 2, n_tasks=16)


def branched_rollout(tokenizer, tasks, greedy, sampled, pool=None, **config):
    engine = TwoFacedEngine(tokenizer, greedy, sampled)
    pool = pool or LocalPool(num_envs=len(tasks) * GROUP, n_tasks=16, max_steps=8)
    runner = make_runner(engine, tokenizer, pool, group_size=GROUP, max_turns=8, **config)
    return engine, runner, rollout_from_failures(runner, tasks, seed=11)


def turn(anchor: str, *, valid=True, rejected=False, admissible=("look",), action="look") -> Turn:
    return Turn(
        [1],
        [2],
        [0.0],
        "",
        action,
        0.0,
        anchor,
        valid,
        False,
        rejected=rejected,
        admissible_actions=list(admissible),
    )


def test_first_failure_is_the_first_rejected_invalid_or_returning_turn():
    def traj(*turns):
        return Trajectory("g", "t", 0, turns=list(turns))

    assert first_failure(traj(turn("a"), turn("b"), turn("c"))) is None
    assert first_failure(traj(turn("a"), turn("b", rejected=True), turn("b"))) == 1
    assert first_failure(traj(turn("a"), turn("b", valid=False), turn("b"))) == 1
    # a -> b -> c -> b: the action taken in c led back to b
    assert first_failure(traj(turn("a"), turn("b"), turn("c"), turn("b"))) == 2
    # the same place holding something else (other admissible actions) is another state
    assert first_failure(traj(turn("a"), turn("b"), turn("a", admissible=("put",)))) is None
    assert first_failure(traj(turn("a"), turn("a"))) == 0  # an action that changed nothing
    lost = traj(turn("a"), turn("b", rejected=True))
    lost.env_error = "worker died"
    assert branch_prefix(lost) == Prefix()
    prefix = branch_prefix(traj(turn("a", action="go"), turn("b", rejected=True, action="x")))
    assert prefix == Prefix(actions=("go",), anchor="b")


def test_the_group_branches_at_the_greedy_probes_first_rejected_action(tokenizer, open_tasks):
    engine, runner, batch = branched_rollout(tokenizer, open_tasks, go_then_dance, open_or_wander)
    # the probe: greedy, one episode per task, stopped at the rejected action (2 turns)
    assert engine.calls[:2] == [(0.0, 2), (0.0, 2)]
    assert all(temperature == 1.0 for temperature, _ in engine.calls[2:])
    env = ToyEnv(n_tasks=16)
    for task_id, members in zip(open_tasks, _groups(batch)):
        target = env._tasks[task_id].target_receptacle
        assert len(members) == GROUP
        for traj in members:
            assert traj.prefix_actions == [f"go to {target}"] and traj.env_error is None
            first = tokenizer.decode(traj.turns[0].prompt_ids)
            # the replayed action is in the prompt's history and the state is where the probe failed
            assert f"Step 1 action: go to {target}" in first
            assert f"Current observation (step 2): You arrive at the {target}" in first
            assert traj.turns[0].anchor.startswith(f"You arrive at the {target}")


def test_replay_shows_the_prompt_the_probe_failed_on(tokenizer, open_tasks):
    engine = TwoFacedEngine(tokenizer, go_then_dance, open_or_wander)
    runner = make_runner(
        engine, tokenizer, LocalPool(num_envs=8, n_tasks=16, max_steps=8), group_size=GROUP, max_turns=8
    )
    probes = play(runner, open_tasks, greedy=True, seed=11)
    failing_prompts = [probe.turns[first_failure(probe)].prompt_ids for probe in probes]
    # the probe the rollout makes itself, then the group (same seeds)
    batch = runner.rollout(open_tasks, seed=11, prefixes=failure_prefixes(runner, open_tasks, seed=11))
    for prompt, members in zip(failing_prompts, _groups(batch)):
        assert all(traj.turns[0].prompt_ids == prompt for traj in members)


def test_prefix_turns_make_no_rows_and_no_return(tokenizer, open_tasks):
    """Each valid env step pays 1: the replayed step's reward is not in the branched member's return."""

    class PayingPool(LocalPool):
        def step(self, slots, actions):
            return [
                StepResult(
                    r.obs,
                    r.reward + (1.0 if r.info.get("valid_action") else 0.0),
                    r.terminated,
                    r.truncated,
                    r.info,
                )
                for r in super().step(slots, actions)
            ]

    pool = PayingPool(num_envs=8, n_tasks=16, max_steps=8)
    _, _, batch = branched_rollout(tokenizer, open_tasks, go_then_dance, open_or_wander, pool=pool)
    assert len(batch) == sum(traj.num_turns for traj in batch.trajectories)
    for traj in batch.trajectories:
        rows = [i for i, traj_id in enumerate(batch.traj_id) if traj_id == traj.traj_id]
        assert [batch.step[i] for i in rows] == list(range(traj.num_turns))  # from the branch on
        assert traj.episode_return == sum(batch.reward[i] for i in rows) == sum(t.reward for t in traj.turns)
        accepted = sum(not turn.rejected for turn in traj.turns)
        assert traj.episode_return == accepted + (10.0 if traj.won else 0.0)  # the prefix's 1 is not in it
    assert any(traj.won for traj in batch.trajectories) and not all(traj.won for traj in batch.trajectories)


def test_the_turn_limit_counts_the_replayed_actions(tokenizer, open_tasks):
    engine = TwoFacedEngine(tokenizer, go_then_dance, lambda text, rng: "<action>look</action>")
    runner = make_runner(
        engine, tokenizer, LocalPool(num_envs=GROUP, n_tasks=16, max_steps=20), group_size=GROUP, max_turns=5
    )
    members = runner.run(open_tasks[:1], seed=1, prefixes=[Prefix(actions=("go to shelf", "go to table"))])
    assert all(traj.num_turns == 3 and traj.hit_turn_limit for traj in members)
    with pytest.raises(ValueError, match="leaves no turn to play within max_turns=5"):
        runner.run(open_tasks[:1], prefixes=[Prefix(actions=("look",) * 5)])


def test_gigpo_step_group_at_the_branch_state_holds_every_member(tokenizer, open_tasks):
    _, _, batch = branched_rollout(tokenizer, open_tasks, go_then_dance, open_or_wander)
    width = batch.max_response_length
    step_batch = batch.to_step_batch(torch.zeros(len(batch), width))
    groups, _ = build_step_groups(step_batch)
    for members in _groups(batch):
        branch_rows = [
            i
            for i, traj_id in enumerate(batch.traj_id)
            if batch.step[i] == 0 and traj_id in {traj.traj_id for traj in members}
        ]
        assert len(branch_rows) == GROUP
        assert len({int(groups[i]) for i in branch_rows}) == 1  # one step group...
        (group,) = {int(groups[i]) for i in branch_rows}
        assert int((groups == group).sum()) >= GROUP  # ...with every member (and any later return to it)
    advantages = estimate("gigpo", step_batch, gamma=0.95, step_weight=1.0, norm="mean")
    assert advantages.shape == (len(batch), width)


def test_a_greedy_episode_without_failure_leaves_the_group_at_the_reset(tokenizer, open_tasks):
    solve = lambda text: open_task_policy(text, 0)  # noqa: E731
    engine, _, batch = branched_rollout(tokenizer, open_tasks, solve, open_or_wander)
    assert [temperature for temperature, _ in engine.calls[:2]] == [0.0, 0.0]  # the probe played and won
    for traj in batch.trajectories:
        assert traj.prefix_actions == [] and traj.env_error is None
        assert "Current observation (step 1)" in tokenizer.decode(traj.turns[0].prompt_ids)


def test_returning_to_a_seen_state_is_a_failure(tokenizer, open_tasks):
    def shuttle(text: str) -> str:  # greedy: shelf, table, shelf, ...
        return (
            "<action>go to table</action>"
            if "You arrive at the shelf" in current_section(text)
            else ("<action>go to shelf</action>")
        )

    engine, _, batch = branched_rollout(tokenizer, open_tasks, shuttle, open_or_wander)
    # shelf, table, shelf (back to a seen state: known when the 4th turn shows where it led): 4 probe turns
    assert [t for t, _ in engine.calls].count(0.0) == 4
    for traj in batch.trajectories:
        assert traj.prefix_actions == ["go to shelf", "go to table"]  # the branch: where it went back
        assert traj.turns[0].anchor.startswith("You arrive at the table")


class SeededEngine:
    """Picks one of the prompt's admissible actions (or a rejected one) with a draw seeded by the call's seed,
    the request's index and the prompt: its answers depend on nothing else, so a whole batch can be compared
    with one recorded on another version of the runner."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.policy_version = MODEL_FOLDER

    def generate(self, prompts, sampling):
        out = []
        for index, prompt in enumerate(prompts):
            text = self.tokenizer.decode(prompt)
            rng = random.Random(f"{sampling.seed}:{index}:{text}")
            actions = re.findall(r"^- (.+)$", current_section(text), re.M)
            ids = self.tokenizer.encode(
                f"<action>{rng.choice([*actions, 'dance'])}</action>", add_special_tokens=False
            )
            out.append(Completion(ids, self.tokenizer.decode(ids), [-1.0] * len(ids), FINISH_STOP))
        return out

    def drain(self):
        pass


def batch_digest(batch, tokenizer) -> str:
    """Every row's ids, step, reward, anchor, flags and texts (prompt and response)."""
    columns = ("group_id", "traj_id", "step", "reward", "anchor", "valid", "done", "won")
    rows = [[getattr(batch, name)[i] for name in columns] for i in range(len(batch))]
    for row, prompt, response in zip(rows, batch.prompt_ids, batch.response_ids):
        row += [tokenizer.decode(prompt), tokenizer.decode(response)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


# The batch the runner played before it knew prefixes (commit 3c965c5, this test's engine and settings).
OPTION_OFF_DIGEST = "32ab266595cd273334eb32b103c105e909091842ea480cc956307a943953320b"


def test_option_off_plays_the_batch_the_runner_played_before_prefixes(tokenizer):
    """``rollout.branch_at_failure`` off: the loop calls ``runner.rollout`` as before, and the runner's batch is
    the one recorded before prefixes existed, row for row."""
    pool = LocalPool(num_envs=4, n_tasks=16, max_steps=6)
    runner = make_runner(SeededEngine(tokenizer), tokenizer, pool, group_size=3, max_turns=6)
    batch = runner.rollout([0, 1, 2, 3, 4], seed=7)
    assert len(batch) > 30 and 0 < sum(batch.valid) < len(batch)
    assert batch_digest(batch, tokenizer) == OPTION_OFF_DIGEST


def test_a_replay_lost_to_an_env_error_or_another_state_ends_that_episode(tokenizer, open_tasks):
    task = open_tasks[0]
    target = ToyEnv(n_tasks=16)._tasks[task].target_receptacle
    engine = TwoFacedEngine(tokenizer, go_then_dance, open_or_wander)
    pool = LocalPool(num_envs=GROUP, n_tasks=16, max_steps=8, fail_at={1: 2})  # 2nd replay step, slot 2 dies
    runner = make_runner(engine, tokenizer, pool, group_size=GROUP, max_turns=8)
    members = runner.run([task], seed=3, prefixes=[Prefix(actions=("go to shelf", f"go to {target}"))])
    lost = [traj for traj in members if traj.env_error]
    assert len(members) == GROUP and len(lost) == 1
    assert lost[0].env_error.startswith("prefix replay: action 2 of its 2:") and lost[0].turns == []
    assert all(traj.turns for traj in members if traj.env_error is None)
    wrong = runner.run([task], seed=3, prefixes=[Prefix(actions=("go to shelf",), anchor="elsewhere")])
    assert all("another state" in traj.env_error and traj.turns == [] for traj in wrong)


def test_branching_needs_an_env_that_can_replay():
    with pytest.raises(ConfigError, match=r"rollout\.branch_at_failure: env 'swe' cannot replay"):
        load_config(overrides=["env.name=swe", "rollout.branch_at_failure=true"])
    assert load_config(overrides=["env.name=toy", "rollout.branch_at_failure=true"]).rollout.branch_at_failure


def assert_replays(make_env, task_ids, steps: int = 6, seed: int = 0) -> None:
    """A seeded random walk (admissible actions and a rejected one) of each task, then the same actions after a
    new reset of that env and of a fresh one: every observation and info must be the same (an env whose spec
    says ``replayable``)."""
    walker, fresh = make_env(), make_env()
    rng = random.Random(seed)
    for task_id in task_ids:
        obs, info = walker.reset(seed=seed, options={"task_id": task_id})
        seen, actions = [(obs, info)], []
        for _ in range(steps):
            action = rng.choice([*info["admissible_actions"], "dance"])
            obs, _, terminated, truncated, info = walker.step(action)
            actions.append(action)
            seen.append((obs, info))
            if terminated or truncated:
                break
        for env in (walker, fresh):
            replayed = [env.reset(seed=seed, options={"task_id": task_id})]
            replayed += [env.step(action)[::4] for action in actions]
            assert json.dumps(replayed, default=str) == json.dumps(seen, default=str)


def test_toy_env_replays():
    assert_replays(lambda: ToyEnv(n_tasks=16), range(16))


def test_webshop_env_replays():
    from envs.webshop.env import WebShopEnv

    assert_replays(lambda: WebShopEnv(split="test", catalog="small"), range(10), steps=8)


def _groups(batch_or_trajectories) -> list[list[Trajectory]]:
    trajectories = getattr(batch_or_trajectories, "trajectories", batch_or_trajectories)
    groups: dict[str, list[Trajectory]] = {}
    for traj in trajectories:
        groups.setdefault(traj.group_id, []).append(traj)
    return list(groups.values())


@pytest.mark.slow
def test_a_worker_dying_mid_prefix_loses_those_episodes_and_the_pool_plays_on(tokenizer, open_tasks):
    """A real ``EnvPool`` whose env worker exits on the second replayed action: every member replaying there ends
    with an env error and no turns (none is left half-replayed), and the restarted workers play the next run."""
    from test_pool import FAULTY, TOY_KWARGS

    from envs.pool import EnvPool

    engine = TwoFacedEngine(tokenizer, go_then_dance, open_or_wander)
    with EnvPool(
        FAULTY, {**TOY_KWARGS, "n_tasks": 16, "split": "train"}, num_envs=GROUP, num_workers=2
    ) as pool:
        runner = make_runner(engine, tokenizer, pool, group_size=GROUP, max_turns=6)
        lost = runner.run(open_tasks[:1], seed=2, prefixes=[Prefix(actions=("go to shelf", "exit"))])
        assert all(traj.env_error.startswith("prefix replay: action 2 of its 2:") for traj in lost)
        assert all(traj.turns == [] for traj in lost)
        again = runner.run(open_tasks[:1], seed=2, prefixes=[Prefix(actions=("go to shelf",))])
        assert all(traj.env_error is None and traj.turns for traj in again)


@pytest.mark.slow
def test_two_training_steps_with_branching(tmp_path):
    """The option through ``turnrl train`` on ALFWorld: the probe, the replay in the env workers, the metrics."""
    from test_train_e2e import ENV_LIMITS, _check_run, _train

    name = "alfworld-branch"
    result = _train(
        tmp_path,
        "env.name=alfworld",
        *ENV_LIMITS["alfworld"],
        "rollout.branch_at_failure=true",
        f"trainer.run_name={name}",
    )
    _check_run(tmp_path, name, result)
    steps = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in steps if "train/pg_loss" in line]
    assert all(0.0 <= line["rollout/branched_groups"] <= 1.0 for line in steps)
    assert all(line["rollout/prefix_turns"] >= 0.0 for line in steps)
