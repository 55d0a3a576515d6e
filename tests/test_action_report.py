"""scripts/action_report.py: action kinds and the per-kind table of valid and invalid turns."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripts_module import load_script

REPO = Path(__file__).resolve().parent.parent


def episode(won, *turns):
    return SimpleNamespace(won=won, turns=[SimpleNamespace(action=a, valid=v) for a, v in turns])


def test_action_kinds():
    module = load_script("action_report")
    assert module.action_kind("click[b0abc]") == "click"
    assert module.action_kind("search[red shoes]") == "search"
    assert module.action_kind("go to desk 1") == "go"
    assert module.action_kind("[junk") == "other" and module.action_kind(None) == "none"


def test_report_counts_valid_turns_per_kind_and_the_commonest_invalid_actions():
    module = load_script("action_report")
    episodes = [
        episode(True, ("search[red shoes]", True), ("click[b0x]", False), ("click[b0y]", True)),
        episode(False, ("search[tea]", True), ("click[b0x]", False), ("click[b0z]", False)),
    ]
    text = module.report(episodes, examples=1)
    assert text.startswith("2 episodes, 1 won")
    assert "| click | 4 | 1 (25%) | `click[b0x]` x2 |" in text
    assert "| search | 2 | 2 (100%) | - |" in text


def test_a_lost_episode_that_writes_a_rejected_action_twice_counts_as_a_loop():
    module = load_script("action_report")
    episodes = [
        episode(False, ("go to desk 1", True), ("take mug", False), ("take mug", False)),  # loop
        episode(
            False, ("take mug", False), ("take cup", False), ("go to desk 1", True)
        ),  # two different ones
        episode(True, ("take mug", False), ("take mug", False), ("put mug", True)),  # won: not a loss
    ]
    assert module.report(episodes).startswith(
        "3 episodes, 1 won; of the 2 lost, 1 repeat an action the env rejected (a loop)"
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--episodes", "0"], "--episodes"),
        (["rollout.group_size=zero"], "rollout.group_size"),
        (["--config", "missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_fails_in_one_line_before_any_episode(tmp_path, arguments, named):
    (tmp_path / "config.json").write_text("{}")
    command = [
        sys.executable,
        str(REPO / "scripts" / "action_report.py"),
        "--model",
        str(tmp_path),
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and named in result.stderr and "Traceback" not in result.stderr


def test_a_model_folder_without_config_is_refused(tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "action_report.py"), "--model", str(tmp_path / "none")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "no config.json" in result.stderr


def test_a_model_with_fewer_positions_than_the_context_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"max_position_embeddings": 512}')
    command = [sys.executable, str(REPO / "scripts" / "action_report.py"), "--model", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert (
        result.returncode == 2 and "model.max_context_tokens" in result.stderr and "--model" in result.stderr
    )
