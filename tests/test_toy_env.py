"""ToyEnv rules, splits and gymnasium conformance; env registration; TextSpace."""

import subprocess
import sys
import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs.text_spaces import TextSpace
from envs.toy.env import INVALID_ACTION_OBS, ToyEnv, generate_tasks

INFO_KEYS = {"task", "admissible_actions", "won", "anchor", "valid_action", "task_type", "expert_action"}


def play_expert(env: ToyEnv, task_id: int):
    obs, info = env.reset(options={"task_id": task_id})
    observations, rewards = [obs], []
    while True:
        assert info["expert_action"] in info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            return observations, rewards, terminated, info


@pytest.mark.parametrize("split", ["train", "test"])
def test_expert_wins_every_task_in_two_to_five_actions(split):
    env = ToyEnv(split=split, n_tasks=64, max_steps=10, success_reward=7.5)
    seen_types = set()
    for task_id in env.task_ids:
        observations, rewards, terminated, info = play_expert(env, task_id)
        assert terminated and info["won"], (task_id, info)
        assert 2 <= len(rewards) <= 5
        assert rewards == [0.0] * (len(rewards) - 1) + [7.5]
        assert info["expert_action"] is None
        seen_types.add(info["task_type"])
    assert seen_types == {"open", "pick", "put"}


def test_splits_are_disjoint_and_deterministic():
    train = generate_tasks("train", 300, seed=0)
    test = generate_tasks("test", 300, seed=0)
    assert not set(train) & set(test)
    assert len(set(train)) == 300 and len(set(test)) == 300
    assert generate_tasks("train", 20, seed=0) == train[:20]  # ids keep their meaning as n_tasks grows
    assert generate_tasks("train", 20, seed=1) != train[:20]
    assert ToyEnv(split="test", n_tasks=8).task_ids == list(range(8))
    with pytest.raises(ValueError, match="split"):
        ToyEnv(split="validation")


def test_same_task_gives_same_episode_in_a_fresh_process():
    code = (
        "from envs.toy.env import ToyEnv; e = ToyEnv(split='test', n_tasks=8); "
        "print(repr(e.reset(options={'task_id': 5})[0]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    local = ToyEnv(split="test", n_tasks=8).reset(options={"task_id": 5})[0]
    assert out.stdout.strip() == repr(local)


def test_info_has_the_contract_keys_and_anchor_is_the_observation():
    env = ToyEnv()
    obs, info = env.reset(options={"task_id": 0})
    assert INFO_KEYS <= set(info) and info["anchor"] == obs and "Your task is to: " + info["task"] in obs
    obs, _, _, _, info = env.step("look")
    assert INFO_KEYS <= set(info) and info["anchor"] == obs and info["valid_action"] is True


@pytest.mark.parametrize(
    "bad_action", ["fly to the moon", "", "go to garage", {"tool": "bash"}, None, "take"]
)
def test_invalid_action_is_flagged_and_changes_nothing(bad_action):
    env = ToyEnv(split="test", n_tasks=8)
    reference = ToyEnv(split="test", n_tasks=8)
    start, before = env.reset(options={"task_id": 4})
    reference.reset(options={"task_id": 4})
    obs, reward, terminated, truncated, info = env.step(bad_action)
    assert obs == INVALID_ACTION_OBS and reward == 0.0 and not terminated and not truncated
    assert info["valid_action"] is False
    assert info["anchor"] == start  # the state did not move, so neither does its GiGPO anchor
    assert {k: info[k] for k in ("admissible_actions", "expert_action", "won")} == {
        k: before[k] for k in ("admissible_actions", "expert_action", "won")
    }
    while not info["won"]:  # the rest of the episode unfolds exactly as without the bad action
        action = info["expert_action"]
        obs, *_, info = env.step(action)
        assert obs == reference.step(action)[0]


def test_actions_are_matched_ignoring_case_and_spacing():
    env = ToyEnv()
    env.reset(options={"task_id": 0})
    assert env.step("  GO   to\tFridge ")[4]["valid_action"] is True


def test_episode_truncates_at_max_steps_without_reward():
    env = ToyEnv(max_steps=3)
    env.reset(options={"task_id": 0})
    outcomes = [env.step("inventory") for _ in range(3)]
    assert [o[3] for o in outcomes] == [False, False, True]
    assert all(o[1] == 0.0 and o[2] is False for o in outcomes)
    with pytest.raises(RuntimeError, match="reset"):
        env.step("look")


def test_bad_configuration_and_task_ids_raise_clear_errors():
    with pytest.raises(ValueError, match="max_steps"):
        ToyEnv(max_steps=1)
    with pytest.raises(ValueError, match="n_tasks"):
        ToyEnv(n_tasks=0)
    env = ToyEnv(n_tasks=4)
    with pytest.raises(ValueError, match="task_id"):
        env.reset(options={"task_id": 4})
    with pytest.raises(RuntimeError, match="reset"):
        ToyEnv().step("look")


def test_seeded_reset_without_task_id_is_deterministic():
    env = ToyEnv(n_tasks=50)
    picks = {env.reset(seed=s)[1]["task_id"] for s in range(20)}
    assert len(picks) > 1
    assert env.reset(seed=3) == env.reset(seed=3)


def test_gymnasium_env_checker_passes_without_warnings():
    # check_env's render checks are skipped by gymnasium itself: ToyEnv declares no render modes.
    env = gymnasium.make("turnrl/Toy-v0", max_steps=5).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


@settings(max_examples=60, deadline=None)
@given(action=st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_env(action):
    env = ToyEnv(n_tasks=4)
    _, before = env.reset(options={"task_id": 1})
    obs, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    if not info["valid_action"]:
        assert obs == INVALID_ACTION_OBS and info["admissible_actions"] == before["admissible_actions"]


def test_registration_uses_string_entry_points_and_import_stays_light():
    assert list(envs.env_specs()) == ["alfworld", "webshop", "swe", "toy"]
    expected = {
        "turnrl/ALFWorld-v0": "envs.alfworld.env:ALFWorldEnv",
        "turnrl/WebShop-v0": "envs.webshop.env:WebShopEnv",
        "turnrl/SWE-v0": "envs.swe.env:SWEEnv",
        "turnrl/Toy-v0": "envs.toy.env:ToyEnv",
    }
    assert {spec.gym_id: spec.entry_point for spec in envs.env_specs().values()} == expected
    for env_id, entry_point in expected.items():
        assert gymnasium.spec(env_id).entry_point == entry_point
    probe = (
        "import sys, envs; print(sorted(m for m in sys.modules if m in ('torch', 'textworld', 'bm25s') or "
        "m.startswith('envs.') and m.count('.') == 2 and not m.endswith('.spec')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['envs.swe.tools']"  # the specs only (SWE's tool manual is plain text)


def test_text_space_accepts_any_printable_text_within_bounds():
    space = TextSpace(max_length=20)
    assert space.contains("Größe: 10 cm — 😀\n\tok")
    assert space.contains("")
    assert not space.contains("x" * 21)
    assert not space.contains("null\x00byte")
    assert not space.contains(b"bytes")
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(50))
    assert TextSpace(max_length=20) == space and TextSpace(max_length=21) != space
