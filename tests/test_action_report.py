"""scripts/action_report.py: action kinds and the per-kind table of valid and invalid turns."""

from types import SimpleNamespace

from scripts_module import load_script


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
