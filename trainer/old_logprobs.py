"""The PPO "old" log-probs and entropies of a rollout, and the policy guard's check of them.

Two sources (``learner.old_logprobs``, resolved by ``trainer.build.reuse_rollout_logprobs``):

- the learner's scoring pass over the whole batch; the guard then holds the engine's log-probs of the sampled
  tokens against it;
- the log-probs the engine computed while it sampled (``Completion.policy_logprobs``: under the distribution the
  learner scores, the full one before top-p or, with ``learner.score_sampled_distribution``, the sampled one),
  exact where the engine computes the learner's numbers (float32). The learner's pass is skipped, and it scores
  a seeded eighth of the rows for the guard (``policy_guard.reuse_sample``).

What the second saves (docs/benchmarks.md): on the CPU quickstart the learner's pass over a step's batch costs
about what the reference model's does (0.6 s of a 6.8 s step), the eighth 0.16 s. It is never taken in bfloat16,
so a GPU run always scores. The engine's policy log-probs also let the guard compare without the top-p slack
(``policy_guard.comparable_engine_logprobs``), whichever source the old log-probs come from; a learner that
scores the sampled distribution needs no slack at all (``trainer.build.old_logprobs_source``).
"""

from __future__ import annotations

import torch

from rollout import RolloutBatch
from trainer.policy_guard import PolicyGuard, comparable_engine_logprobs, reuse_sample


class OldLogprobs:
    """``(old log-probs [N, T], entropies [N, T] or None, guard metrics)`` of a step's batch; raises
    ``PolicyMismatchError`` (through the guard) when the engine did not run the learner's policy."""

    def __init__(
        self, learner, guard: PolicyGuard, *, from_engine: bool, top_p: float, top_k: int, seed: int
    ) -> None:
        self.learner = learner
        self.guard = guard
        self.from_engine = from_engine
        self.top_p, self.top_k = top_p, top_k
        self.seed = seed

    def __call__(
        self, step: int, batch: RolloutBatch
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]:
        if self.from_engine:
            return self._from_engine(step, batch)
        old_logprobs, entropy = self.learner.score(batch.prompt_ids, batch.response_ids, with_entropy=True)
        width = old_logprobs.shape[1]
        engine_logprobs, slack = comparable_engine_logprobs(batch, width, self.top_p, self.top_k)
        metrics = self.guard.check_gap(step, old_logprobs, engine_logprobs, batch.response_mask(width), slack)
        return old_logprobs, entropy, metrics

    def _from_engine(
        self, step: int, batch: RolloutBatch
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, float]]:
        """The engine's numbers, checked on a sample of the rows; the largest gaps there are logged too."""
        old_logprobs, entropy = batch.policy_tensors()
        rows = reuse_sample(len(batch), step, self.seed)
        learner_logprobs, learner_entropy = self.learner.score(
            [batch.prompt_ids[i] for i in rows], [batch.response_ids[i] for i in rows], with_entropy=True
        )
        width = learner_logprobs.shape[1]
        engine_logprobs = old_logprobs[rows, :width]
        mask = batch.response_mask(old_logprobs.shape[1])[rows, :width]
        metrics = self.guard.check_gap(step, learner_logprobs, engine_logprobs, mask)
        keep = mask.bool()
        if keep.any():
            metrics["rollout/reuse_logprob_diff_max"] = float(
                (learner_logprobs - engine_logprobs).abs()[keep].max()
            )
            if entropy is not None:
                metrics["rollout/reuse_entropy_diff_max"] = float(
                    (learner_entropy - entropy[rows, :width]).abs()[keep].max()
                )
        return old_logprobs, entropy, metrics
