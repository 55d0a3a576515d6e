"""The learner's per-token log-probs and entropies, under the full distribution or the one the rollout samples.

With ``learner.score_sampled_distribution`` the old, new and reference log-probs and the entropies are those of
the distribution the engine draws from: logits / temperature (done by the caller), top-k and top-p applied by
``rollout.sampling.nucleus_logits`` (each model its own nucleus), renormalised. The full-distribution path is
``algorithms.losses``'s, untouched. Both work on row chunks, checkpointed under autograd: with a 150k vocabulary
the sort a nucleus needs holds several float32 copies of a chunk, so it runs one chunk at a time, once.

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
from torch.utils.checkpoint import checkpoint

from algorithms.losses import entropy_from_logits, log_probs_from_logits
from rollout.sampling import entropy_of_logprobs, nucleus_cutoff, nucleus_logits


def is_full(top_p: float, top_k: int) -> bool:
    """Whether ``(top_p, top_k)`` keeps every token (the full distribution)."""
    return top_p >= 1.0 and top_k == -1


def token_stats(
    logits: Tensor, labels: Tensor, top_p: float, top_k: int, chunk_size: int, with_entropy: bool
) -> tuple[Tensor, Tensor | None]:
    """Log-prob of each label ``[n]`` and, if asked, each row's entropy ``[n]`` (float32) under ``logits``
    ``[n, vocab]`` (already divided by the temperature), within each row's top-k / top-p nucleus unless both
    are off. Each chunk's nucleus is found once, outside the checkpoint: backward recomputes the chunk's
    softmax but not its sort."""
    if is_full(top_p, top_k):
        entropy = entropy_from_logits(logits, chunk_size=chunk_size) if with_entropy else None
        return log_probs_from_logits(logits, labels, chunk_size=chunk_size), entropy
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    use_checkpoint = torch.is_grad_enabled() and logits.requires_grad
    chunk_fn = partial(_nucleus_stats, with_entropy=with_entropy)
    logprobs, entropies = [], []
    for start in range(0, logits.shape[0], chunk_size):
        chunk = logits[start : start + chunk_size]
        cutoff = nucleus_cutoff(chunk.detach().float(), top_p, top_k)
        args = (chunk, labels[start : start + chunk_size].to(torch.long), cutoff)
        pieces = checkpoint(chunk_fn, *args, use_reentrant=False) if use_checkpoint else chunk_fn(*args)
        logprobs.append(pieces[0])
        entropies.append(pieces[1])
    if not logprobs:
        empty = torch.zeros(0, dtype=torch.float32, device=logits.device)
        return empty, empty if with_entropy else None
    return torch.cat(logprobs), torch.cat(entropies) if with_entropy else None


def _nucleus_stats(
    logits: Tensor, labels: Tensor, cutoff: Tensor, *, with_entropy: bool
) -> tuple[Tensor, Tensor]:
    logits = logits.float()
    nucleus = nucleus_logits(logits, cutoff)
    picked = logits.gather(-1, labels.unsqueeze(-1))
    # the label's own logit put back: a no-op inside the nucleus, the module's treatment outside it
    kept = nucleus.scatter(-1, labels.unsqueeze(-1), picked)
    logprobs = picked.squeeze(-1) - torch.logsumexp(kept, dim=-1)
    if not with_entropy:
        return logprobs, logprobs.new_zeros(0)
    return logprobs, entropy_of_logprobs(torch.log_softmax(nucleus, dim=-1))
