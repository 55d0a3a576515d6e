"""The toy env's registration: config section (``env.toy``), defaults, prompt wording."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from envs.spec import EnvSection, EnvSpec

INTRO = "You are an agent in a small text game. Reach the goal by choosing one action per turn."


class ToyEnvConfig(EnvSection):
    """Toy env options (a tiny built-in text game for fast tests)."""

    success_reward: float = 10.0
    """Reward of a won game (as ALFWorld's)."""

    n_tasks: int = Field(64, ge=1)
    """Tasks per split."""


def make_kwargs(section: ToyEnvConfig, split: str, max_turns: int, with_expert: bool) -> dict[str, Any]:
    return {
        "split": split,
        "max_steps": max_turns,
        "n_tasks": section.n_tasks,
        "success_reward": section.success_reward,
    }


TOY = EnvSpec(
    name="toy",
    gym_id="turnrl/Toy-v0",
    entry_point="envs.toy.env:ToyEnv",
    section=ToyEnvConfig,
    make_kwargs=make_kwargs,
    max_turns=10,
    train_split="train",
    eval_split="test",
    intro=lambda: INTRO,
    rejection_is_feedback=True,
    replayable=True,
)
