"""Count up to a target, then stop: the smallest env with tasks, an expert, invalid actions and a win."""

from __future__ import annotations

from typing import Any

import gymnasium

from envs.text_spaces import TextSpace


class CounterEnv(gymnasium.Env):
    def __init__(self, split: str = "train", n_tasks: int = 8, max_steps: int = 6) -> None:
        self.task_ids = list(range(n_tasks))
        self.offset = 0 if split == "train" else 100
        self.max_steps = max_steps
        self.observation_space = TextSpace(max_length=256)
        self.action_space = TextSpace(max_length=64)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id", 0)
        self.target = 1 + (task_id + self.offset) % 3
        self.count, self.steps = 0, 0
        return self._obs(), self._info(valid=True, won=False)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        self.steps += 1
        valid = action in ("count", "stop")
        if action == "count":
            self.count += 1
        won = action == "stop" and self.count == self.target
        done = action == "stop"
        return self._obs(), 10.0 if won else 0.0, done, self.steps >= self.max_steps, self._info(valid, won)

    def _obs(self) -> str:
        return f"count is {self.count}"

    def _info(self, valid: bool, won: bool) -> dict[str, Any]:
        return {
            "task": f"count to {self.target} then stop",
            "task_type": f"to{self.target}",
            "admissible_actions": ["count", "stop"],
            "won": won,
            "anchor": self._obs(),
            "valid_action": valid,
            "expert_action": "count" if self.count < self.target else "stop",
        }
