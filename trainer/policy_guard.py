"""The policy guard: a training step only learns from rollouts of the policy being trained.

Two checks, both before the update, so a bad step changes nothing and writes nothing:

1. the version stamp every trajectory carries (``rollout.policy_version``) must be the learner's last sync;
2. the gap between the engine's and the learner's log-probs of the sampled tokens, the mean over tokens of
   |engine - learner| on every rank's rows, must stay within ``trainer.max_policy_gap``. The mean, not the
   max: a wrong policy (stale or partial weights, a missing or doubled adapter, another prompt) moves most
   tokens, while in bf16 a few tail tokens jump by a lot in healthy runs and the max over a batch grows with
   its size.

Where the engine reports log-probs after top-p / top-k only (vLLM, ``learner.old_logprobs: recompute``), each
of them exceeds the learner's full-distribution one by -log(kept mass), between 0 and -log(top_p) (unbounded
with top-k): only the part of the gap outside that interval counts. A learner that scores within the same
top-p / top-k (``learner.score_sampled_distribution``) compares with no such slack.

Either check failing stops the run with ``PolicyMismatchError``: one line naming the step, the gap and the
likely causes, which ``turnrl train`` prints alone.
"""

from __future__ import annotations

import math
import random

import torch

from rollout import RolloutBatch
from rollout.policy_version import PolicyVersion
from trainer import dist as tdist

LIKELY_CAUSES = (
    "likely causes: the weight sync (stale or partial weights in the engine), an adapter not applied or "
    "applied twice, a prompt or tokenizer rendered differently for the engine and the learner"
)
FP32_MAX_GAP = 1e-4
BF16_MAX_GAP = 0.1
"""The defaults of ``trainer.max_policy_gap`` (its field doc gives the reasons)."""
REUSE_SAMPLE_SHARE = 1 / 8
"""Share of the rows the learner scores to check a step whose old log-probs came from the engine: an eighth of
the pass the reuse saves."""
_PERCENTILES = (50, 90, 99)


class PolicyMismatchError(RuntimeError):
    """The rollout was not played by the policy being trained; the message is one line."""

    exit_code = 3
    """``turnrl train``'s exit code after it (rank 0 prints the line)."""


def check_version(step: int, batch: RolloutBatch, current: PolicyVersion) -> None:
    """Raise, on every rank together, unless every trajectory of every rank's batch was played with the
    learner's current weights."""
    served = batch.policy_versions()
    verdicts = tdist.all_gather_objects(None if served == {current} else sorted(str(v) for v in served))
    bad = [(rank, names) for rank, names in enumerate(verdicts) if names is not None]
    if bad:
        rank, names = bad[0]
        where = f" on rank {rank}" if len(verdicts) > 1 else ""
        raise PolicyMismatchError(
            f"policy guard: step {step}: the rollout{where} was played with weights {', '.join(names)}, the "
            f"learner's are {current}; stopped before the update, nothing of step {step} saved; {LIKELY_CAUSES}"
        )


def reuse_sample(rows: int, step: int, seed: int) -> list[int]:
    """The rows the learner scores on a step that reuses the engine's log-probs: a seeded draw of
    ``REUSE_SAMPLE_SHARE`` of them (at least one), the same on a resumed run."""
    count = min(rows, max(1, math.ceil(rows * REUSE_SAMPLE_SHARE)))
    return sorted(random.Random(f"{seed}-{step}-guard").sample(range(rows), count))


def truncation_slack(top_p: float, top_k: int) -> float:
    """How much a log-prob reported after top-p / top-k may exceed the full distribution's: -log(top_p),
    infinite with top-k."""
    return math.inf if top_k != -1 else -math.log(top_p)


def comparable_engine_logprobs(
    batch: RolloutBatch, width: int, top_p: float, top_k: int
) -> tuple[torch.Tensor, float]:
    """The engine's log-probs [N, width] to hold against the learner's, and the truncation slack they carry:
    its full-distribution ones where it reports them for every turn (slack 0), else its sampling ones."""
    if all(values is not None for values in batch.policy_logprobs):
        return batch.policy_tensors(width)[0], 0.0
    return batch.sampling_logprobs_tensor(width), truncation_slack(top_p, top_k)


def token_gaps(learner: torch.Tensor, engine: torch.Tensor, slack: float = 0.0) -> torch.Tensor:
    """|engine - learner| per token, less what truncation explains: engine - learner in [0, slack] is no gap."""
    diff = engine.float() - learner.float()
    over = (diff - slack).clamp(min=0) if math.isfinite(slack) else torch.zeros_like(diff)
    return (-diff).clamp(min=0) + over


class PolicyGuard:
    """The log-prob gap check of every step, with ``max_gap`` the bound on the mean token gap."""

    def __init__(self, max_gap: float) -> None:
        self.max_gap = max_gap

    def check_gap(
        self, step: int, learner: torch.Tensor, engine: torch.Tensor, mask: torch.Tensor, slack: float = 0.0
    ) -> dict[str, float]:
        """Gap metrics over all ranks' tokens (``rollout/policy_gap`` the mean, its percentiles and max); raises
        ``PolicyMismatchError`` on every rank when the mean exceeds ``max_gap``."""
        gaps = token_gaps(learner, engine, slack)[mask.bool()]
        parts = tdist.all_gather_objects(gaps.double())
        everything = torch.cat(parts) if parts else gaps.double()
        if everything.numel() == 0:
            return {}
        mean = float(everything.mean())
        metrics = {"rollout/policy_gap": mean, "rollout/policy_gap_max": float(everything.max())}
        for q in _PERCENTILES:
            metrics[f"rollout/policy_gap_p{q}"] = float(torch.quantile(everything, q / 100))
        if not mean <= self.max_gap:  # NaN stops too
            raise PolicyMismatchError(
                f"policy guard: step {step}: the engine's log-probs of the sampled tokens differ from the "
                f"learner's by {mean:.3g} on average (p99 {metrics['rollout/policy_gap_p99']:.3g}, max "
                f"{metrics['rollout/policy_gap_max']:.3g}; trainer.max_policy_gap={self.max_gap:g}): the engine "
                f"is not running the policy being trained; stopped before the update, nothing of step {step} "
                f"saved; {LIKELY_CAUSES}"
            )
        return metrics
