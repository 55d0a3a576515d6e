"""The warm start's demonstrations: the env's expert plays through the episode runner (toy env, in process)."""

from __future__ import annotations

import logging

import pytest

from envs import get_spec
from envs.pool import StepResult, error_info
from envs.toy.env import INVALID_ACTION_OBS, ToyEnv
from rollout import (
    Choice,
    Completion,
    EpisodeRunner,
    ParsedAction,
    PromptConfig,
    RunnerConfig,
    SamplingParams,
)
from trainer.warm_start import (
    DemonstrationRecorder,
    ExpertPolicy,
    collect_demonstrations,
    record_demonstrations,
)

TOY = get_spec("toy")


class ToyPool:
    """In-process stand-in for ``EnvPool`` whose resets of ``failing_tasks`` report an env error."""

    def __init__(self, num_envs: int, failing_tasks: tuple = ()) -> None:
        self.num_envs = num_envs
        self.envs = [ToyEnv() for _ in range(num_envs)]
        self.task_ids = self.envs[0].task_ids
        self.failing_tasks = failing_tasks
        self.seeds: dict[int, list[int]] = {}  # task id -> the seeds of its resets

    def reset(self, slots, task_ids, seeds):
        for task, seed in zip(task_ids, seeds):
            self.seeds.setdefault(task, []).append(seed)
        return [
            ("", error_info("reset crashed (injected)"))
            if task in self.failing_tasks
            else self.envs[slot].reset(seed=seed, options={"task_id": task})
            for slot, task, seed in zip(slots, task_ids, seeds)
        ]

    def step(self, slots, actions):
        return [StepResult(*self.envs[slot].step(action)) for slot, action in zip(slots, actions)]


def runner_config(max_turns: int = 10) -> RunnerConfig:
    return RunnerConfig(
        group_size=4,  # the warm start plays one episode per task id whatever the rollouts' group size
        max_turns=max_turns,
        sampling=SamplingParams(max_new_tokens=8, seed=0),
        prompt=PromptConfig(action_format="action", intro=TOY.intro(), max_prompt_tokens=512),
        invalid_penalty=0.1,
        invalid_turn="inadmissible",
        max_action_chars=300,
        progress=False,
    )


def play_expert(task_ids, *, noise: float, num_envs: int = 1, max_turns: int = 10):
    """The trajectories and the demonstrations, with no engine and no tokenizer (none exists yet then)."""
    policy = DemonstrationRecorder(ExpertPolicy(TOY.expert_text, noise=noise, seed=0), TOY.expert_text)
    runner = EpisodeRunner(None, None, ToyPool(num_envs), runner_config(max_turns), policy=policy)
    return runner.run(task_ids, group_size=1, seed=5), policy.demonstrations


def replay(traj, seed: int):
    """The env's (observation, admissible actions, expert action) before each of the trajectory's turns."""
    env = ToyEnv()
    obs, info = env.reset(seed=seed, options={"task_id": traj.task_id})
    states = []
    for turn in traj.turns:
        states.append((obs, info["admissible_actions"], info["expert_action"]))
        obs, _, _, _, info = env.step(turn.action)
    return states


def labelled(demos) -> list[tuple[str, str]]:
    return sorted((demo.memory.task, demo.action) for demo in demos)


@pytest.mark.parametrize("noise", [0.0, 0.3, 1.0])
def test_demo_turns_carry_the_pre_turn_memory_and_the_expert_label(noise):
    tasks = [3, 8, 3, 21]  # a repeated id is another episode
    trajectories, demos = play_expert(tasks, noise=noise)  # one slot: the episodes play one after the other
    assert [t.task_id for t in trajectories] == tasks
    assert len(demos) == sum(t.num_turns for t in trajectories)
    position = 0
    for group, traj in enumerate(trajectories):
        for index, (obs, admissible, expert) in enumerate(replay(traj, seed=5 + group)):
            demo = demos[position + index]
            assert demo.action == expert
            assert demo.memory.observation == obs and demo.memory.admissible_actions == admissible
            assert [past.action for past in demo.memory.turns] == [t.action for t in traj.turns[:index]]
        position += traj.num_turns


def test_noise_0_plays_the_expert_and_wins():
    trajectories, demos = play_expert(list(range(12)), noise=0.0, num_envs=4)
    assert all(t.won and not t.hit_turn_limit for t in trajectories)
    played = [turn.action for t in trajectories for turn in t.turns]
    assert sorted(played) == sorted(d.action for d in demos)  # the slots interleave; the multisets agree
    for group, traj in enumerate(trajectories):
        assert [turn.action for turn in traj.turns] == [expert for _, _, expert in replay(traj, 5 + group)]
        assert all(turn.valid and turn.prompt_ids == [] and turn.response_ids == [] for turn in traj.turns)
        assert traj.policy_version is None


def test_noise_1_detours_wherever_it_can_and_keeps_the_expert_label():
    trajectories, demos = play_expert([0, 1, 2, 3], noise=1.0, max_turns=6)
    detours = 0
    position = 0
    for group, traj in enumerate(trajectories):
        for index, (_, admissible, expert) in enumerate(replay(traj, seed=5 + group)):
            taken = traj.turns[index].action
            assert demos[position + index].action == expert
            if [a for a in admissible if a != expert]:
                assert taken != expert and taken in admissible
                detours += 1
            else:
                assert taken == expert
        position += traj.num_turns
    assert detours == len(demos) > 0
    assert sum(t.hit_turn_limit for t in trajectories) >= 3


def test_a_failing_reset_is_skipped_with_a_warning(caplog):
    pool = ToyPool(num_envs=2, failing_tasks=(7,))
    with caplog.at_level(logging.WARNING):
        demos = collect_demonstrations(
            pool, [1, 7, 2, 7], runner_config(), noise=0.0, seed=10, expert_text=TOY.expert_text
        )
    assert caplog.text.count("env reset failed for task 7") == 2
    _, expected = play_expert([1, 2], noise=0.0)  # the episodes that could start, played alone
    assert labelled(demos) == labelled(expected)


def test_each_demonstration_episode_gets_its_own_reset_seed():
    pool = ToyPool(num_envs=2)
    collect_demonstrations(
        pool, [4, 9, 4, 4], runner_config(), noise=0.0, seed=10, expert_text=TOY.expert_text
    )
    assert pool.seeds == {4: [10, 12, 13], 9: [11]}


def test_a_runner_needs_an_engine_or_a_policy():
    with pytest.raises(ValueError, match="an engine or a policy"):
        EpisodeRunner(None, None, ToyPool(1), runner_config())


class LoopingStudent:
    """A scripted student: writes a command the env rejects on its first two turns, then follows the expert
    (what a DAgger round records when a fine-tuned model falls into a loop and gets out)."""

    policy_version = None

    def choose(self, episodes, sampling):
        choices = []
        for episode in episodes:
            stuck = len(episode.memory.turns) < 2
            action = "fly to the moon" if stuck else episode.info["expert_action"]
            choices.append(Choice(ParsedAction(action, not stuck), [], Completion([], action, [])))
        return choices

    def drain(self) -> None:
        pass


def test_the_recorder_labels_every_state_the_student_visits_with_the_expert_action():
    config = runner_config()
    demos = record_demonstrations(
        ToyPool(num_envs=2), [3, 8], config, LoopingStudent(), seed=5, expert_text=TOY.expert_text
    )
    by_episode = {}
    for demo in demos:
        by_episode.setdefault(demo.memory.task, []).append(demo)
    assert len(by_episode) == 2
    for episode_demos in by_episode.values():
        first, second, third = episode_demos[:3]
        # the rejected command changed nothing: the expert's label is the same before and after it
        assert first.action == second.action == third.action
        assert [t.action for t in third.memory.turns] == ["fly to the moon", "fly to the moon"]
        assert third.memory.observation == INVALID_ACTION_OBS  # a state the expert's own episodes never show
        assert not any(d.action == "fly to the moon" for d in episode_demos)  # labels are the expert's


def test_a_dagger_round_plays_the_model_and_labels_its_states_with_the_expert(tmp_path):
    """``student_demonstrations``: the model plays training episodes through the HF engine and every state it
    visited comes back with the expert's label (toy env, real env workers)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.config import load_config
    from trainer.tiny_model import build_tiny_model, default_corpus
    from trainer.warm_start import student_demonstrations

    config = load_config(
        None, ["env.name=toy", "env.num_workers=1", "rollout.max_turns=3", "rollout.top_p=1.0"]
    )
    folder = build_tiny_model(tmp_path / "model", default_corpus())
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    demos = student_demonstrations(config, model, tokenizer, [0, 1, 2], round_index=0)
    # the round's reset seeds are 1000 + the episode's index; its first states are the resets'
    resets = [ToyEnv().reset(seed=1000 + i, options={"task_id": task}) for i, task in enumerate([0, 1, 2])]
    firsts = sorted((d.memory.observation, d.action) for d in demos if not d.memory.turns)
    assert firsts == sorted((observation, info["expert_action"]) for observation, info in resets)
    later = [d for d in demos if d.memory.turns]
    assert later  # a random model seldom wins in one turn: the episodes went on
    assert all(d.action in d.memory.admissible_actions for d in later)  # the expert's moves, not the model's
