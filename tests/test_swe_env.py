"""SWEEnv end to end on the shipped task set: expert episodes, rewards, info keys, anchors, turn
limit, invalid actions, reward-hacking attempts, abuse reported in info, and the EnvPool."""

import shutil

import gymnasium
import pytest

from envs.swe.dataset import load_split

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

INFO_KEYS = {"task", "admissible_actions", "won", "anchor", "valid_action", "task_type", "expert_action"}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("swe-cache")


@pytest.fixture(scope="module")
def env(cache_dir):
    from envs.swe.env import SWEEnv

    env = SWEEnv(split="test", cache_dir=cache_dir, max_turns=8, command_limits={"wall_s": 20, "cpu_s": 10})
    yield env
    env.close()


@pytest.fixture(scope="module")
def task_ids():
    instances = load_split("test")
    by_repo = {}
    for inst in instances:
        by_repo.setdefault(inst.repo, inst.instance_id)
    return list(by_repo.values())


def play_expert(env, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    for _ in range(env.max_turns):
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        if terminated or truncated:
            return reward, terminated, info
    raise AssertionError("expert did not finish")


def test_gymnasium_make_uses_the_shipped_split(cache_dir):
    import envs  # noqa: F401  (registers the turnrl ids)

    env = gymnasium.make("turnrl/SWE-v0", split="test", cache_dir=cache_dir)
    try:
        assert env.unwrapped.task_ids == [i.instance_id for i in load_split("test")]
        obs, info = env.reset(seed=3)
        assert "<issue>" in obs and info["task_id"] in env.unwrapped.task_ids
    finally:
        env.close()


def test_expert_resolves_and_empty_submission_does_not(env, task_ids):
    for task_id in task_ids[:2]:
        reward, terminated, info = play_expert(env, task_id)
        assert reward == 1.0 and terminated and info["won"] and info["resolved"]
        assert info["f2p_passed"] == info["f2p_total"] > 0 and info["p2p_passed"] == info["p2p_total"]
        env.reset(options={"task_id": task_id})
        _, reward, terminated, _, info = env.step({"tool": "submit"})
        assert reward == 0.0 and terminated and not info["won"]
        assert info["f2p_passed"] < info["f2p_total"]


def test_info_keys_on_reset_and_step(env, task_ids):
    obs, info = env.reset(options={"task_id": task_ids[0]})
    assert INFO_KEYS <= set(info)
    inst = env.instances[task_ids[0]]
    assert info["task"] == inst.problem_statement and info["task_type"] == inst.repo_name
    assert info["admissible_actions"] is None and info["valid_action"] and not info["won"]
    assert info["expert_action"]["tool"] == "str_replace_editor"
    assert inst.problem_statement.strip() in obs and "<function=" in obs
    _, reward, terminated, truncated, info = env.step(
        "<function=bash><parameter=command>ls</parameter></function>"
    )
    assert INFO_KEYS <= set(info) and reward == 0.0 and not terminated and not truncated
    assert info["exec"]["exit_code"] == 0 and info["tool"] == "bash"


def test_invalid_actions_are_flagged_not_fatal(env, task_ids):
    env.reset(options={"task_id": task_ids[0]})
    obs, reward, terminated, truncated, info = env.step("I will now fix it. (no tool call)")
    assert obs.startswith("Invalid action") and not info["valid_action"] and reward == 0.0
    obs, *_, info = env.step({"tool": "str_replace_editor", "command": "explode", "path": "/testbed"})
    assert not info["valid_action"]
    obs, *_, info = env.step({"tool": "str_replace_editor", "command": "view", "path": "/etc/passwd"})
    assert info["valid_action"] and obs.startswith("Error:") and "outside" in obs
    assert info["turn"] == 3


def test_anchor_depends_on_tree_and_last_command(env, task_ids):
    view = {"tool": "str_replace_editor", "command": "view", "path": "/testbed"}
    anchors = []
    for _ in range(2):
        _, info = env.reset(options={"task_id": task_ids[0]})
        anchors.append(info["anchor"])
        anchors.append(env.step(view)[4]["anchor"])
    assert anchors[0] == anchors[2] and anchors[1] == anchors[3]  # same state, same anchor
    assert anchors[0] != anchors[1]  # same tree, different last command
    ls = {"tool": "bash", "command": "ls"}
    before = env.step(ls)[4]["anchor"]
    env.step({"tool": "bash", "command": "echo x >> README.md"})
    after = env.step(ls)[4]["anchor"]
    assert before != after  # same last command, different tree


def test_turn_limit_grades_the_working_copy(cache_dir, task_ids):
    from envs.swe.env import SWEEnv

    env = SWEEnv(split="test", cache_dir=cache_dir, max_turns=2, task_ids=[task_ids[1]])
    try:
        _, info = env.reset()
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        assert not terminated and not truncated
        obs, reward, terminated, truncated, info = env.step({"tool": "bash", "command": "true"})
        assert truncated and not terminated and reward == 1.0 and info["resolved"]
        assert "turn limit" in obs
        with pytest.raises(RuntimeError, match="reset"):
            env.step({"tool": "submit"})
    finally:
        env.close()


def test_editing_the_tests_does_not_earn_reward(env, task_ids):
    """Deleting visible tests or adding a conftest that skips everything: the graded patch leaves
    test files and conftest.py out, so the hidden tests still fail."""
    env.reset(options={"task_id": task_ids[0]})
    hack = (
        "printf 'import pytest\\n\\ndef pytest_collection_modifyitems(items):\\n"
        "    for item in items:\\n        item.add_marker(pytest.mark.skip)\\n' > conftest.py; "
        "for f in tests/test_*.py; do echo 'def test_ok(): pass' > $f; done"
    )
    env.step({"tool": "bash", "command": hack})
    _, reward, terminated, _, info = env.step({"tool": "submit"})
    assert terminated and reward == 0.0 and info["f2p_passed"] < info["f2p_total"]


def test_abuse_is_reported_and_the_next_episode_is_clean(cache_dir, task_ids):
    from envs.swe.dataset import TASKS_DIR
    from envs.swe.env import SWEEnv

    env = SWEEnv(split="test", cache_dir=cache_dir, command_limits={"wall_s": 3, "cpu_s": 1, "nproc": 64})
    try:
        env.reset(options={"task_id": task_ids[0]})

        def bash(command):
            return env.step({"tool": "bash", "command": command})

        obs, *_, info = bash(
            "curl -sS -m 2 http://1.1.1.1/; python -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), 2)'"
        )
        assert "Network is unreachable" in obs and info["exec"]["exit_code"] != 0
        obs, *_, info = bash(f"touch /oops ~/oops {TASKS_DIR}/oops; cat {TASKS_DIR}/test.jsonl")
        assert "instance_id" not in obs and not (TASKS_DIR / "oops").exists()
        obs, *_, info = bash("python -c 'bytearray(10 * 2**30)'")
        assert info["exec"]["limit"] == "memory" and "out of memory" in obs
        obs, *_, info = bash("yes | head -c 1000000000")
        assert info["exec"]["limit"] == "output_size" and len(obs) < 12_000
        obs, *_, info = bash(":(){ :|:& };:; sleep 1")
        assert info["exec"]["limit"] in ("process_count", "wall_time")
        obs, *_, info = bash("while :; do :; done")
        assert info["exec"]["limit"] in ("cpu_time", "wall_time") and "killed" in obs
        bash("rm -rf /testbed/* /testbed/.git")
        reward, terminated, info = play_expert(env, task_ids[0])
        assert reward == 1.0 and terminated
    finally:
        env.close()


def test_runs_inside_the_env_pool(cache_dir, task_ids):
    from envs.pool import EnvPool

    kwargs = {"split": "test", "cache_dir": str(cache_dir), "max_turns": 5}
    with EnvPool("turnrl/SWE-v0", kwargs, num_envs=2, num_workers=1, step_timeout_s=120) as pool:
        assert pool.task_ids == [i.instance_id for i in load_split("test")]
        first = pool.reset([0, 1], [task_ids[0], task_ids[1]])
        actions = [first[0][1]["expert_action"], {"tool": "submit"}]
        results = pool.step([0, 1], actions)
        assert results[1].terminated and results[1].reward == 0.0
        final = pool.step([0], [results[0].info["expert_action"]])[0]
        assert final.terminated and final.reward == 1.0 and "env_error" not in final.info
