"""ALFWorld: offline generator, json_2.1.1 loader, gymnasium env, planner expert, EnvPool.

The default tests share one small generated set (all six task types in rooms of at most six
pieces of furniture, built in-process in ~2 s). The standard preset, multi-process generation, the
cached default set and the TextWorld-memo equivalence check are marked slow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import pytest

pytest.importorskip("alfworld", reason="ALFWorld needs the alfworld extra: pip install -e '.[alfworld]'")

import envs  # noqa: E402,F401  (registers turnrl/ALFWorld-v0)
from envs.alfworld import dataset  # noqa: E402
from envs.alfworld.env import ALFWorldEnv  # noqa: E402
from envs.alfworld.generation import catalog, generate  # noqa: E402
from envs.alfworld.generation.scene import TASK_TYPES, SceneKnobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL_ROOMS = generate.GenerationConfig(knobs=SceneKnobs(max_receptacles=6, distractors=(1, 3)))
SIZES = {"train": 6, "eval_in_distribution": 2, "eval_out_of_distribution": 2}
# verl-agent's per-type success metrics look for these substrings in the game path.
VERL_AGENT_TYPE_KEYS = (
    "pick_and_place",
    "pick_two_obj_and_place",
    "look_at_obj_in_light",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_clean_then_place_in_recep",
)


@pytest.fixture(scope="module")
def games(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("alfworld") / "games"
    generate.generate(root, SIZES, seed=7, config=SMALL_ROOMS, workers=1)
    return root


@pytest.fixture(scope="module")
def manifest(games) -> dict:
    return json.loads((games / generate.MANIFEST).read_text())


def play_expert(env: ALFWorldEnv, task_id: str) -> tuple[list[str], dict, float]:
    obs, info = env.reset(options={"task_id": task_id})
    actions, total = [], 0.0
    done = False
    while not done:
        actions.append(info["expert_action"])
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        total += reward
        done = terminated or truncated
    return actions, info, total


# ---------------------------------------------------------------------------------------- generator


def test_generator_covers_every_task_type_and_the_expert_wins_each(games, manifest):
    train = [g for g in manifest["games"] if g["split"] == "train"]
    assert sorted(g["task_type"] for g in train) == sorted(TASK_TYPES)
    env = ALFWorldEnv(data_dir=games, split="train")
    assert sorted(env.task_ids) == sorted(g["task_id"] for g in train)
    for entry in train:
        actions, info, total = play_expert(env, entry["task_id"])
        assert info["won"] and total == 10.0, entry["task_id"]
        assert info["task_type"] == entry["task_type"]
        assert info["expert_action"] is None  # nothing left to do once won
        # The walkthrough is the plan the expert gives at reset; replanning each step may break
        # ties differently but must not need more steps.
        assert actions[0] == entry["expert_plan"][0]
        assert len(actions) <= entry["expert_plan_length"] == len(entry["expert_plan"])
        env.reset(options={"task_id": entry["task_id"]})
        for action in entry["expert_plan"]:
            _, reward, terminated, _, info = env.step(action)
        assert terminated and info["won"] and reward == 10.0


def test_manifest_and_folders_follow_the_official_layout(games, manifest):
    assert manifest["seed"] == 7
    assert {s: v["count"] for s, v in manifest["splits"].items()} == SIZES
    seen = set(catalog.floor_plan_numbers(seen=True))
    unseen = set(catalog.floor_plan_numbers(seen=False))
    for entry in manifest["games"]:
        folder = games / "json_2.1.1" / dataset.SPLIT_DIRS[entry["split"]] / entry["task_id"]
        assert (folder / "traj_data.json").exists() and (folder / "game.tw-pddl").exists()
        game = json.loads((folder / "game.tw-pddl").read_text())
        assert game["solvable"] is True and game["walkthrough"] == entry["expert_plan"]
        assert f"Your task is to: {entry['task']}." in game["grammar"]
        traj = json.loads((folder / "traj_data.json").read_text())
        assert traj["task_type"] == entry["task_type"] and traj["pddl_params"]["object_target"]
        keys = [k for k in VERL_AGENT_TYPE_KEYS if k in entry["task_id"]]
        assert keys and entry["task_type"].startswith(keys[0])
        assert entry["num_receptacles"] <= 6
        assert entry["room_type"] in catalog.ROOM_TYPES
        number = int(entry["floor_plan"].removeprefix("FloorPlan"))
        assert number in (unseen if entry["split"] == "eval_out_of_distribution" else seen)


def test_generation_is_deterministic_for_a_seed(tmp_path):
    sizes = {"train": 2, "eval_in_distribution": 0, "eval_out_of_distribution": 1}
    first = generate.generate(tmp_path / "a", sizes, seed=3, config="tiny", workers=1)
    again = generate.generate(tmp_path / "b", sizes, seed=3, config="tiny", workers=1)
    other = generate.generate(tmp_path / "c", sizes, seed=4, config="tiny", workers=1)
    assert first == again
    assert first["games"] != other["games"]
    for entry in first["games"]:
        rel = Path("json_2.1.1", dataset.SPLIT_DIRS[entry["split"]], entry["task_id"], "game.tw-pddl")
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_small_preset_keeps_short_plans_in_small_rooms(tmp_path):
    manifest = generate.generate(tmp_path / "s", {"train": 6}, seed=1, config="small", workers=1)
    preset = generate.PRESETS["small"]
    for entry in manifest["games"]:
        assert entry["task_type"] in preset.knobs.task_types
        assert 2 <= entry["expert_plan_length"] <= 6
        assert entry["num_receptacles"] <= preset.knobs.max_receptacles


def test_bad_generator_settings_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="task_types"):
        SceneKnobs(task_types=("pick_and_fly",))
    with pytest.raises(ValueError, match="unknown preset"):
        generate.generate(tmp_path / "x", {"train": 1}, config="huge")
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        generate.generate(tmp_path / "y", {"test": 1}, config="tiny")
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "keep.txt").write_text("not empty")
    with pytest.raises(FileExistsError):
        generate.generate(tmp_path / "z", {"train": 1}, config="tiny")


@pytest.mark.parametrize(
    ("signum", "error"), [(signal.SIGXCPU, generate.PlannerTooSlow), (signal.SIGTERM, RuntimeError)]
)
def test_planner_child_killed_by_its_cpu_limit_is_slow_and_any_other_death_is_an_error(
    monkeypatch, signum, error
):
    class DyingPlanner:
        def solve_sas(self, sas, verbose):
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(generate, "_solver_lib", DyingPlanner)
    monkeypatch.setattr("envs.alfworld.game.translate_pddl", lambda domain, problem, optimize: (None, "sas"))
    with pytest.raises(error):
        generate._quick_plan_length("(define (problem p))")


def test_cli_writes_a_set_and_reports_bad_arguments(tmp_path):
    out = tmp_path / "cli"
    code = generate.main(
        ["--out", str(out), "--n", "1", "--n-eval", "0", "--preset", "tiny", "--workers", "1"]
    )
    assert code == 0
    assert len(json.loads((out / generate.MANIFEST).read_text())["games"]) == 1
    assert generate.main(["--out", str(tmp_path / "bad"), "--n", "1", "--task-types", "dance"]) == 2


# ---------------------------------------------------------------------------------------- env


def test_env_info_keys_and_reset_is_reproducible(games):
    env = gymnasium.make("turnrl/ALFWorld-v0", data_dir=str(games), split="train").unwrapped
    task_id = env.task_ids[0]
    obs, info = env.reset(options={"task_id": task_id})
    assert {
        "task",
        "admissible_actions",
        "won",
        "anchor",
        "valid_action",
        "task_type",
        "expert_action",
    } <= set(info)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert obs.endswith(f"Your task is to: {info['task']}")
    assert "help" not in info["admissible_actions"] and "look" in info["admissible_actions"]
    assert info["anchor"] == obs and info["won"] is False and info["valid_action"] is True
    assert info["expert_action"] in info["admissible_actions"]
    env.step(info["expert_action"])
    env.step(info["admissible_actions"][-1])
    again_obs, again_info = env.reset(options={"task_id": task_id})
    assert (again_obs, again_info) == (obs, info)
    assert env.reset(seed=5) == env.reset(seed=5)


def test_invalid_actions_are_flagged_and_change_nothing(games):
    env = ALFWorldEnv(data_dir=games, split="train")
    task_id = env.task_ids[0]
    expert_actions, _, _ = play_expert(env, task_id)
    obs, info = env.reset(options={"task_id": task_id})
    for bad in ("fly to the moon", "", "help", None, {"tool": "bash"}, "go to nowhere 99"):
        bad_obs, reward, terminated, truncated, bad_info = env.step(bad)
        assert bad_info["valid_action"] is False and reward == 0.0 and not terminated
        assert bad_info["admissible_actions"] == info["admissible_actions"]
        assert bad_info["expert_action"] == info["expert_action"]
        assert bad_info["anchor"] == obs  # the state did not move, so neither does its GiGPO anchor
        if bad != "help":  # the game answers "help" with its command list, like ALFWorld does
            assert bad_obs == "Nothing happens."
    for action in expert_actions:  # the expert's original plan still wins: the state never moved
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["valid_action"] is True and info["anchor"] == obs
    assert terminated and info["won"] and reward == 10.0


def test_same_actions_after_a_reset_replay_the_episode(games):
    """What the spec's ``replayable`` promises (``rollout.branch_at_failure`` replays prefixes)."""
    from test_branching import assert_replays

    task_ids = ALFWorldEnv(data_dir=games, split="train").task_ids[:3]
    assert_replays(lambda: ALFWorldEnv(data_dir=games, split="train", expert="search"), task_ids, steps=8)


def test_truncation_reward_and_stepping_after_the_end(games):
    env = ALFWorldEnv(data_dir=games, split="train", max_steps=2, success_reward=1.0)
    env.reset(options={"task_id": env.task_ids[0]})
    assert env.step("look")[2:4] == (False, False)
    _, reward, terminated, truncated, info = env.step("inventory")
    assert (reward, terminated, truncated) == (0.0, False, True) and info["valid_action"] is True
    with pytest.raises(RuntimeError, match="reset"):
        env.step("look")
    env = ALFWorldEnv(data_dir=games, split="train", success_reward=1.0)
    assert play_expert(env, env.task_ids[1])[2] == 1.0
    with pytest.raises(KeyError, match="unknown ALFWorld task_id"):
        env.reset(options={"task_id": "no-such-game"})


def test_expert_can_be_turned_off(games, manifest):
    env = ALFWorldEnv(data_dir=games, split="train", expert=None)
    entry = next(g for g in manifest["games"] if g["task_type"] == "pick_heat_then_place_in_recep")
    _, info = env.reset(options={"task_id": entry["task_id"]})
    assert info["expert_action"] is None
    for action in entry["expert_plan"]:
        _, reward, terminated, _, info = env.step(action)
        assert info["expert_action"] is None and info["valid_action"]
    assert terminated and info["won"] and reward == 10.0


def test_searching_expert_wins_every_task_type_and_looks_in_list_order_until_it_finds(games, manifest):
    """Until its first take, the searcher walks the receptacles in the admissible list's order (the task's own
    receptacle last), wherever the object lies: it plays without the planner's knowledge and still wins."""
    env = ALFWorldEnv(data_dir=games, split="train", max_steps=50, expert="search")
    for entry in (g for g in manifest["games"] if g["split"] == "train"):
        _, info = env.reset(options={"task_id": entry["task_id"]})
        task_words = set(re.findall(r"[a-z]+", info["task"].lower()))
        order = [a[len("go to ") :] for a in info["admissible_actions"] if a.startswith("go to ")]
        order.sort(key=lambda place: place.rsplit(" ", 1)[0] in task_words)
        actions, done = [], False
        while not done:
            actions.append(info["expert_action"])
            _, _, terminated, truncated, info = env.step(actions[-1])
            done = terminated or truncated
        assert terminated and info["won"], (entry["task_id"], actions)
        first_take = next(i for i, a in enumerate(actions) if a.startswith("take "))
        walks = [a[len("go to ") :] for a in actions[:first_take] if a.startswith("go to ")]
        assert walks == order[: len(walks)], (entry["task_id"], actions)


def test_eval_splits_and_bad_arguments(games):
    ood = ALFWorldEnv(data_dir=games, split="eval_out_of_distribution")
    assert len(ood.task_ids) == 2
    assert ALFWorldEnv(data_dir=games, split="valid_seen").split == "eval_in_distribution"
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        ALFWorldEnv(data_dir=games, split="test")
    with pytest.raises(FileNotFoundError, match="json_2.1.1"):
        ALFWorldEnv(data_dir=games / "nowhere")
    with pytest.raises(ValueError, match="max_steps"):
        ALFWorldEnv(data_dir=games, max_steps=0)
    with pytest.raises(ValueError, match="expert must be one of"):
        ALFWorldEnv(data_dir=games, expert="oracle")


def test_gymnasium_env_checker_passes(games):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("turnrl/ALFWorld-v0", data_dir=str(games), split="eval_in_distribution").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_official_layout_tree_is_played_from_alfworld_data(games, manifest, tmp_path, monkeypatch):
    """A json_2.1.1 tree named like the official release (built from our games) is found through
    ALFWORLD_DATA; movable/sliced tasks, unsolvable and game-less trials are skipped like ALFWorld does."""
    official = tmp_path / "alfworld_data"
    renamed = {}
    for i, entry in enumerate(g for g in manifest["games"] if g["split"] == "train"):
        src = games / "json_2.1.1" / "train" / entry["task_id"]
        task_folder = entry["task_id"].split("/")[0]
        dst = official / "json_2.1.1" / "train" / task_folder / f"trial_T20190907_21280{i}_123456"
        shutil.copytree(src, dst)
        renamed[dst.relative_to(official / "json_2.1.1" / "train").as_posix()] = entry
    skipped_src = games / "json_2.1.1" / "train" / manifest["games"][0]["task_id"]
    shutil.copytree(
        skipped_src, official / "json_2.1.1/train/pick_and_place_with_movable_recep-Apple-Bowl-Fridge-1/t1"
    )
    shutil.copytree(
        skipped_src, official / "json_2.1.1/train/pick_heat_then_place_in_recep-AppleSliced-None-X-1/t1"
    )
    unsolvable = official / "json_2.1.1/train/pick_and_place_simple-Book-None-Desk-301/trial_unsolvable"
    shutil.copytree(skipped_src, unsolvable)
    game = json.loads((unsolvable / "game.tw-pddl").read_text())
    (unsolvable / "game.tw-pddl").write_text(json.dumps({**game, "solvable": False}))
    no_game = official / "json_2.1.1/train/pick_and_place_simple-Pen-None-Desk-301/trial_no_game"
    shutil.copytree(skipped_src, no_game)
    (no_game / "game.tw-pddl").unlink()
    for name in ("valid_seen", "valid_unseen"):
        (official / "json_2.1.1" / name).mkdir(parents=True)

    monkeypatch.setenv("ALFWORLD_DATA", str(official))
    env = gymnasium.make("turnrl/ALFWorld-v0", split="train").unwrapped
    assert sorted(env.task_ids) == sorted(renamed)
    task_id = next(t for t in env.task_ids if renamed[t]["task_type"] == "pick_two_obj_and_place")
    actions, info, total = play_expert(env, task_id)
    assert info["won"] and total == 10.0 and len(actions) <= renamed[task_id]["expert_plan_length"]
    with pytest.raises(FileNotFoundError, match="no playable ALFWorld games"):
        ALFWorldEnv(split="eval_in_distribution")


def test_data_dir_resolution(games, tmp_path, monkeypatch):
    from envs.alfworld.env import resolve_data_dir

    built = []
    monkeypatch.setattr("envs.alfworld.env.default_data_dir", lambda *args: built.append(args) or "generated")
    monkeypatch.setenv("ALFWORLD_DATA", str(games))
    assert resolve_data_dir(tmp_path, "tiny", 4, 0) == str(tmp_path)
    assert resolve_data_dir(None, "tiny", 4, 0) == str(games)
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))  # what importing alfworld sets: a folder without data
    assert resolve_data_dir(None, "tiny", 4, 1) == "generated" and built == [("tiny", 4, 1, None)]


def test_eval_split_size_is_fixed_or_a_quarter_of_train():
    from envs.alfworld.default_set import eval_size

    assert eval_size(400) == 100 and eval_size(4) == 10
    assert eval_size(1000, 100) == 100
    with pytest.raises(ValueError, match="num_eval_games"):
        eval_size(1000, 0)


def test_default_set_name_carries_the_eval_size(tmp_path, monkeypatch):
    from envs.alfworld import default_set
    from envs.alfworld.generation import generate

    monkeypatch.setenv("TURNRL_CACHE", str(tmp_path))
    requested = []

    def fake_generate(out, sizes, **_):
        requested.append(sizes)
        Path(out).mkdir(parents=True)
        (Path(out) / generate.MANIFEST).write_text("{}")

    monkeypatch.setattr(generate, "generate", fake_generate)
    path = default_set.default_data_dir("tiny", 50, 3, num_eval_games=7)
    assert path.name == f"tiny-n50-e7-s3-v{generate.GENERATOR_VERSION}"
    assert requested == [{"train": 50, "eval_in_distribution": 7, "eval_out_of_distribution": 7}]


def test_env_runs_inside_env_pool_with_two_workers(games):
    from envs.pool import EnvPool

    with EnvPool(
        "turnrl/ALFWorld-v0", {"data_dir": str(games), "split": "train"}, num_envs=4, num_workers=2
    ) as pool:
        task_ids = pool.task_ids[:4]
        results = pool.reset([0, 1, 2, 3], task_ids)
        infos = {slot: info for slot, (_, info) in zip(range(4), results)}
        won = {}
        for _ in range(12):
            active = [s for s in infos if s not in won]
            if not active:
                break
            steps = pool.step(active, [infos[s]["expert_action"] for s in active])
            for slot, result in zip(active, steps):
                assert "env_error" not in result.info, result.info.get("env_error")
                infos[slot] = result.info
                if result.terminated or result.truncated:
                    won[slot] = (result.info["won"], result.reward)
        assert won == {s: (True, 10.0) for s in range(4)}


# ---------------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_standard_preset_every_task_type_expert_wins_and_workers_do_not_change_games(tmp_path):
    sizes = {"train": 6, "eval_in_distribution": 1, "eval_out_of_distribution": 2}
    serial = generate.generate(tmp_path / "serial", sizes, seed=11, config="standard", workers=1)
    parallel = generate.generate(tmp_path / "parallel", sizes, seed=11, config="standard", workers=2)
    assert serial == parallel
    env = ALFWorldEnv(data_dir=tmp_path / "parallel", split="train")
    assert sorted(g.task_type for g in dataset.collect_games(tmp_path / "parallel", "train")) == sorted(
        TASK_TYPES
    )
    for task_id in env.task_ids:
        assert play_expert(env, task_id)[1]["won"], task_id


@pytest.mark.slow
def test_default_set_is_built_once_under_turnrl_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("TURNRL_CACHE", str(tmp_path))
    env = ALFWorldEnv(split="eval_out_of_distribution", preset="tiny", num_games=4)
    built = Path(env.data_dir)
    assert built.parent == tmp_path / "alfworld" and len(env.task_ids) == 10
    stamp = (built / generate.MANIFEST).stat().st_mtime_ns
    again = ALFWorldEnv(split="train", preset="tiny", num_games=4)
    assert again.data_dir == env.data_dir and len(again.task_ids) == 4
    assert (built / generate.MANIFEST).stat().st_mtime_ns == stamp


_TRANSCRIPT = """
import json, sys
from envs.alfworld.env import ALFWorldEnv
env = ALFWorldEnv(data_dir=sys.argv[1], split="train")
log = []
for task_id in env.task_ids:
    obs, info = env.reset(options={"task_id": task_id})
    log.append([obs, info])
    for k in range(9):  # expert moves interleaved with other admissible commands and unknown ones
        admissible = info["admissible_actions"]
        action = [info["expert_action"], admissible[k % len(admissible)], "jump around"][k % 3]
        obs, reward, terminated, truncated, info = env.step(action)
        log.append([obs, reward, terminated, info])
        if terminated:
            break
print(json.dumps(log))
"""


@pytest.mark.slow
def test_textworld_memos_do_not_change_any_text(games):
    """Every observation, admissible list and expert action matches unmodified TextWorld."""

    def transcript(plain: str) -> list:
        env = {"PYTHONPATH": str(REPO), "TURNRL_ALFWORLD_PLAIN": plain, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", _TRANSCRIPT, str(games)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    with_memo, without = transcript("0"), transcript("1")
    assert len(with_memo) > 20
    assert with_memo == without
