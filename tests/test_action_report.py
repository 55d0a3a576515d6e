"""scripts/action_report.py: action kinds and the per-kind table of valid and invalid turns."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent


def load_report():
    spec = importlib.util.spec_from_file_location("action_report", REPO / "scripts" / "action_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def episode(won, *turns):
    return SimpleNamespace(won=won, turns=[SimpleNamespace(action=a, valid=v) for a, v in turns])


def test_action_kinds():
    module = load_report()
    assert module.action_kind("click[b0abc]") == "click"
    assert module.action_kind("search[red shoes]") == "search"
    assert module.action_kind("go to desk 1") == "go"
    assert module.action_kind("[junk") == "other" and module.action_kind(None) == "none"


def test_report_counts_valid_turns_per_kind_and_the_commonest_invalid_actions():
    module = load_report()
    episodes = [
        episode(True, ("search[red shoes]", True), ("click[b0x]", False), ("click[b0y]", True)),
        episode(False, ("search[tea]", True), ("click[b0x]", False), ("click[b0z]", False)),
    ]
    text = module.report(episodes, examples=1)
    assert text.startswith("2 episodes, 1 won")
    assert "| click | 4 | 1 (25%) | `click[b0x]` x2 |" in text
    assert "| search | 2 | 2 (100%) | - |" in text
