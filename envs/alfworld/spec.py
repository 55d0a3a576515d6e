"""ALFWorld's registration: its config section (``env.alfworld``), defaults, prompt wording and requirements."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from envs.spec import EnvSection, EnvSpec

INTRO = (
    "You are a household robot in a simulated home. Carry out the task by issuing one text command per "
    "turn, such as going to a receptacle, opening it, or taking and putting objects."
)


class AlfworldEnvConfig(EnvSection):
    """ALFWorld options."""

    success_reward: float = 10.0
    """Reward of a won game (the GiGPO / verl-agent setups pay 10)."""

    data_dir: str | None = None
    """Official ``json_2.1.1`` layout or a folder made by ``python -m envs.alfworld.generation.generate``;
    empty: ``$ALFWORLD_DATA`` if set, else the generated set below (built once, cached)."""
    preset: Literal["standard", "small", "tiny"] = "standard"
    """Generated set: ``standard`` (full floor plans, six task types), ``small`` (<= 5 receptacles, three
    task types), ``tiny`` (4 receptacles, pick-and-place; the CPU quickstart)."""
    num_games: int = Field(3000, ge=1)
    """Train games of the generated set. 1000, so that the quickstart's RL meets most games about once: when it
    met each of 400 games several times, its gains stayed with those games and held-out success gained less
    (docs/results.md)."""
    num_eval_games: int | None = Field(100, ge=1)
    """Games per eval split of the generated set; empty: a quarter of ``num_games``, at least 10. Game i of a
    split does not depend on the set's size, so sets with the same eval size share their eval games and their
    results compare."""
    generation_seed: int = 0
    """Seed of the generated set."""
    expert: Literal["planner", "search"] = "search"
    """Expert whose turns the SFT warm start imitates: ``search`` (the planner while it needs nothing unseen,
    else it looks into the next unvisited receptacle) or ``planner`` (the PDDL planner, which knows where every
    object lies). ``search``, because the planner's student walks straight to places it cannot know, and RL made
    that student worse (docs/results.md)."""


def make_kwargs(section: AlfworldEnvConfig, split: str, max_turns: int, with_expert: bool) -> dict[str, Any]:
    # The planner replans every step, most of a step's cost, and RL never reads it: only the warm start gets it.
    return {
        "split": split,
        "max_steps": max_turns,
        "data_dir": section.data_dir,
        "success_reward": section.success_reward,
        "preset": section.preset,
        "num_games": section.num_games,
        "num_eval_games": section.num_eval_games,
        "generation_seed": section.generation_seed,
        "expert": section.expert if with_expert else None,
    }


def prepare_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Resolve the game folder in the trainer's process: env workers are daemonic, so a set one of them had to
    generate would be built in that one process instead of on every core (quickstart set: 193 s against ~100 s)."""
    from envs.alfworld.env import resolve_data_dir

    folder = resolve_data_dir(
        kwargs["data_dir"],
        kwargs["preset"],
        kwargs["num_games"],
        kwargs["generation_seed"],
        kwargs["num_eval_games"],
    )
    return {**kwargs, "data_dir": folder}


def requirements() -> str:
    if importlib.util.find_spec("alfworld") and importlib.util.find_spec("textworld"):
        return "yes"
    return "no (pip install -e '.[alfworld]')"


def data_report() -> list[str]:
    """Split sizes of the official games ``$ALFWORLD_DATA`` points at, if any."""
    folder = os.environ.get("ALFWORLD_DATA")
    if not folder or not Path(folder, "json_2.1.1").is_dir():
        return []
    from envs.alfworld.splits import summary_line

    try:
        return [f"alfworld data {folder}: {summary_line(folder)}"]
    except (FileNotFoundError, ValueError) as err:
        return [f"alfworld data {folder}: unusable: {err}"]


ALFWORLD = EnvSpec(
    name="alfworld",
    gym_id="turnrl/ALFWorld-v0",
    entry_point="envs.alfworld.env:ALFWorldEnv",
    section=AlfworldEnvConfig,
    make_kwargs=make_kwargs,
    max_turns=50,
    train_split="train",
    eval_split="eval_out_of_distribution",
    intro=lambda: INTRO,
    rejection_is_feedback=True,
    prepare_kwargs=prepare_kwargs,
    requirements=requirements,
    data_report=data_report,
    path_fields=("data_dir",),
    replayable=True,
)
