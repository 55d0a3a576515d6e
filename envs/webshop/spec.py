"""WebShop's registration: its config section (``env.webshop``), defaults, prompt wording and requirements."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from envs.spec import EnvSection, EnvSpec

INTRO = (
    "You are a shopping assistant on a web store. Find the product that best matches the instruction "
    "and buy it, one action per turn: search[your query] or click[a button or option shown on the page]."
)


class WebShopEnvConfig(EnvSection):
    """WebShop options."""

    data_dir: str | None = None
    """Folder with the original ``items_shuffle*.json`` / ``items_ins_v2*.json`` files; empty: built-in catalog."""
    human_goals: bool = False
    """Use the human-written instructions (real data only)."""
    reward_mode: Literal["success", "score"] = "success"
    """``success``: reward 10 only when the purchase scores 1.0 (GiGPO/AEM setups); ``score``: the raw score."""
    catalog: Literal["default", "small"] = "default"
    """Built-in catalog preset (ignored with ``data_dir``)."""
    option_matching: Literal["original", "exact"] = "original"
    """``original`` keeps the original's lenient option match on synthetic goals; ``exact`` fixes it."""


def make_kwargs(section: WebShopEnvConfig, split: str, max_turns: int, with_expert: bool) -> dict[str, Any]:
    return {
        "split": split,
        "max_steps": max_turns,
        "data_dir": section.data_dir,
        "human_goals": section.human_goals,
        "reward_mode": section.reward_mode,
        "catalog": section.catalog,
        "option_matching": section.option_matching,
    }


def atomic_strings(section: WebShopEnvConfig) -> list[str]:
    """The catalog's product IDs and every clickable, which the tiny tokenizer keeps whole: a click is then
    one of the page's tokens instead of ten characters spelled out."""
    from envs.webshop.env import WebShopEnv
    from envs.webshop.shop import names_to_copy

    return names_to_copy(WebShopEnv(**make_kwargs(section, "all", 1, False)).catalog)


def requirements() -> str:
    return (
        "yes"
        if importlib.util.find_spec("bm25s") and importlib.util.find_spec("Stemmer")
        else "no (bm25s, PyStemmer missing)"
    )


WEBSHOP = EnvSpec(
    name="webshop",
    gym_id="turnrl/WebShop-v0",
    entry_point="envs.webshop.env:WebShopEnv",
    section=WebShopEnvConfig,
    make_kwargs=make_kwargs,
    max_turns=15,
    train_split="train",
    eval_split="test",
    intro=lambda: INTRO,
    atomic_strings=atomic_strings,
    requirements=requirements,
    path_fields=("data_dir",),
    replayable=True,
)
