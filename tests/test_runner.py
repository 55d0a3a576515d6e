"""Episode runner on the toy env: groups, invalid outputs, turn limits, truncation, env errors, batching, eval."""

from __future__ import annotations

import re

import pytest
import torch

from envs import get_spec
from envs.pool import EnvPool, StepResult, error_info
from envs.toy.env import ToyEnv
from rollout.engine import FINISH_LENGTH, FINISH_STOP, Completion, SamplingParams
from rollout.hf_engine import HFEngine
from rollout.policy_version import MODEL_FOLDER
from rollout.prompts import PromptConfig
from rollout.runner import EpisodeRunner, RunnerConfig, evaluate
from rollout.trajectory import RolloutBatch
from trainer.tiny_model import build_tiny_model, default_corpus


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.getbasetemp() / "rollout_tiny_model", default_corpus())


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


class LocalPool:
    """In-process stand-in for EnvPool (same API) that can inject env errors; keeps runner tests fast."""

    def __init__(self, num_envs: int, fail_at: dict[int, int] | None = None, **env_kwargs):
        self.num_envs = num_envs
        self.envs = [ToyEnv(**env_kwargs) for _ in range(num_envs)]
        self.task_ids = self.envs[0].task_ids
        self.fail_at = fail_at or {}  # step call index -> slot whose env "crashes" then
        self.step_calls = 0
        self.resets: list[tuple[int, int, int]] = []
        self.batch_sizes: list[int] = []

    def reset(self, slots, task_ids, seeds=None):
        seeds = seeds or [None] * len(slots)
        self.resets.extend(zip(slots, task_ids, seeds))
        return [
            self.envs[s].reset(seed=seed, options={"task_id": t})
            for s, t, seed in zip(slots, task_ids, seeds)
        ]

    def step(self, slots, actions):
        self.batch_sizes.append(len(slots))
        failing = self.fail_at.get(self.step_calls)
        self.step_calls += 1
        results = []
        for slot, action in zip(slots, actions):
            if slot == failing:
                results.append(StepResult("", 0.0, False, True, error_info("worker died (injected)")))
            else:
                results.append(StepResult(*self.envs[slot].step(action)))
        return results


class ScriptedEngine:
    """Answers every prompt with ``respond(prompt_text, call_index)``, tokenized like a real engine would."""

    def __init__(self, tokenizer, respond):
        self.tokenizer = tokenizer
        self.respond = respond
        self.calls = 0
        self.prompts_seen: list[list[list[int]]] = []
        self.policy_version = MODEL_FOLDER

    def generate(self, prompts, sampling):
        self.prompts_seen.append(prompts)
        out = []
        for prompt in prompts:
            text = self.respond(self.tokenizer.decode(prompt), self.calls)
            ids = self.tokenizer.encode(text, add_special_tokens=False)[: sampling.max_new_tokens]
            finish = FINISH_LENGTH if len(ids) == sampling.max_new_tokens else FINISH_STOP
            out.append(Completion(ids, self.tokenizer.decode(ids), [-1.0] * len(ids), finish))
        self.calls += 1
        return out

    def load_weights(self, weights):
        raise NotImplementedError

    def sleep(self, level=1):
        raise NotImplementedError

    def wake_up(self, tags=None):
        raise NotImplementedError

    def drain(self):
        self.drained = getattr(self, "drained", 0) + 1

    def close(self):
        pass


def current_section(prompt_text: str) -> str:
    return prompt_text.split("Current observation")[-1]


def open_task_policy(prompt_text: str, call: int) -> str:
    """Solves toy 'open' tasks from the prompt alone: go to the receptacle, then open it."""
    target = re.search(r"Your task: open the (\w+)", prompt_text).group(1)
    if f"- open {target}" in current_section(prompt_text):
        return f"<action>open {target}</action>"
    return f"<action>go to {target}</action>"


def task_ids_of_type(kind: str, n: int, **env_kwargs) -> list[int]:
    env = ToyEnv(**env_kwargs)
    ids = []
    for task_id in env.task_ids:
        _, info = env.reset(options={"task_id": task_id})
        if info["task_type"] == kind:
            ids.append(task_id)
    assert len(ids) >= n
    return ids[:n]


def make_runner(engine, tokenizer, pool, **overrides) -> EpisodeRunner:
    defaults = dict(
        group_size=3,
        max_turns=6,
        sampling=SamplingParams(temperature=1.0, max_new_tokens=12, seed=0),
        prompt=PromptConfig(action_format="action", intro=get_spec("toy").intro(), max_prompt_tokens=768),
        invalid_penalty=0.1,
        invalid_turn="inadmissible",
        max_action_chars=300,
        progress=False,
    )
    defaults.update(overrides)
    return EpisodeRunner(engine, tokenizer, pool, RunnerConfig(**defaults))


def check_groups(trajectories) -> None:
    assert len(trajectories) == 6
    groups: dict[str, list] = {}
    for traj in trajectories:
        groups.setdefault(traj.group_id, []).append(traj)
    assert len(groups) == 2
    for members in groups.values():
        assert len(members) == 3
        assert len({m.initial_observation for m in members}) == 1
        assert len({m.task_id for m in members}) == 1
        assert len({m.turns[0].anchor for m in members}) == 1
        assert len({tuple(m.turns[0].prompt_ids) for m in members}) == 1  # same first prompt...
    first_responses = [tuple(t.turns[0].response_ids) for t in groups[trajectories[0].group_id]]
    assert len(set(first_responses)) > 1  # ...different samples
    assert trajectories[0].initial_observation != trajectories[3].initial_observation
    assert len({t.traj_id for t in trajectories}) == 6
    for traj in trajectories:
        assert 1 <= traj.num_turns <= 2 and traj.turns[-1].done and not any(t.done for t in traj.turns[:-1])
        for turn in traj.turns:
            assert len(turn.response_ids) == len(turn.sampling_logprobs) >= 1
            assert len(turn.prompt_ids) <= 768


def test_groups_share_initial_state_but_not_samples(model_dir, tokenizer):
    engine = HFEngine(str(model_dir))
    runner = make_runner(engine, tokenizer, LocalPool(num_envs=6, n_tasks=8), max_turns=2)
    check_groups(runner.run([0, 1], seed=5))


@pytest.mark.slow
def test_groups_with_the_real_env_pool(model_dir, tokenizer):
    engine = HFEngine(str(model_dir))
    with EnvPool("turnrl/Toy-v0", {"n_tasks": 8}, num_envs=6, num_workers=2) as pool:
        check_groups(make_runner(engine, tokenizer, pool, max_turns=2).run([0, 1], seed=5))


def mixed_policy(prompt_text: str, call: int) -> str:
    """Solves 'open' tasks, idles on the others."""
    return (
        open_task_policy(prompt_text, call)
        if "Your task: open the" in prompt_text
        else "<action>look</action>"
    )


def test_invalid_outputs_are_flagged_and_the_episode_continues(tokenizer):
    long_text = "<action>go to " + "very far away " * 60  # 10x the token limit, never closed
    script = [
        "I think I should go to the fridge",  # no tag
        b"\xff\xfe\x00\x9c<act\xffion>garbage".decode("utf-8", errors="replace"),  # garbage bytes
        long_text,
        "<action>fly to the moon</action>",  # not admissible
        "<action></action>",  # empty
        "<action>look</action>",  # finally valid
    ]
    engine = ScriptedEngine(tokenizer, lambda _prompt, call: script[call])
    pool = LocalPool(num_envs=1, n_tasks=4, max_steps=10)
    runner = make_runner(engine, tokenizer, pool, group_size=1, max_turns=6, invalid_penalty=0.25)
    (traj,) = runner.run([0])
    assert traj.num_turns == 6
    assert [t.valid for t in traj.turns] == [False] * 5 + [True]
    reasons = [t.invalid_reason for t in traj.turns]
    assert reasons[:5] == [
        "no_action_tag",
        "no_action_tag",
        "no_action_tag",
        "not_admissible",
        "empty_action",
    ]
    assert traj.turns[2].finish_reason == FINISH_LENGTH
    assert [t.penalty for t in traj.turns] == [0.25] * 5 + [0.0]
    assert all(t.reward == 0.0 for t in traj.turns)  # the runner never folds the penalty into rewards
    assert traj.hit_turn_limit and not traj.won and traj.env_error is None

    # verl-agent's rule: only what does not parse is invalid; a well-formed command the env rejects is not
    malformed_only = make_runner(
        ScriptedEngine(tokenizer, lambda _prompt, call: script[call]),
        tokenizer,
        LocalPool(num_envs=1, n_tasks=4, max_steps=10),
        group_size=1,
        max_turns=6,
        invalid_penalty=0.25,
        invalid_turn="malformed",
    )
    (traj,) = malformed_only.run([0])
    assert [t.valid for t in traj.turns] == [False, False, False, True, False, True]
    assert [t.invalid_reason for t in traj.turns][3:] == ["", "empty_action", ""]


def test_a_rejected_action_restates_the_unchanged_state(tokenizer):
    """After "Nothing happens." the prompt still says where the agent is (rollout.restate_after_rejection)."""
    script = ["<action>fly to the moon</action>", "<action>fly again</action>", "<action>look</action>"]
    prompts = []

    def respond(prompt, call):
        prompts.append(prompt)  # already decoded
        return script[call]

    for restate in (True, False):
        prompts.clear()
        runner = make_runner(
            ScriptedEngine(tokenizer, respond),
            tokenizer,
            LocalPool(num_envs=1, n_tasks=4, max_steps=10),
            group_size=1,
            max_turns=3,
            prompt=PromptConfig(
                action_format="action",
                max_prompt_tokens=768,
                instructions=False,
                restate_after_rejection=restate,
            ),
        )
        (traj,) = runner.run([0])
        start = traj.initial_observation
        current = [p.split("Current observation")[1] for p in prompts]
        assert (start in current[1], start in current[2]) == (restate, restate)
        assert current[2].count("Nothing happens.") == 1  # restating never nests


def test_turn_limit_and_env_truncation(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda _p, _c: "<action>look</action>")
    pool = LocalPool(num_envs=2, n_tasks=4, max_steps=4)
    trajectories = make_runner(engine, tokenizer, pool, group_size=1, max_turns=20).run([0, 1])
    for traj in trajectories:  # the env truncates at its own max_steps before the runner's limit
        assert traj.num_turns == 4 and not traj.hit_turn_limit
        assert all(turn.valid for turn in traj.turns)
    short = make_runner(engine, tokenizer, LocalPool(num_envs=2, n_tasks=4), group_size=1, max_turns=3)
    for traj in short.run([0, 1]):
        assert traj.num_turns == 3 and traj.hit_turn_limit and traj.turns[-1].done


def test_solved_episodes_record_reward_win_and_leave_the_batch(tokenizer):
    tasks = task_ids_of_type("open", 2, n_tasks=16)
    engine = ScriptedEngine(tokenizer, open_task_policy)
    pool = LocalPool(num_envs=4, n_tasks=16)
    trajectories = make_runner(engine, tokenizer, pool, group_size=2, max_turns=8).run(tasks)
    for traj in trajectories:
        assert traj.won and traj.num_turns == 2 and traj.task_type == "open"
        assert [t.reward for t in traj.turns] == [0.0, 10.0]
        assert [t.action for t in traj.turns][1].startswith("open ")
        assert all(t.valid for t in traj.turns)
    assert engine.calls == 2 and pool.batch_sizes == [4, 4]


def test_more_episodes_than_slots_refills_freed_slots(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda _p, _c: "<action>look</action>")
    pool = LocalPool(num_envs=5, n_tasks=8)
    trajectories = make_runner(engine, tokenizer, pool, group_size=4, max_turns=2).run([0, 1, 2])
    assert len(trajectories) == 12 and all(t.num_turns == 2 for t in trajectories)
    assert max(pool.batch_sizes) == 5 and sum(pool.batch_sizes) == 24
    # every member of a group was reset with the same task and seed
    by_task: dict[int, set] = {}
    for _slot, task, seed in pool.resets:
        by_task.setdefault(task, set()).add(seed)
    assert all(len(seeds) == 1 for seeds in by_task.values()) and len(by_task) == 3
    for traj in trajectories:
        assert traj.initial_observation == next(
            t.initial_observation for t in trajectories if t.group_id == traj.group_id
        )


def test_env_error_episode_is_kept_and_flagged(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda _p, _c: "<action>look</action>")
    pool = LocalPool(num_envs=2, n_tasks=4, fail_at={1: 0})  # slot 0 dies on the second step
    trajectories = make_runner(engine, tokenizer, pool, group_size=2, max_turns=4).run([0])
    flagged = [t for t in trajectories if t.env_error]
    healthy = [t for t in trajectories if not t.env_error]
    assert len(flagged) == 1 and len(healthy) == 1
    assert "injected" in flagged[0].env_error and flagged[0].num_turns == 2 and flagged[0].turns[-1].done
    assert healthy[0].num_turns == 4
    batch = RolloutBatch.from_trajectories(trajectories)
    assert sum(e is not None for e in batch.env_error) == 2  # per row of the flagged episode


def test_prompts_over_the_limit_drop_the_oldest_history(tokenizer):
    engine = ScriptedEngine(tokenizer, lambda _p, call: f"<action>look</action> note{call}")
    pool = LocalPool(num_envs=1, n_tasks=4, max_steps=30)
    limit = 300
    runner = make_runner(
        engine,
        tokenizer,
        pool,
        group_size=1,
        max_turns=12,
        prompt=PromptConfig(
            action_format="action", intro=get_spec("toy").intro(), full_history=True, max_prompt_tokens=limit
        ),
    )
    (traj,) = runner.run([0])
    assert traj.num_turns == 12
    assert all(len(t.prompt_ids) <= limit for t in traj.turns)
    last = tokenizer.decode(traj.turns[-1].prompt_ids)
    assert "Step 1 action" not in last and "Step 11 action: look" in last  # oldest gone, newest kept


def test_rollout_batch_and_step_batch(tokenizer):
    from algorithms import estimate

    answered = iter(range(10**6))

    def every_other_open_answer_is_right(prompt_text: str, call: int) -> str:
        # Only the first member of the 'open' group ends up winning: the group has signal.
        if "Your task: open the" in prompt_text and next(answered) % 2 == 0:
            return open_task_policy(prompt_text, call)
        return "<action>look</action>"

    engine = ScriptedEngine(tokenizer, every_other_open_answer_is_right)
    tasks = task_ids_of_type("open", 1, n_tasks=16) + task_ids_of_type("pick", 1, n_tasks=16)
    runner = make_runner(engine, tokenizer, LocalPool(num_envs=4, n_tasks=16), group_size=2, max_turns=3)
    batch = runner.rollout(tasks)
    assert len(batch) == sum(t.num_turns for t in batch.trajectories)
    assert batch.step[:2] == [0, 1] and batch.traj_id[0] == batch.traj_id[1]
    width = batch.max_response_length + 3
    mask = batch.response_mask(width)
    for row, ids in enumerate(batch.response_ids):
        assert mask[row, : len(ids)].eq(1).all() and mask[row, len(ids) :].eq(0).all()
    step_batch = batch.to_step_batch(batch.sampling_logprobs_tensor(width))
    assert step_batch.reward.dtype == torch.float32 and step_batch.valid.dtype == torch.bool
    assert step_batch.old_logprobs.shape == (len(batch), width)
    advantages = estimate("grpo", step_batch, norm="mean")
    assert advantages.shape == (len(batch), width)
    won = torch.tensor(batch.won)
    assert won.any() and sum(t.won for t in batch.trajectories) == 1
    assert (advantages[won] > 0).any(-1).all()  # the winner's turns are pushed up
    lost_sibling = torch.tensor(
        [g == batch.group_id[batch.won.index(True)] and not w for g, w in zip(batch.group_id, batch.won)]
    )
    assert (advantages[lost_sibling].sum(-1) < 0).all()
    with pytest.raises(ValueError, match="shorter"):
        batch.to_step_batch(torch.zeros(len(batch), 1))


def test_evaluate_reports_success_overall_and_per_task_type(tokenizer):
    open_tasks = task_ids_of_type("open", 2, n_tasks=16)
    pick_tasks = task_ids_of_type("pick", 2, n_tasks=16)
    engine = ScriptedEngine(tokenizer, mixed_policy)
    runner = make_runner(engine, tokenizer, LocalPool(num_envs=4, n_tasks=16), max_turns=3)
    result = evaluate(runner, open_tasks + pick_tasks, greedy=True)
    assert result.episodes == 4
    assert result.success_rate == 0.5
    assert result.per_task_type == {"open": 1.0, "pick": 0.0}
    assert result.episodes_per_task_type == {"open": 2, "pick": 2}


def test_runner_config_validation():
    fields = dict(
        group_size=1,
        max_turns=1,
        sampling=SamplingParams(max_new_tokens=32),
        prompt=PromptConfig(action_format="action", max_prompt_tokens=1024, intro=get_spec("toy").intro()),
        invalid_penalty=0.1,
        invalid_turn="inadmissible",
        max_action_chars=300,
        progress=False,
    )
    RunnerConfig(**fields)
    with pytest.raises(ValueError, match="invalid_turn"):
        RunnerConfig(**{**fields, "invalid_turn": "sometimes"})
    with pytest.raises(ValueError, match="group_size"):
        RunnerConfig(**{**fields, "group_size": 0})
    with pytest.raises(ValueError, match="max_turns"):
        RunnerConfig(**{**fields, "max_turns": 0})
    with pytest.raises(TypeError, match="max_action_chars"):  # no defaults: the schema holds them
        RunnerConfig(**{name: value for name, value in fields.items() if name != "max_action_chars"})


def test_summarize_eval_weighs_every_episode_and_turn_the_same():
    """The trainer gathers every rank's outcomes and summarizes them once: rates are over all episodes and all
    turns, whichever rank played them (a rank with long episodes weighs by its turns, not by its episodes)."""
    from rollout import EpisodeOutcome, summarize_eval

    rank0 = [EpisodeOutcome("pick", won=True, turns=2, invalid_turns=0, env_error=False)]
    rank1 = [
        EpisodeOutcome("pick", won=False, turns=10, invalid_turns=5, env_error=False),
        EpisodeOutcome("clean", won=True, turns=4, invalid_turns=1, env_error=True),
    ]
    result = summarize_eval(rank0 + rank1)
    assert result.episodes == 3 and result.success_rate == 2 / 3
    assert result.per_task_type == {"clean": 1.0, "pick": 0.5}
    assert result.episodes_per_task_type == {"clean": 1, "pick": 2}
    assert result.mean_turns == 16 / 3 and result.invalid_turn_rate == 6 / 16
    assert result.env_errors == 1 and result.outcomes == [True, False, True]
    with pytest.raises(ValueError, match="no episodes"):
        summarize_eval([])
