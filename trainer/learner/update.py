"""The PPO update: mini-batches, token-packed micro-batches, correctly scaled gradient accumulation.

Loss scaling is the subtle part. The objective of a mini-batch is the loss aggregated over the WHOLE
mini-batch, on all ranks (e.g. token-mean = sum of token losses / all tokens), not a mean of micro-batch
means. Each micro-batch computes its loss with ``algorithms.losses`` on its own rows and multiplies it by
its share of the aggregation's denominator (tokens for token-mean, rows for seq-mean-*, and 1 for
seq-mean-token-sum-norm whose denominator is the fixed width T), times the world size because DeepSpeed
averages gradients over ranks. Summed over micro-batches and ranks this is exactly the whole-batch loss.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from algorithms.losses import agg_loss, entropy_from_logits, kl_penalty, policy_loss
from trainer import dist as tdist
from trainer.learner.flops import training_flops
from trainer.learner.learner_setup import LearnerSetup
from trainer.learner.packing import PackedMicroBatch, dummy_micro_batch, response_mask, to_rows
from trainer.learner.sampled_distribution import is_full
from trainer.learner.scoring import forward_pack, plan_micro_batches

log = logging.getLogger("turnrl")

ExtraLossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, Any]]]

# Global (all-rank) sums gathered for the metrics of one optimizer step, in this order.
_SUMS = (
    "loss",
    "pg_loss",
    "kl_loss",
    "entropy_loss",
    "pg_clipfrac",
    "pg_clipfrac_lower",
    "ppo_kl",
    "entropy",
    "nonfinite",
)


@dataclass
class UpdateBatch:
    """One rank's rows for an ``update`` call, validated and padded to the global width."""

    prompts: Sequence[Sequence[int]]
    responses: Sequence[Sequence[int]]
    advantages: torch.Tensor
    old_logprobs: torch.Tensor
    ref_logprobs: torch.Tensor | None
    lengths: list[int] = field(default_factory=list)
    pg_weights: torch.Tensor | None = None  # per-token policy-gradient weights (the rollout correction)

    @property
    def width(self) -> int:
        return int(self.advantages.shape[1])


def prepare_batch(
    prompts: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    advantages: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    pg_weights: torch.Tensor | None = None,
) -> UpdateBatch:
    """Check shapes against the StepBatch layout and pad every [N, T] tensor to the widest rank's T."""
    n = len(responses)
    if len(prompts) != n:
        raise ValueError(f"{len(prompts)} prompts but {n} responses")
    for name, tensor in (
        ("advantages", advantages),
        ("old_logprobs", old_logprobs),
        ("ref_logprobs", ref_logprobs),
        ("pg_weights", pg_weights),
    ):
        if tensor is not None and (tensor.dim() != 2 or tensor.shape[0] != n):
            raise ValueError(f"{name} must be [N={n}, T], got {tuple(tensor.shape)}")
    if any(t is not None and t.shape != advantages.shape for t in (old_logprobs, ref_logprobs, pg_weights)):
        raise ValueError(
            "advantages, old_logprobs, ref_logprobs and pg_weights must have the same [N, T] shape"
        )
    lengths = [len(r) for r in responses]
    if lengths and max(lengths) > advantages.shape[1]:
        raise ValueError(
            f"a response has {max(lengths)} tokens but the [N, T] tensors have T={advantages.shape[1]}"
        )
    width = int(tdist.all_reduce(torch.tensor([advantages.shape[1]], dtype=torch.long), op="max").item())

    def widen(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        t = t.detach().float().cpu()
        return torch.nn.functional.pad(t, (0, width - t.shape[1])) if t.shape[1] < width else t

    return UpdateBatch(
        prompts,
        responses,
        widen(advantages),
        widen(old_logprobs),
        widen(ref_logprobs),
        lengths,
        widen(pg_weights),
    )


def aggregation_units(mode: str, lengths: Sequence[int]) -> float:
    """Size of ``lengths``' rows in the unit the aggregation mode divides by."""
    if mode == "token-mean":
        return float(sum(lengths))
    if mode in ("seq-mean-token-sum", "seq-mean-token-mean"):
        return float(len(lengths))
    return 1.0  # seq-mean-token-sum-norm: the denominator is the constant width, already in agg_loss


@dataclass
class ModelFacts:
    """What FLOP accounting needs to know about the policy."""

    n_matmul_params: int
    num_layers: int
    attention_width: int


class PPOUpdater:
    """Runs the optimizer steps of one ``update`` call on a DeepSpeed engine."""

    def __init__(
        self, ds_engine: Any, setup: LearnerSetup, filler_token: int, stage0_manual_skip: bool
    ) -> None:
        self.ds_engine = ds_engine
        self.setup = setup
        self.filler_token = filler_token
        self.stage0_manual_skip = stage0_manual_skip

    def run(
        self, batch: UpdateBatch, update_index: int, extra_loss_fn: ExtraLossFn | None
    ) -> tuple[list[dict], list[int]]:
        """All epochs x mini-batches; returns per-optimizer-step metrics and the computed sequence lengths."""
        setup = self.setup
        s = setup.learner
        n = len(batch.responses)
        generator = torch.Generator().manual_seed(setup.seed * 1_000_003 + update_index)
        steps: list[dict] = []
        seq_lengths: list[int] = []
        for _ in range(s.ppo_epochs):
            shuffle = s.shuffle_mini_batches and s.mini_batches > 1
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            for chunk in torch.tensor_split(order, s.mini_batches):
                metrics, computed = self.optimizer_step(batch, chunk.tolist(), extra_loss_fn)
                steps.append(metrics)
                seq_lengths.extend(computed)
        return steps, seq_lengths

    def optimizer_step(
        self, batch: UpdateBatch, rows: list[int], extra_loss_fn: ExtraLossFn | None
    ) -> tuple[dict, list[int]]:
        """One mini-batch; returns its metrics and the lengths of the sequences it computed."""
        setup = self.setup
        s = setup.learner
        ds_engine = self.ds_engine
        world = torch.distributed.get_world_size()
        lengths = [batch.lengths[r] for r in rows]
        trained = self.rows_with_gradient(batch, rows, extra_loss_fn)
        trained_tokens = sum(batch.lengths[r] for r in trained)
        totals = tdist.all_reduce(
            torch.tensor(
                [
                    aggregation_units(s.loss_agg_mode, lengths),
                    float(trained_tokens),
                    float(len(rows) - len(trained)),
                ],
                dtype=torch.float64,
            )
        )
        units_total = max(float(totals[0]), 1.0) if s.loss_agg_mode != "seq-mean-token-sum-norm" else 1.0
        tokens_total = max(float(totals[1]), 1.0)
        packs = plan_micro_batches(
            batch.prompts,
            batch.responses,
            trained,
            s.max_tokens_per_micro_batch,
            self.filler_token,
            setup.packed_layout,
        )
        if not packs:  # no rank has a row to train: one empty pass keeps DeepSpeed's step well-formed
            packs = [dummy_micro_batch(self.filler_token)]
        sums = torch.zeros(len(_SUMS), dtype=torch.float64)
        extra_metrics: dict[str, float] = {}
        lr = float(ds_engine.get_lr()[0])
        ds_engine.train()
        for index, pack in enumerate(packs):
            ds_engine.set_gradient_accumulation_boundary(index == len(packs) - 1)
            loss, parts = self._micro_loss(
                batch,
                pack,
                units_total,
                tokens_total,
                max(trained_tokens, 1),
                extra_loss_fn,
                extra_metrics,
            )
            ds_engine.backward(loss * world, scale_wrt_gas=False)
            sums += parts
        sums = tdist.all_reduce(sums)
        metrics = {name: float(value) for name, value in zip(_SUMS, sums.tolist())}
        nonfinite = metrics.pop("nonfinite") > 0
        applied, grad_norm = self._step(nonfinite)
        metrics.update(extra_metrics)
        metrics.update(
            {
                "grad_norm": grad_norm,
                "lr": lr,
                "skipped": 0.0 if applied else 1.0,
                "micro_batches": float(len(packs)),
                "rows_skipped": float(totals[2]),
            }
        )
        if not applied:
            log.warning(
                "skipped an optimizer step: non-finite %s (loss %.4g, grad norm %.4g)",
                "loss" if nonfinite else "gradient",
                metrics["loss"],
                grad_norm,
            )
        return metrics, [n for pack in packs for n in pack.sequence_lengths]

    def rows_with_gradient(
        self, batch: UpdateBatch, rows: list[int], extra_loss_fn: ExtraLossFn | None
    ) -> list[int]:
        """``rows`` less those whose loss has no gradient (``learner.skip_zero_advantage_rows``): with the KL in
        the loss, an entropy bonus or an extra loss every row has one; otherwise a row with a zero advantage on
        every token has none, since -A * ratio and its clipped form are then 0 for any ratio."""
        s = self.setup.learner
        if (
            not s.skip_zero_advantage_rows
            or self.setup.kl_in_loss
            or s.entropy_coeff != 0
            or extra_loss_fn is not None
        ):
            return rows
        return [r for r in rows if bool(batch.advantages[r, : batch.lengths[r]].any())]

    def _micro_loss(
        self,
        batch: UpdateBatch,
        pack: PackedMicroBatch,
        units_total: float,
        tokens_total: float,
        tokens_local: int,
        extra_loss_fn: ExtraLossFn | None,
        extra_metrics: dict[str, float],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """This micro-batch's share of the mini-batch loss (before the world-size factor) and its metric sums."""
        setup = self.setup
        s = setup.learner
        device = self.ds_engine.device
        needs_entropy_grad = s.entropy_coeff != 0 or extra_loss_fn is not None
        stats = forward_pack(
            self.ds_engine,
            pack,
            device,
            temperature=setup.temperature,
            top_p=setup.scored_top_p,
            top_k=setup.scored_top_k,
            # within a nucleus the entropy comes with the log-probs at little cost (one sort for both): the
            # logged entropy then needs no second pass
            with_entropy=needs_entropy_grad or not is_full(setup.scored_top_p, setup.scored_top_k),
            chunk_size=s.logits_chunk_size,
        )
        parts = torch.zeros(len(_SUMS), dtype=torch.float64)
        if pack.is_dummy:
            return stats.logits.sum() * 0.0, parts
        width = batch.width
        idx = torch.tensor(pack.rows, dtype=torch.long)
        mask = response_mask(pack.response_lengths, width).to(device)
        logprobs = to_rows(stats.logprobs, pack.response_lengths, width)
        old = batch.old_logprobs[idx].to(device)
        advantages = batch.advantages[idx].to(device)
        pg_loss, clipfrac, ppo_kl, clipfrac_lower = policy_loss(
            old,
            logprobs,
            advantages,
            mask,
            cliprange_low=s.clip_ratio_low,
            cliprange_high=s.clip_ratio_high,
            clip_ratio_c=s.clip_ratio_c,
            loss_agg_mode=s.loss_agg_mode,
            token_weights=batch.pg_weights[idx].to(device) if batch.pg_weights is not None else None,
        )
        loss = pg_loss
        kl_loss = torch.zeros((), device=device)
        entropy_loss = torch.zeros((), device=device)
        entropy_rows = (
            to_rows(stats.entropy, pack.response_lengths, width) if stats.entropy is not None else None
        )
        if s.entropy_coeff != 0 and entropy_rows is not None:
            entropy_loss = agg_loss(entropy_rows, mask, s.loss_agg_mode)
            loss = loss - s.entropy_coeff * entropy_loss
        if setup.kl_in_loss:
            if batch.ref_logprobs is None:
                raise ValueError("kl_coef > 0 with the KL in the loss needs ref_logprobs in update()")
            kl = kl_penalty(logprobs, batch.ref_logprobs[idx].to(device), setup.kl.type)
            kl_loss = agg_loss(kl, mask, s.loss_agg_mode)
            loss = loss + setup.kl.coef * kl_loss
        if extra_loss_fn is not None and entropy_rows is not None:
            extra_loss, metrics = extra_loss_fn(entropy_rows, mask)
            loss = loss + extra_loss
            # token-weighted means over this rank's rows, not all-reduced: the keys are the hook's business,
            # and a rank that ran only filler micro-batches would have none
            local_share = float(sum(pack.response_lengths)) / tokens_local
            for key, value in metrics.items():
                extra_metrics[key] = extra_metrics.get(key, 0.0) + float(value) * local_share
        with torch.no_grad():
            token_entropy = (
                stats.entropy.detach()
                if stats.entropy is not None
                else pack.expand(entropy_from_logits(stats.logits.detach(), chunk_size=s.logits_chunk_size))
            )
        share = aggregation_units(s.loss_agg_mode, pack.response_lengths) / units_total
        token_share = float(sum(pack.response_lengths)) / tokens_total
        scaled = loss * share
        nonfinite = not bool(torch.isfinite(scaled.detach()))
        parts += torch.tensor(
            [
                float(scaled.detach()) if not nonfinite else 0.0,
                float(pg_loss.detach()) * share,
                float(kl_loss.detach()) * share,
                float(entropy_loss.detach()) * share,
                float(clipfrac) * token_share,
                float(clipfrac_lower) * token_share,
                float(ppo_kl) * token_share,
                float(token_entropy.sum()) / tokens_total,
                1.0 if nonfinite else 0.0,
            ],
            dtype=torch.float64,
        )
        if nonfinite:
            # Poison the gradient instead of skipping backward: every rank still runs the same collectives,
            # and DeepSpeed's own non-finite-gradient path then drops the whole step and clears its buffers.
            scaled = stats.logits.sum() * float("nan")
        return scaled, parts

    def _step(self, nonfinite_loss: bool) -> tuple[bool, float]:
        """Apply (or skip) the optimizer step; returns (applied, pre-clip global grad norm)."""
        ds_engine = self.ds_engine
        if self.stage0_manual_skip:
            # Stage 0 with a client optimizer has no overflow check in DeepSpeed: check the (already
            # all-reduced) gradients ourselves and never let a non-finite one reach AdamW.
            grads = [
                p.grad.detach().float().norm() for p in ds_engine.module.parameters() if p.grad is not None
            ]
            norm = float(torch.stack(grads).norm()) if grads else 0.0
            if nonfinite_loss or not math.isfinite(norm):
                ds_engine.zero_grad()
                return False, norm if math.isfinite(norm) else float("inf")
            ds_engine.step()
            return True, norm
        ds_engine.step()
        norm = ds_engine.get_global_grad_norm()
        norm = float(norm) if norm is not None else float("nan")
        return bool(ds_engine.was_step_applied()) and not nonfinite_loss, norm


def summarize_steps(
    steps: list[dict], seq_lengths_local: list[int], seconds: float, facts: ModelFacts, peak: float | None
) -> dict[str, float]:
    """Mean of the per-step metrics plus throughput; keys as logged (``actor/...``, ``perf/...``)."""
    from trainer.learner.flops import mfu

    out: dict[str, float] = {}
    applied = [m for m in steps if m["skipped"] == 0.0]
    for key in steps[0]:
        if key in ("skipped", "micro_batches", "rows_skipped"):
            continue
        pool = applied if key in ("grad_norm",) and applied else steps
        name = key if "/" in key else f"actor/{key}"  # extra_loss_fn metrics keep their own namespace
        out[name] = sum(m[key] for m in pool) / len(pool)
    out["actor/first_step_loss"] = steps[0]["loss"]
    out["actor/optimizer_steps"] = float(len(applied))
    out["actor/skipped_steps"] = float(len(steps) - len(applied))
    out["perf/micro_batches"] = float(sum(m["micro_batches"] for m in steps))
    out["perf/rows_skipped"] = float(sum(m["rows_skipped"] for m in steps))
    local = torch.tensor(
        [
            float(sum(seq_lengths_local)),
            training_flops(seq_lengths_local, facts.n_matmul_params, facts.num_layers, facts.attention_width),
        ],
        dtype=torch.float64,
    )
    tokens, flops = tdist.all_reduce(local).tolist()
    out["perf/update_time_s"] = seconds
    out["perf/update_tokens_per_s"] = tokens / seconds if seconds > 0 else 0.0
    value = mfu(flops, seconds, peak, torch.distributed.get_world_size())
    if value is not None:
        out["perf/update_mfu"] = value
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
