"""What a rollout produces: per-episode ``Trajectory`` objects and their flat, one-row-per-turn form.

``RolloutBatch`` is the hand-off to the learner: token ids for scoring, sampling logprobs, and the
per-turn bookkeeping an estimator needs. ``to_step_batch`` builds the ``algorithms.StepBatch`` once the
learner has scored the responses (the learner's logprobs, not the sampler's, are the PPO "old" ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rollout.policy_version import PolicyVersion


@dataclass
class Turn:
    """One LLM response inside an episode and what the env did with it."""

    prompt_ids: list[int]
    response_ids: list[int]
    sampling_logprobs: list[float]
    response_text: str
    action: Any  # what the env was stepped with (str; a dict only for structured SWE actions)
    reward: float  # the env's reward for this turn, untouched (penalties are the estimator's job)
    anchor: str  # env state key at the time of acting (GiGPO step groups)
    valid: bool
    done: bool  # the episode ended after this turn (env end, env error or the turn limit)
    invalid_reason: str = ""
    penalty: float = 0.0  # invalid_penalty this turn will receive from the estimator; for logs only
    finish_reason: str = ""
    policy_logprobs: list[float] | None = None  # the learner's view (Completion.policy_logprobs)
    policy_entropy: list[float] | None = None
    rejected: bool = False  # the env rejected the action (not admissible), whatever rule decides ``valid``
    admissible_actions: list[str] | None = None  # what the env listed when the action was taken


@dataclass
class Trajectory:
    """One episode: a member of a group (same task and initial state as its siblings)."""

    group_id: str
    traj_id: str
    task_id: Any
    task_type: str = ""
    initial_observation: str = ""
    turns: list[Turn] = field(default_factory=list)
    won: bool = False
    env_error: str | None = None  # set when the env worker crashed or hung; the episode is kept, flagged
    hit_turn_limit: bool = False
    policy_version: PolicyVersion | None = None  # the stamp of the engine's weights that played it
    prefix_actions: list[Any] = field(default_factory=list)
    """Env actions replayed after the reset, before its first turn (``rollout.branching``): shared by the group,
    shown in the prompts' history, not turns: no rows, no reward counted in ``episode_return``."""

    @property
    def episode_return(self) -> float:
        return float(sum(turn.reward for turn in self.turns))

    @property
    def num_turns(self) -> int:
        return len(self.turns)


@dataclass
class RolloutBatch:
    """Trajectories flattened to one row per turn (rows grouped by trajectory, turns in order)."""

    prompt_ids: list[list[int]]
    response_ids: list[list[int]]
    sampling_logprobs: list[list[float]]
    group_id: list[str]
    traj_id: list[str]
    step: list[int]
    reward: list[float]
    anchor: list[str]
    valid: list[bool]
    done: list[bool]
    won: list[bool]  # per row, copied from its episode
    task_id: list[Any]
    task_type: list[str]
    env_error: list[str | None]
    policy_logprobs: list[list[float] | None]
    policy_entropy: list[list[float] | None]
    trajectories: list[Trajectory]

    @classmethod
    def from_trajectories(cls, trajectories: Sequence[Trajectory]) -> RolloutBatch:
        columns: dict[str, list] = {name: [] for name in _ROW_FIELDS}
        for traj in trajectories:
            for index, turn in enumerate(traj.turns):
                columns["prompt_ids"].append(turn.prompt_ids)
                columns["response_ids"].append(turn.response_ids)
                columns["sampling_logprobs"].append(turn.sampling_logprobs)
                columns["group_id"].append(traj.group_id)
                columns["traj_id"].append(traj.traj_id)
                columns["step"].append(index)
                columns["reward"].append(float(turn.reward))
                columns["anchor"].append(turn.anchor)
                columns["valid"].append(bool(turn.valid))
                columns["done"].append(bool(turn.done))
                columns["won"].append(bool(traj.won))
                columns["task_id"].append(traj.task_id)
                columns["task_type"].append(traj.task_type)
                columns["env_error"].append(traj.env_error)
                columns["policy_logprobs"].append(turn.policy_logprobs)
                columns["policy_entropy"].append(turn.policy_entropy)
        return cls(**columns, trajectories=list(trajectories))

    def __len__(self) -> int:
        return len(self.response_ids)

    def policy_versions(self) -> set[PolicyVersion | None]:
        """The weight stamps the batch was played with (one, unless a sync ran in the middle of a rollout)."""
        return {traj.policy_version for traj in self.trajectories}

    @property
    def max_response_length(self) -> int:
        return max((len(r) for r in self.response_ids), default=0)

    def response_mask(self, width: int | None = None) -> torch.Tensor:
        """``[N, width]`` float 0/1, responses left-aligned (verl's layout)."""
        width = self._check_width(width)
        mask = torch.zeros((len(self), width), dtype=torch.float32)
        for row, ids in enumerate(self.response_ids):
            mask[row, : len(ids)] = 1.0
        return mask

    def sampling_logprobs_tensor(self, width: int | None = None) -> torch.Tensor:
        """The engine's logprobs in the same ``[N, width]`` layout (zeros past each response)."""
        return self._padded(self.sampling_logprobs, self._check_width(width))

    def policy_tensors(self, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The engine's policy log-probs ``[N, width]`` (the learner's layout) and its entropies, or None
        when the engine reports none (vLLM).

        Raises when some turns lack them, so a run never mixes two sources silently.
        """
        missing = sum(lp is None for lp in self.policy_logprobs)
        if missing:
            raise ValueError(
                f"{missing} of {len(self)} turns have no engine policy log-probs (the hf engine reports them, vLLM "
                "at temperature 1 with learner.old_logprobs: rollout, or with learner.score_sampled_distribution): "
                "set learner.old_logprobs: recompute"
            )
        width = self._check_width(width)
        with_entropy = sum(ent is not None for ent in self.policy_entropy)
        if with_entropy not in (0, len(self)):
            raise ValueError(f"{len(self) - with_entropy} of {len(self)} turns have no engine entropies")
        entropy = self._padded(self.policy_entropy, width) if with_entropy else None
        return self._padded(self.policy_logprobs, width), entropy

    def _padded(self, rows: Sequence[Sequence[float]], width: int) -> torch.Tensor:
        out = torch.zeros((len(self), width), dtype=torch.float32)
        for row, values in enumerate(rows):
            out[row, : len(values)] = torch.tensor(values, dtype=torch.float32)
        return out

    def to_step_batch(
        self,
        old_logprobs: torch.Tensor,
        entropy: torch.Tensor | None = None,
        ref_logprobs: torch.Tensor | None = None,
    ):
        """The estimator's input; ``old_logprobs`` is ``[N, T]`` with T >= the longest response."""
        from algorithms import StepBatch

        if not isinstance(old_logprobs, torch.Tensor) or old_logprobs.dim() != 2:
            raise ValueError("to_step_batch: old_logprobs must be a 2-D tensor [N, T]")
        if old_logprobs.shape[0] != len(self):
            raise ValueError(
                f"to_step_batch: old_logprobs has {old_logprobs.shape[0]} rows, the batch {len(self)}"
            )
        return StepBatch(
            group_id=list(self.group_id),
            traj_id=list(self.traj_id),
            step=list(self.step),
            reward=torch.tensor(self.reward, dtype=torch.float32),
            anchor=list(self.anchor),
            valid=torch.tensor(self.valid, dtype=torch.bool),
            response_mask=self.response_mask(old_logprobs.shape[1]),
            old_logprobs=old_logprobs,
            entropy=entropy,
            ref_logprobs=ref_logprobs,
        )

    def _check_width(self, width: int | None) -> int:
        longest = self.max_response_length
        if width is None:
            return longest
        if width < longest:
            raise ValueError(f"width {width} is shorter than the longest response ({longest} tokens)")
        return width


_ROW_FIELDS = (
    "prompt_ids",
    "response_ids",
    "sampling_logprobs",
    "group_id",
    "traj_id",
    "step",
    "reward",
    "anchor",
    "valid",
    "done",
    "won",
    "task_id",
    "task_type",
    "env_error",
    "policy_logprobs",
    "policy_entropy",
)
