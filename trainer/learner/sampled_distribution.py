"""The learner's per-token log-probs and entropies, under the full distribution or the one the rollout samples.

With ``learner.score_sampled_distribution`` the old, new and reference log-probs and the entropies are those of
the distribution the engine draws from: logits / temperature (done by the caller), top-k and top-p applied by
``rollout.sampling.nucleus_logits`` (each model its own nucleus), renormalised. The full-distribution path is
``algorithms.losses``'s, untouched. Both work on row chunks, checkpointed under autograd: with a 150k vocabulary
the sort a nucleus needs holds several float32 copies of a chunk.

A sampled token outside the scoring model's nucleus (the policy moved during the update, the reference differs,
or engine and learner disagree about the nucleus' edge by float noise) would have log-prob -inf: ratio 0, an
infinite KL and NaN gradients. It is scored instead as though the nucleus had kept it too: its logit against the
nucleus' normaliser plus its own. Inside the nucleus that is exactly the sampled distribution's log-prob; outside
it is finite, its gradient finite, and it is continuous where a token crosses the nucleus' edge, so a token just
outside counts about what it counted just inside.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from algorithms.losses import entropy_from_logits, log_probs_from_logits, map_row_chunks
from rollout.sampling import entropy_of_logprobs, nucleus_logits


def is_full(top_p: float, top_k: int) -> bool:
    """Whether ``(top_p, top_k)`` keeps every token (the full distribution)."""
    return top_p >= 1.0 and top_k == -1


def token_log_probs(logits: Tensor, labels: Tensor, top_p: float, top_k: int, chunk_size: int) -> Tensor:
    """Log-prob of each label ``[n]`` (float32) under ``logits`` ``[n, vocab]`` (already divided by the
    temperature), within its row's top-k / top-p nucleus unless both are off."""
    if is_full(top_p, top_k):
        return log_probs_from_logits(logits, labels, chunk_size=chunk_size)
    chunk = partial(_nucleus_label_log_prob, top_p=top_p, top_k=top_k)
    return map_row_chunks(chunk, logits, labels, chunk_size)


def token_entropy(logits: Tensor, top_p: float, top_k: int, chunk_size: int) -> Tensor:
    """Entropy of each row's distribution ``[n]`` (float32), within its nucleus unless top-k and top-p are off."""
    if is_full(top_p, top_k):
        return entropy_from_logits(logits, chunk_size=chunk_size)
    return map_row_chunks(partial(_nucleus_entropy, top_p=top_p, top_k=top_k), logits, None, chunk_size)


def _nucleus_label_log_prob(logits: Tensor, labels: Tensor, *, top_p: float, top_k: int) -> Tensor:
    logits = logits.float()
    picked = logits.gather(-1, labels.unsqueeze(-1))
    # the label's own logit put back: a no-op inside the nucleus, the module's treatment outside it
    kept = nucleus_logits(logits, top_p, top_k).scatter(-1, labels.unsqueeze(-1), picked)
    return picked.squeeze(-1) - torch.logsumexp(kept, dim=-1)


def _nucleus_entropy(logits: Tensor, *, top_p: float, top_k: int) -> Tensor:
    return entropy_of_logprobs(torch.log_softmax(nucleus_logits(logits.float(), top_p, top_k), dim=-1))
