"""The counter env's registration: what a new env writes besides the env itself."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from envs.spec import EnvSection, EnvSpec


class CounterEnvConfig(EnvSection):
    """Counter options."""

    n_tasks: int = Field(8, ge=1)
    """Tasks per split."""


def make_kwargs(section: CounterEnvConfig, split: str, max_turns: int, with_expert: bool) -> dict[str, Any]:
    return {"split": split, "n_tasks": section.n_tasks, "max_steps": max_turns}


COUNTER = EnvSpec(
    name="counter",
    gym_id="turnrl-test/Counter-v0",
    entry_point="tests.counter_env.env:CounterEnv",
    section=CounterEnvConfig,
    make_kwargs=make_kwargs,
    max_turns=6,
    train_split="train",
    eval_split="test",
    intro=lambda: "Count to the target, then stop.",
)
