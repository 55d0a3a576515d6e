"""``ALFWorldEnv``: real ALFWorld text games (TextWorld + PDDL) behind the gymnasium API.

    gymnasium.make("turnrl/ALFWorld-v0", data_dir=DIR, split="train")

Data: ``data_dir`` (or else the ``ALFWORLD_DATA`` environment variable, if that folder holds data)
must hold the official ``json_2.1.1`` layout; our generator writes the same layout. With neither, a
generated set is built on first use and cached (see ``default_set``; settings ``preset``, ``num_games``,
``generation_seed``, ``num_eval_games``).

Per episode: the observation is the game's text (the reset text ends with "Your task is to:
..."; the task sentence is also in ``info["task"]``). Any text may be sent as an action; the game
executes it as ALFWorld does (unknown commands answer "Nothing happens." and change nothing),
and ``info["valid_action"]`` says whether it was one of the admissible commands. The reward is
``success_reward`` on the step that wins, else 0; the episode terminates on a win and is
truncated after ``max_steps`` steps. ``info["expert_action"]`` is the expert's next command: the PDDL
planner's (``expert="planner"``, which knows where every object lies) or the ``SearchingExpert``'s
(``expert="search"``, the planner held to what the agent has seen).

``info["anchor"]`` names the state for GiGPO's step groups: the observation that described it. An invalid
command changes nothing, so the state after it keeps the anchor of the state before; keying it by
"Nothing happens." instead would pool unrelated states of a group into one step group.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium

from envs.alfworld import dataset
from envs.alfworld.default_set import DEFAULT_NUM_GAMES, DEFAULT_PRESET, default_data_dir
from envs.alfworld.game import GameSession
from envs.alfworld.searcher import SearchingExpert
from envs.text_spaces import TextSpace

TASK_PREFIX = "Your task is to: "
EXPERTS = ("planner", "search", None)


def resolve_data_dir(
    data_dir: str | os.PathLike | None,
    preset: str,
    num_games: int,
    seed: int,
    num_eval_games: int | None = None,
) -> str:
    """``data_dir`` if given; else ``$ALFWORLD_DATA`` if it holds a json_2.1.1 tree; else the default set.

    Merely importing the alfworld package sets ALFWORLD_DATA to ~/.cache/alfworld when it is unset,
    so the variable alone does not mean the user has data: only a json_2.1.1 folder does.
    """
    if data_dir is not None:
        return str(data_dir)
    from_env = os.environ.get("ALFWORLD_DATA")
    if from_env and (Path(from_env) / dataset.JSON_DIR).is_dir():
        return from_env
    return str(default_data_dir(preset, num_games, seed, num_eval_games))


def _task_sentence(intro: str) -> str:
    """verl-agent's convention: the task is whatever follows 'Your task is to: ' in the intro."""
    _, found, rest = intro.partition(TASK_PREFIX)
    if not found:
        raise ValueError(f"ALFWorld intro text has no {TASK_PREFIX!r} line: {intro[:200]!r}")
    return rest.strip()


class ALFWorldEnv(gymnasium.Env):
    """One ALFWorld player; ``task_ids`` lists the games of the configured split.

    Args:
        data_dir: folder with ``json_2.1.1/{train,valid_seen,valid_unseen}``; default ``$ALFWORLD_DATA``
            when it holds that folder, else the cached generated set.
        split: ``train``, ``eval_in_distribution`` or ``eval_out_of_distribution`` (or the official
            folder names ``valid_seen`` / ``valid_unseen``).
        max_steps: steps before truncation (verl-agent uses 50).
        success_reward: reward on the winning step (verl-agent uses 10).
        preset, num_games, generation_seed, num_eval_games: the generated set used when there is no data
            folder (presets: ``standard``, ``small``, ``tiny``; see ``generate.PRESETS``; eval splits of
            ``num_eval_games`` games, default a quarter of ``num_games``).
        expert: who fills ``info["expert_action"]``: ``"planner"`` (omniscient), ``"search"`` (looks for
            what it has not seen yet, see ``searcher``) or None (no expert: the planner replans every
            step, most of a step's cost, so RL runs that never read it turn it off).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        split: str = "train",
        max_steps: int = 50,
        success_reward: float = 10.0,
        preset: str = DEFAULT_PRESET,
        num_games: int = DEFAULT_NUM_GAMES,
        generation_seed: int = 0,
        expert: str | None = "planner",
        num_eval_games: int | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if expert not in EXPERTS:
            raise ValueError(f"expert must be one of {EXPERTS}, got {expert!r}")
        self.split = dataset.canonical_split(split)
        self.data_dir = resolve_data_dir(data_dir, preset, num_games, generation_seed, num_eval_games)
        self._games = {g.task_id: g for g in dataset.collect_games(self.data_dir, self.split)}
        self.task_ids: list[str] = list(self._games)
        self.max_steps = max_steps
        self.success_reward = float(success_reward)
        self.expert = expert
        self.observation_space = TextSpace()
        self.action_space = TextSpace()
        self._session: GameSession | None = None
        self._task_id: str | None = None
        self._task = ""
        self._steps = 0
        self._done = True
        self._admissible: list[str] = []
        self._anchor = ""
        self._searcher: SearchingExpert | None = None

    def _info(self, obs: str, state: Any, valid_action: bool) -> dict[str, Any]:
        admissible = [c for c in state["admissible_commands"] if c != "help"]
        self._admissible = admissible
        if valid_action:
            self._anchor = obs
        return {
            "task": self._task,
            "task_id": self._task_id,
            "task_type": self._games[self._task_id].task_type,
            "admissible_actions": admissible,
            "won": bool(state["won"]),
            "anchor": self._anchor,
            "valid_action": valid_action,
            "expert_action": self._expert_action(admissible),
        }

    def _expert_action(self, admissible: list[str]) -> str | None:
        plan = self._session.expert_plan
        if self._searcher is not None:
            return self._searcher.act(plan or [], admissible)
        return plan[0] if plan else None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            task_id = self.task_ids[int(self.np_random.integers(len(self.task_ids)))]
        elif task_id not in self._games:
            raise KeyError(f"unknown ALFWorld task_id {task_id!r} for split {self.split} of {self.data_dir}")
        if self._session is None:
            self._session = GameSession(expert=self.expert is not None)
        self._session.load(self._games[task_id].game_file)
        state = self._session.reset()
        obs = state["feedback"]
        self._task_id = task_id
        self._task = _task_sentence(obs)
        self._searcher = SearchingExpert(self._task) if self.expert == "search" else None
        self._steps = 0
        self._done = False
        return obs, self._info(obs, state, valid_action=True)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._session is None or self._done:
            raise RuntimeError(
                "ALFWorldEnv.step called before reset or after the episode ended; call reset()"
            )
        # Malformed policy output (not text) is played as an empty command: "Nothing happens."
        command = action.strip() if isinstance(action, str) else ""
        valid = command in self._admissible
        obs = self._session.step(command)
        self._steps += 1
        if self._searcher is not None:
            self._searcher.observe(command, obs)
        info = self._info(obs, self._session.state, valid_action=valid)
        terminated = info["won"]
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        reward = self.success_reward if terminated else 0.0
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
