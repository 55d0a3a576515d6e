"""``WebShopEnv``: the WebShop shopping task as a gymnasium text environment.

Actions are the original's ``search[query]`` and ``click[button]``; observations are the
original text pages. By default it runs on the built-in generated catalog (no network);
``data_dir`` switches to the original data files. Rewards follow the GiGPO/AEM setups:
10 when the purchase scores exactly 1.0, else 0 (``reward_mode="success"``), or the raw
score at the purchase (``reward_mode="score"``); the raw score is always in
``info["task_score"]``. Episodes are cut after ``max_steps`` (15, as verl-agent runs it).
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, replace
from typing import Any

import gymnasium as gym

from envs.text_spaces import TextSpace
from envs.webshop.catalog import PAPER_TEST_GOALS, builtin_catalog, data_dir_catalog
from envs.webshop.expert import expert_action
from envs.webshop.generation.generate import PRESETS
from envs.webshop.shop import ShopSession

SUCCESS_REWARD = 10.0


class WebShopEnv(gym.Env[str, str]):
    """One shopper; ``reset(options={"task_id": i})`` picks goal ``i`` of the configured split."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        split: str = "train",
        *,
        data_dir: str | None = None,
        human_goals: bool = False,
        use_small: bool = True,
        num_products: int | None = None,
        catalog: str = "default",
        catalog_seed: int = 0,
        reward_mode: str = "success",
        max_steps: int = 15,
        option_matching: str = "original",
        show_attrs: bool = False,
        num_test_goals: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        """
        split: "train" | "test" | "all"; test = the first ``num_test_goals`` shuffled goals
            (500 for real data and the default catalog, 100 for the small one).
        data_dir: folder with the original items_shuffle / items_ins_v2 / items_human_ins files.
        human_goals, use_small: with ``data_dir``: human-written goals; the *_1000 files.
        catalog, catalog_seed, num_products: without ``data_dir``: generator preset
            ("default" | "small"), its seed, and an optional product count override.
        option_matching: "original" keeps the original's fuzzy option match with its
            synthetic-goal quirk; "exact" needs exactly the wanted values (see ``reward``).
        """
        if reward_mode not in ("success", "score"):
            raise ValueError(f"reward_mode must be 'success' or 'score', got {reward_mode!r}")
        if option_matching not in ("original", "exact"):
            raise ValueError(f"option_matching must be 'original' or 'exact', got {option_matching!r}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if data_dir is not None:
            self.catalog = data_dir_catalog(
                str(data_dir),
                bool(human_goals),
                bool(use_small),
                num_products,
                PAPER_TEST_GOALS if num_test_goals is None else num_test_goals,
            )
        else:
            if catalog not in PRESETS:
                raise ValueError(f"catalog must be one of {sorted(PRESETS)}, got {catalog!r}")
            if human_goals:
                raise ValueError(
                    "human_goals needs data_dir: the generated catalog has no human instructions"
                )
            config = replace(PRESETS[catalog], seed=catalog_seed)
            if num_products is not None:
                config = replace(config, num_products=num_products)
            if num_test_goals is not None:
                config = replace(config, num_test_goals=num_test_goals)
            self.catalog = builtin_catalog(config)
        self.split = split
        self.task_ids: list[int] = self.catalog.split_ids(split)
        if not self.task_ids:
            raise ValueError(f"split {split!r} of catalog {self.catalog.name} has no goals")
        self._task_id_set = set(self.task_ids)
        self.reward_mode = reward_mode
        self.max_steps = max_steps
        self.option_matching = option_matching
        self.show_attrs = show_attrs
        self.render_mode = render_mode
        self.observation_space = TextSpace()
        self.action_space = TextSpace()
        self._session: ShopSession | None = None
        self._task_id: int | None = None
        self._steps = 0

    # ---- gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id is None:
            task_id = self.task_ids[int(self.np_random.integers(len(self.task_ids)))]
        if isinstance(task_id, numbers.Integral) and not isinstance(task_id, bool):
            task_id = int(task_id)
        if not isinstance(task_id, int) or isinstance(task_id, bool) or task_id not in self._task_id_set:
            raise ValueError(
                f"task_id {task_id!r} is not a goal of the {self.split!r} split "
                f"(ints {self.task_ids[0]}..{self.task_ids[-1]})"
            )
        self._task_id = task_id
        goal = self.catalog.goals[task_id]
        self._session = ShopSession(self.catalog, goal, self.show_attrs, self.option_matching)  # type: ignore[arg-type]
        self._steps = 0
        return self._session.observation(), self._info(valid_action=True, score=0.0, won=False)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._session is None:
            raise RuntimeError("call reset() before step()")
        already_done = self._session.score is not None
        outcome = self._session.step(action)
        self._steps += 1
        terminated = outcome.done
        score = outcome.score.score if (outcome.score is not None and not already_done) else 0.0
        won = terminated and not already_done and score == 1.0
        if self.reward_mode == "success":
            reward = SUCCESS_REWARD if won else 0.0
        else:
            reward = float(score) if terminated and not already_done else 0.0
        truncated = not terminated and self._steps >= self.max_steps
        info = self._info(valid_action=outcome.valid, score=float(score), won=won)
        if outcome.score is not None and not already_done:
            info["score_details"] = asdict(outcome.score)
        return self._session.observation(), reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi" and self._session is not None:
            return self._session.observation()
        return None

    # ---- helpers --------------------------------------------------------------------------------

    def get_available_actions(self) -> dict[str, Any]:
        """The original's ``{"has_search_bar", "clickables"}`` for the current page."""
        if self._session is None:
            raise RuntimeError("call reset() first")
        return {"has_search_bar": self._session.has_search_bar, "clickables": list(self._session.clickables)}

    def _admissible_actions(self) -> list[str]:
        session = self._session
        assert session is not None
        actions = ["search[<your query>]"] if session.has_search_bar else []
        return actions + [f"click[{c}]" for c in session.clickables if c != "search"]

    def _info(self, valid_action: bool, score: float, won: bool) -> dict[str, Any]:
        session = self._session
        assert session is not None
        return {
            "task": session.goal.instruction_text,
            "task_id": self._task_id,
            "task_type": session.goal.category,
            "admissible_actions": self._admissible_actions(),
            "available_actions": self.get_available_actions(),
            "anchor": session.anchor(),
            "won": won,
            "valid_action": valid_action,
            "task_score": score,
            "expert_action": expert_action(session),
        }
