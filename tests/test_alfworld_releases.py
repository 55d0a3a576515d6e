"""ALFWorld game releases 2.1.1 and 2.1.2 as users have them, split counts, and bad-data errors.

Fast tests play the fixtures under tests/fixtures/alfworld (two small games written in the exact text of
each release, see make_fixtures.py). ``TURNRL_REAL_DATA=<folder holding json_2.1.1/>`` also checks a real
download: the published split sizes and an expert win on one game of every task type of valid_unseen.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("alfworld", reason="ALFWorld needs the alfworld extra: pip install -e '.[alfworld]'")

from envs.alfworld import dataset, splits  # noqa: E402
from envs.alfworld.env import ALFWorldEnv  # noqa: E402
from envs.alfworld.releases import GameFileError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alfworld"
REAL = os.environ.get("TURNRL_REAL_DATA")
# Per release: the put command's form, and how arriving at a receptacle reads.
GRAMMAR = {
    "2.1.1": ("put soapbar 1 in/on cabinet 2", "You arrive at loc "),
    "2.1.2": ("move soapbar 1 to cabinet 2", "You arrive at cabinet 2."),
}


def play_expert(env: ALFWorldEnv, task_id: str) -> tuple[list[str], list[str], dict]:
    obs, info = env.reset(options={"task_id": task_id})
    actions, observations, done = [], [], False
    while not done:
        actions.append(info["expert_action"])
        assert info["expert_action"] in info["admissible_actions"]
        obs, _, terminated, truncated, info = env.step(info["expert_action"])
        observations.append(obs)
        done = terminated or truncated
    return actions, observations, info


@pytest.mark.parametrize("release", ["2.1.1", "2.1.2"])
def test_each_release_loads_and_the_expert_wins_with_its_own_commands(release):
    env = ALFWorldEnv(data_dir=FIXTURES / release, split="valid_unseen")
    assert {g.release for g in env._games.values()} == {release} and len(env.task_ids) == 2
    put, arrive = GRAMMAR[release]
    other_put = GRAMMAR["2.1.2" if release == "2.1.1" else "2.1.1"][0]
    for task_id in env.task_ids:
        actions, observations, info = play_expert(env, task_id)
        assert info["won"]
        assert actions == json.loads(Path(env._games[task_id].game_file).read_text())["walkthrough"]
    soap = env.task_ids[0]
    actions, observations, _ = play_expert(env, soap)
    assert actions[-1] == put
    assert observations[actions.index("go to cabinet 2")].startswith(arrive)
    env.reset(options={"task_id": soap})
    for step in actions[:-1]:
        env.step(step)
    assert env._admissible.count(put) == 1 and other_put not in env._admissible
    obs, reward, terminated, _, info = env.step(other_put)  # the other release's command: invalid here
    assert obs == "Nothing happens." and not info["valid_action"] and not terminated
    env.close()


def test_help_exists_only_in_2_1_2():
    env = ALFWorldEnv(data_dir=FIXTURES / "2.1.2", split="valid_unseen", expert=None)
    env.reset(options={"task_id": env.task_ids[0]})
    assert "help" in env._session.state["admissible_commands"]
    assert env.step("help")[0].startswith("Available commands:\n  look:")
    old = ALFWorldEnv(data_dir=FIXTURES / "2.1.1", split="valid_unseen", expert=None)
    old.reset(options={"task_id": old.task_ids[0]})
    assert "help" not in old._session.state["admissible_commands"]
    assert old.step("help")[0] == "Nothing happens."


def test_split_counts_command_reports_types_sizes_and_release(capsys):
    counts = splits.split_counts(FIXTURES / "2.1.1")
    assert list(counts) == ["valid_unseen"]
    types, releases = counts["valid_unseen"]
    assert types == {"pick_and_place_simple": 1, "pick_clean_then_place_in_recep": 1} and releases == {
        "2.1.1"
    }
    assert splits.main([str(FIXTURES / "2.1.2")]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "differs from the published size: valid_unseen" in out and "2.1.2" in out
    assert (
        splits.summary_line(FIXTURES / "2.1.2") == "valid_unseen 2 (release 2.1.2; not the published sizes)"
    )


def _copy(tmp_path: Path, release: str) -> Path:
    root = tmp_path / release
    shutil.copytree(FIXTURES / release, root)
    return root


def test_mixed_releases_in_one_split_are_refused_naming_both(tmp_path):
    root = _copy(tmp_path, "2.1.2")
    old = next((FIXTURES / "2.1.1").rglob("game.tw-pddl"))
    target = root / old.relative_to(FIXTURES / "2.1.1")
    shutil.copy(old, target)
    with pytest.raises(ValueError, match=r"mixes game releases \(2\.1\.1: .*; 2\.1\.2: .*\)") as err:
        ALFWorldEnv(data_dir=root, split="valid_unseen")
    assert str(target) in str(err.value)


def test_truncated_or_foreign_game_files_are_named_when_the_env_is_built(tmp_path):
    root = _copy(tmp_path, "2.1.1")
    game = sorted(root.rglob("game.tw-pddl"))[1]
    text = game.read_text()
    game.write_text(text[: len(text) // 2])
    with pytest.raises(GameFileError, match=f"{game}: not a complete JSON object"):
        ALFWorldEnv(data_dir=root, split="valid_unseen")
    game.write_text(text.replace("put {o} in/on {r}", "place {o} at {r}"))
    dataset._collect.cache_clear()
    with pytest.raises(GameFileError, match=f"{game}: grammar has neither of the put commands"):
        ALFWorldEnv(data_dir=root, split="valid_unseen")


def test_traj_data_without_the_fields_alfworld_reads_is_named(tmp_path):
    root = _copy(tmp_path, "2.1.2")
    traj = sorted(root.rglob("traj_data.json"))[0]
    traj.write_text(json.dumps({"task_type": "pick_and_place_simple"}))
    with pytest.raises(ValueError, match=rf"traj_data.json at {traj}: missing \['pddl_params'\]"):
        ALFWorldEnv(data_dir=root, split="valid_unseen")


def test_trials_without_game_files_say_which_archive_is_missing(tmp_path):
    root = _copy(tmp_path, "2.1.2")
    for game in root.rglob("game.tw-pddl"):
        game.unlink()
    with pytest.raises(
        FileNotFoundError, match="2 trials have traj_data.json but no game.tw-pddl.*tw-pddl.zip"
    ):
        ALFWorldEnv(data_dir=root, split="valid_unseen")


@pytest.mark.skipif(not REAL, reason="set TURNRL_REAL_DATA to a folder holding ALFWorld's json_2.1.1/")
def test_real_download_has_the_published_sizes_and_the_expert_wins_every_task_type():
    if not (Path(REAL) / dataset.JSON_DIR).is_dir():
        pytest.skip(f"TURNRL_REAL_DATA={REAL} holds no {dataset.JSON_DIR}/")
    counts = splits.split_counts(REAL)
    assert {folder: sum(types.values()) for folder, (types, _) in counts.items()} == splits.PUBLISHED
    env = ALFWorldEnv(data_dir=REAL, split="valid_unseen")
    first = {}
    for task_id, game in env._games.items():
        first.setdefault(game.task_type, task_id)
    assert set(first) == set(dataset.SUPPORTED_TASK_TYPES)
    for task_id in first.values():
        assert play_expert(env, task_id)[2]["won"], task_id


def test_doctor_reports_the_alfworld_data_folder(monkeypatch):
    from trainer.doctor import report

    monkeypatch.setenv("ALFWORLD_DATA", str(FIXTURES / "2.1.1"))
    assert (
        "alfworld data "
        + str(FIXTURES / "2.1.1")
        + ": valid_unseen 2 (release 2.1.1; not the published sizes)"
        in report()
    )
