"""`StepBatch`: the one data structure every advantage estimator consumes.

One row is one agent turn (one LLM response inside an episode). Rows may arrive in any order:
estimators recover trajectories from (`traj_id`, `step`) and groups from `group_id`, never from
the position of a row. Token tensors follow verl's layout: row i's response tokens are
left-aligned, `response_mask[i, :L_i] = 1`, the rest 0.

Per-row fields (`reward`, `valid`, `step`) are kept on the CPU, where the group bookkeeping runs;
token tensors stay on their device and are only reduced there (to [N]) or multiplied once.

Validation happens once, here, so that a shape mistake in the rollout or the learner surfaces as a
message naming the field instead of a broadcasting error deep inside an estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from algorithms.segments import dense_ids

Id = str | int


@dataclass
class StepBatch:
    """Flattened turns of a rollout.

    `reward` is the env reward of this turn (r_t, not the episode return); `valid` says whether the
    env accepted the action (invalid turns get the invalid-action penalty); `anchor` is the env
    state key GiGPO groups turns by. `entropy` / `ref_logprobs` are only needed by AEM
    (uncertainty="entropy") and the KL loss respectively.
    """

    group_id: Sequence[Id]
    traj_id: Sequence[Id]
    step: Sequence[int] | Tensor
    reward: Tensor
    anchor: Sequence[str]
    valid: Tensor
    response_mask: Tensor
    old_logprobs: Tensor
    entropy: Tensor | None = None
    ref_logprobs: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.response_mask, Tensor) or self.response_mask.dim() != 2:
            raise ValueError(
                f"StepBatch.response_mask must be a 2-D tensor [N, T], got {_describe(self.response_mask)}"
            )
        n, t = self.response_mask.shape
        for name in ("group_id", "traj_id", "step", "anchor"):
            value = getattr(self, name)
            if len(value) != n:
                raise ValueError(
                    f"StepBatch.{name} has length {len(value)}, expected N={n} (rows of response_mask)"
                )
        self.step = _as_step_tensor(self.step).cpu()
        for anchor in self.anchor:
            if not isinstance(anchor, str):
                raise ValueError(
                    f"StepBatch.anchor must hold strings, found {type(anchor).__name__}: {anchor!r}"
                )

        self.reward = _check_tensor("reward", self.reward, (n,), floating=True).float().cpu()
        if not bool(torch.isfinite(self.reward).all()):
            raise ValueError("StepBatch.reward contains NaN or inf")
        self.valid = _check_tensor("valid", self.valid, (n,)).cpu()
        if self.valid.dtype != torch.bool:
            raise ValueError(f"StepBatch.valid must be a bool tensor, got dtype {self.valid.dtype}")
        if self.response_mask.dtype != torch.bool and not self.response_mask.is_floating_point():
            raise ValueError(
                f"StepBatch.response_mask must be bool or float (0/1), got {self.response_mask.dtype}"
            )
        if self.response_mask.dtype != torch.bool and bool(
            ((self.response_mask != 0) & (self.response_mask != 1)).any()
        ):
            raise ValueError("StepBatch.response_mask must contain only 0 and 1")
        self.old_logprobs = _check_tensor("old_logprobs", self.old_logprobs, (n, t), floating=True)
        if self.entropy is not None:
            self.entropy = _check_tensor("entropy", self.entropy, (n, t), floating=True)
        if self.ref_logprobs is not None:
            self.ref_logprobs = _check_tensor("ref_logprobs", self.ref_logprobs, (n, t), floating=True)
        _check_trajectories(self.group_id, self.traj_id, self.step)

    @property
    def num_rows(self) -> int:
        return self.response_mask.shape[0]

    @property
    def response_length(self) -> int:
        return self.response_mask.shape[1]

    @cached_property
    def group_index(self) -> tuple[Tensor, int]:
        """(episode-group code per row in 0..G-1, G); cached, so treat a StepBatch as immutable."""
        return dense_ids(self.group_id)

    @cached_property
    def traj_index(self) -> tuple[Tensor, int]:
        """(trajectory code per row in 0..K-1, K); cached like `group_index`."""
        return dense_ids(self.traj_id)

    @cached_property
    def response_lengths(self) -> Tensor:
        """Number of response tokens per row, float32 [N] on the CPU."""
        return self.response_mask.sum(dim=1, dtype=torch.float32).cpu()

    def float_mask(self) -> Tensor:
        """Response mask as float32 (0/1), the form every estimator multiplies by."""
        return self.response_mask.to(torch.float32)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"tensor of shape {tuple(value.shape)} dtype {value.dtype}"
    return type(value).__name__


def _check_tensor(name: str, value: object, shape: tuple[int, ...], floating: bool = False) -> Tensor:
    if not isinstance(value, Tensor):
        raise ValueError(f"StepBatch.{name} must be a torch.Tensor of shape {shape}, got {_describe(value)}")
    if tuple(value.shape) != shape:
        raise ValueError(f"StepBatch.{name} has shape {tuple(value.shape)}, expected {shape}")
    if floating and not value.is_floating_point():
        raise ValueError(f"StepBatch.{name} must be a floating tensor, got dtype {value.dtype}")
    return value


def _as_step_tensor(step: Sequence[int] | Tensor) -> Tensor:
    if isinstance(step, Tensor):
        if step.dim() != 1 or step.is_floating_point() or step.dtype == torch.bool:
            raise ValueError(
                f"StepBatch.step must be a 1-D integer tensor or a list of ints, got {_describe(step)}"
            )
        return step.to(torch.long)
    bad = [s for s in step if not isinstance(s, int) or isinstance(s, bool)]
    if bad:
        raise ValueError(f"StepBatch.step must hold ints (turn index), found {bad[0]!r}")
    return torch.tensor(list(step), dtype=torch.long)


def _check_trajectories(group_id: Sequence[Id], traj_id: Sequence[Id], step: Tensor) -> None:
    """A trajectory belongs to exactly one group and has at most one row per turn index."""
    group_of: dict[Id, Id] = {}
    seen: set[tuple[Id, int]] = set()
    for g, tr, s in zip(group_id, traj_id, step.tolist()):
        if group_of.setdefault(tr, g) != g:
            raise ValueError(
                f"StepBatch: trajectory {tr!r} appears in two groups ({group_of[tr]!r} and {g!r})"
            )
        if (tr, s) in seen:
            raise ValueError(f"StepBatch: trajectory {tr!r} has two rows with step {s}")
        seen.add((tr, s))
