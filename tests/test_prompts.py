"""Prompt rendering: templates, history window, full context, truncation that never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs import env_specs, get_spec
from rollout.prompts import EpisodeMemory, PromptBuilder, PromptConfig
from trainer.tiny_model import build_tiny_model, default_corpus


def env_prompt(env: str, **fields) -> PromptConfig:
    """The prompt settings the trainer derives from an env's spec."""
    spec = get_spec(env)
    fields = {"action_format": "action", "max_prompt_tokens": 1024, **fields}
    return PromptConfig(intro=spec.intro(), tool_calls=spec.tool_calls, **fields)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    path = build_tiny_model(tmp_path_factory.getbasetemp() / "rollout_tiny_model", default_corpus())
    return AutoTokenizer.from_pretrained(path)


def memory_with_turns(n: int, obs_words: int = 3) -> EpisodeMemory:
    memory = EpisodeMemory(
        task="put a mug in the fridge", observation="you are in a room", admissible_actions=None
    )
    for i in range(n):
        memory.record(f"action{i}", f"obs{i + 1} " + "word " * obs_words, ["look", f"take mug {i}"])
    return memory


def decoded(tokenizer, prompt) -> str:
    return tokenizer.decode(prompt.token_ids)


def test_template_contents_and_chat_format(tokenizer):
    memory = EpisodeMemory("find the apple", "you see a table", ["go to table 1", "look"])
    text = decoded(tokenizer, PromptBuilder(tokenizer, env_prompt("alfworld")).build(memory))
    assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")
    for piece in (
        "household robot",
        "find the apple",
        "you see a table",
        "- go to table 1",
        "- look",
        "<action>",
    ):
        assert piece in text
    assert "<think>" not in text  # action-only format for tiny models


def test_think_format_and_no_admissible_section_when_env_gives_none(tokenizer):
    memory = EpisodeMemory("buy a red sofa", "WebShop [SEP] Search", None)
    text = decoded(
        tokenizer,
        PromptBuilder(tokenizer, env_prompt("webshop", action_format="think_action")).build(memory),
    )
    assert "<think>" in text and "<action>" in text
    assert "Admissible actions" not in text


def test_without_instructions_only_the_episode_is_shown(tokenizer):
    memory = EpisodeMemory("find the apple", "you see a table", ["go to table 1", "look"])
    full = PromptBuilder(tokenizer, env_prompt("alfworld")).build(memory)
    bare = PromptBuilder(tokenizer, env_prompt("alfworld", instructions=False)).build(memory)
    text = decoded(tokenizer, bare)
    assert "household robot" not in text and "<action>" not in text
    assert "find the apple" in text and "- go to table 1" in text
    assert text.startswith("<|im_start|>user\nYour task:") and text.endswith("<|im_start|>assistant\n")
    assert len(bare.token_ids) < len(full.token_ids)


def test_every_env_has_an_intro_and_the_tool_env_asks_for_a_call(tokenizer):
    memory = EpisodeMemory("task", "obs", None)
    for env, spec in env_specs().items():
        assert spec.intro().strip()
        assert PromptBuilder(tokenizer, env_prompt(env)).build(memory).token_ids
    assert "<function=" in decoded(tokenizer, PromptBuilder(tokenizer, env_prompt("swe")).build(memory))
    assert "<action>" in decoded(tokenizer, PromptBuilder(tokenizer, env_prompt("alfworld")).build(memory))


def test_history_window_shows_the_last_k_turns(tokenizer):
    memory = memory_with_turns(5)
    prompt = PromptBuilder(
        tokenizer, PromptConfig(action_format="action", max_prompt_tokens=1024, history_window=2)
    ).build(memory)
    text = decoded(tokenizer, prompt)
    assert prompt.history_shown == 2 and not prompt.cut
    assert "action3" in text and "action4" in text and "action2" not in text
    assert "Step 4 action: action3" in text and "Step 5 action: action4" in text
    assert "Current observation (step 6)" in text
    assert "- take mug 4" in text  # the current admissible actions


def test_window_zero_and_full_history(tokenizer):
    memory = memory_with_turns(5)
    none = decoded(
        tokenizer,
        PromptBuilder(
            tokenizer, PromptConfig(action_format="action", max_prompt_tokens=1024, history_window=0)
        ).build(memory),
    )
    assert "action" not in none.split("Current observation")[0].split("Your task")[1]
    full = PromptBuilder(
        tokenizer, PromptConfig(action_format="action", max_prompt_tokens=1024, full_history=True)
    ).build(memory)
    assert full.history_shown == 5
    assert all(f"action{i}" in decoded(tokenizer, full) for i in range(5))


def test_prompt_over_limit_drops_the_oldest_history_first(tokenizer):
    memory = memory_with_turns(30, obs_words=20)
    unlimited = PromptBuilder(
        tokenizer, PromptConfig(action_format="action", full_history=True, max_prompt_tokens=100_000)
    ).build(memory)
    limit = len(unlimited.token_ids) // 2
    prompt = PromptBuilder(
        tokenizer, PromptConfig(action_format="action", full_history=True, max_prompt_tokens=limit)
    ).build(memory)
    text = decoded(tokenizer, prompt)
    assert len(prompt.token_ids) <= limit
    assert 0 < prompt.history_shown < 30 and not prompt.cut
    shown = [i for i in range(30) if f"action{i} " in text or f"action{i}\n" in text]
    assert shown == list(range(30 - prompt.history_shown, 30))  # a suffix: the newest turns survive
    assert "obs30" in text  # the current observation is intact
    # as many turns as fit: one more would overflow
    more = PromptBuilder(
        tokenizer,
        PromptConfig(
            action_format="action", history_window=prompt.history_shown + 1, max_prompt_tokens=10**6
        ),
    )
    assert len(more.build(memory).token_ids) > limit


def test_huge_observation_is_cut_in_the_middle(tokenizer):
    observation = "START " + "filler text " * 3000 + " END"
    memory = EpisodeMemory("task", observation, ["look"])
    prompt = PromptBuilder(tokenizer, PromptConfig(action_format="action", max_prompt_tokens=200)).build(
        memory
    )
    text = decoded(tokenizer, prompt)
    assert len(prompt.token_ids) <= 200 and prompt.cut
    assert "START" in text and "END" in text and "[...]" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_everything_too_long_still_returns_a_prompt_within_budget(tokenizer):
    memory = EpisodeMemory("task " * 2000, "obs " * 2000, [f"action {i}" for i in range(2000)])
    prompt = PromptBuilder(tokenizer, PromptConfig(action_format="action", max_prompt_tokens=64)).build(
        memory
    )
    assert 0 < len(prompt.token_ids) <= 64


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    task=st.text(max_size=300),
    observation=st.text(max_size=3000),
    actions=st.one_of(st.none(), st.lists(st.text(max_size=40), max_size=30)),
    turns=st.integers(0, 6),
    budget=st.integers(16, 400),
)
def test_build_never_raises_and_respects_the_budget(tokenizer, task, observation, actions, turns, budget):
    memory = EpisodeMemory(task, observation, actions)
    for i in range(turns):
        memory.record(f"act {i}", observation[: 50 * i], actions)
    prompt = PromptBuilder(
        tokenizer, PromptConfig(action_format="action", max_prompt_tokens=budget, history_window=3)
    ).build(memory)
    assert 0 < len(prompt.token_ids) <= budget


def test_config_validation():
    for bad in (dict(action_format="json"), dict(history_window=-1), dict(max_prompt_tokens=4)):
        with pytest.raises(ValueError):
            PromptConfig(**{"action_format": "action", "max_prompt_tokens": 1024, **bad})
