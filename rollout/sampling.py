"""Token sampling and completion text, written once so both engines return identical things.

The HF engine samples with these functions; the vLLM engine only reuses ``completion_text`` so a stop
string or an end-of-turn token yields the same ``text`` whichever back end produced the ids.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch

from rollout.engine import SamplingParams


def nucleus_cutoff(scaled: torch.Tensor, top_p: float, top_k: int) -> torch.Tensor:
    """The smallest logit the sampler may still draw in each row, ``[B, 1]``, of ``scaled`` ``[B, V]`` (logits
    already divided by the temperature): the ``top_k`` best (-1: off), then the smallest set of best tokens that
    holds ``top_p`` of their mass (the most likely token always stays). Computed without gradient: which tokens
    survive is a constant for autograd."""
    with torch.no_grad():
        truncates_k = 0 < top_k < scaled.shape[-1]
        if top_p >= 1.0 and not truncates_k:
            return scaled.amin(dim=-1, keepdim=True)
        if truncates_k:
            candidates = torch.topk(scaled, top_k, dim=-1).values
        else:
            candidates = torch.sort(scaled, dim=-1, descending=True).values
        if top_p >= 1.0:
            return candidates[:, -1:]
        probs = torch.softmax(candidates, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1).sub_(probs)
        del probs  # on the learner this runs on [rows, vocab] chunks of a 150k vocabulary
        kept = (mass_before <= top_p).sum(dim=-1, keepdim=True).clamp_(min=1)
        return candidates.gather(-1, kept - 1)


def nucleus_logits(scaled: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
    """``scaled`` with every token the sampler never draws set to -inf: those below the row's ``cutoff``
    (``nucleus_cutoff``; ties with it stay). With it, the one definition of the sampled distribution's support,
    for the engine's sampling and the learner's scoring alike. Gradients reach the kept logits only."""
    return scaled.masked_fill(scaled < cutoff, float("-inf"))


def processed_logprobs(logits: torch.Tensor, sampling: SamplingParams) -> torch.Tensor:
    """Log-probabilities of the distribution a token is drawn from, ``[B, V]`` float32.

    Greedy: the raw model distribution. Sampling: logits / temperature, top-k and top-p applied
    (``nucleus_logits``: removed tokens get -inf), renormalised. Matches vLLM's
    ``logprobs_mode="processed_logprobs"``.
    """
    logits = logits.float()
    if sampling.greedy:
        return torch.log_softmax(logits, dim=-1)
    scaled = logits / sampling.temperature
    return torch.log_softmax(
        nucleus_logits(scaled, nucleus_cutoff(scaled, sampling.top_p, sampling.top_k)), dim=-1
    )


def sample_tokens(
    logits: torch.Tensor, sampling: SamplingParams, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one token per row; returns ``(token_ids[B], logprob_of_each[B])``."""
    logprobs = processed_logprobs(logits, sampling)
    if sampling.greedy:
        tokens = torch.argmax(logits, dim=-1)
    else:
        tokens = torch.multinomial(logprobs.exp(), 1, generator=generator).squeeze(-1)
    return tokens, logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def policy_stats(
    logits: torch.Tensor, tokens: torch.Tensor, sampling: SamplingParams, sampled_distribution: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprob of each token [B], entropy [B])`` as the learner scores the step: under logits / temperature,
    and with ``sampled_distribution`` (``learner.score_sampled_distribution``) also within top-k / top-p,
    renormalised (``processed_logprobs``). Greedy counts as temperature 1 without top-k / top-p."""
    if sampled_distribution:
        logprobs = processed_logprobs(logits, sampling)
    else:
        scaled = logits.float() / sampling.temperature if not sampling.greedy else logits.float()
        logprobs = torch.log_softmax(scaled, dim=-1)
    return logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy_of_logprobs(logprobs)


def entropy_of_logprobs(logprobs: torch.Tensor) -> torch.Tensor:
    """-sum p log p over the last dim; tokens at -inf (outside a nucleus) count 0, in value and in gradient."""
    # the -inf entries are replaced before the product: 0 * -inf would be NaN, and so would its gradient
    finite = torch.where(torch.isfinite(logprobs), logprobs, torch.zeros_like(logprobs))
    return -(logprobs.exp() * finite).sum(-1)


def first_stop(text: str, stops: Sequence[str]) -> int:
    """End index (exclusive) of the earliest stop string in ``text``, or -1."""
    best = -1
    for stop in stops:
        pos = text.find(stop)
        if pos >= 0 and (best < 0 or pos + len(stop) < best):
            best = pos + len(stop)
    return best


def completion_text(
    tokenizer, token_ids: Sequence[int], stop_token_ids: Collection[int], stops: Sequence[str]
) -> str:
    """Decode a response: format tags kept, a final end-of-turn token dropped, cut after the first stop string."""
    ids = list(token_ids)
    if ids and ids[-1] in stop_token_ids:
        ids = ids[:-1]
    text = tokenizer.decode(ids, skip_special_tokens=False)
    end = first_stop(text, stops) if stops else -1
    return text if end < 0 else text[:end]


def stop_token_ids_of(tokenizer, generation_eos: int | Sequence[int] | None = None) -> frozenset[int]:
    """End-of-turn ids: the tokenizer's eos plus whatever the model's generation config adds (Qwen: two)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos is not None:
        ids.update(int(i) for i in generation_eos)
    if not ids:
        raise ValueError("the tokenizer has no eos token and the model config names none: cannot stop a turn")
    return frozenset(ids)
