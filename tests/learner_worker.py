"""Multi-process learner scenarios, launched by tests/test_learner_dist.py with torchrun (2 ranks, gloo).

Modes:
  train   -- steps on one fixed batch; writes per-step losses, the gathered weights after ``--compare-step``
             steps, and the start weights (rank 0) so the test can replay it in a single fp32 process.
  resume  -- the checkpoint/kill/resume scenario: ``--steps`` RL steps with a checkpoint every ``--save-every``;
             data comes from the global torch RNG, so resuming only matches if the RNG states were restored.
             ``--kill-at-save S`` SIGKILLs rank 0 halfway through writing checkpoint S (shards written, no
             marker yet); ``--resume`` continues from the newest complete checkpoint.
Each rank holds different rows (and a different number of tokens), as in SPMD training.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import KLConfig, LearnerConfig, LoRAConfig  # noqa: E402
from trainer.dist import shutdown_distributed  # noqa: E402
from trainer.learner import CheckpointManager, Learner, LearnerSetup  # noqa: E402
from trainer.learner import checkpoint as checkpoint_module  # noqa: E402

VOCAB_LOW, VOCAB_HIGH = 12, 300


def make_batch(generator: torch.Generator, rows: int, max_response: int = 12):
    """Random prompts/responses (varied lengths) and advantages in the StepBatch layout."""
    prompts, responses = [], []
    for _ in range(rows):
        p = int(torch.randint(3, 24, (1,), generator=generator))
        r = int(torch.randint(1, max_response + 1, (1,), generator=generator))
        prompts.append(torch.randint(VOCAB_LOW, VOCAB_HIGH, (p,), generator=generator).tolist())
        responses.append(torch.randint(VOCAB_LOW, VOCAB_HIGH, (r,), generator=generator).tolist())
    width = max(len(r) for r in responses)
    mask = torch.zeros(rows, width)
    for i, r in enumerate(responses):
        mask[i, : len(r)] = 1
    advantages = torch.randn(rows, width, generator=generator) * mask
    return prompts, responses, advantages, mask


def padded_logprobs(model, prompts, responses, width):
    """Reference log-probs of the response tokens: one right-padded forward of the whole batch, [N, width]."""
    from algorithms.losses import log_probs_from_logits

    length = max(len(p) + len(r) for p, r in zip(prompts, responses))
    ids = torch.zeros((len(prompts), length), dtype=torch.long)
    attention = torch.zeros_like(ids)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        attention[i, : len(p) + len(r)] = 1
    logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
    out = torch.zeros((len(prompts), width))
    for i, (p, r) in enumerate(zip(prompts, responses)):
        positions = torch.arange(len(p) - 1, len(p) + len(r) - 1)
        row = log_probs_from_logits(logits[i, positions], torch.tensor(r))
        out = out.index_put((torch.full((len(r),), i), torch.arange(len(r))), row)
    return out


def rank_rows(total_rows: int, rank: int, world: int) -> list[int]:
    """Uneven split: rank 0 takes the first 60 % of the rows."""
    cut = (total_rows * 3) // 5 if world == 2 else total_rows
    return list(range(cut)) if rank == 0 else list(range(cut, total_rows))


def learner_setup(
    model_path: str | Path, *, kl: KLConfig | None = None, total_optimizer_steps: int = 1, **learner: object
) -> LearnerSetup:
    """The setup these learner tests were written for: one mini-batch, no gradient checkpointing, no entropy
    bonus, clip-higher 0.28, fp32 on CPU and no KL unless ``kl`` says so; ``learner`` fields go on top."""
    fields: dict = {
        "gradient_checkpointing": False,
        "mini_batches": 1,
        "clip_ratio_high": 0.28,
        "entropy_coeff": 0.0,
        "max_tokens_per_micro_batch": 8192,
        **learner,
    }
    return LearnerSetup(
        learner=LearnerConfig(**fields),
        model_path=str(model_path),
        dtype="auto",
        kl=kl or KLConfig(coef=0.0),
        temperature=1.0,
        top_p=1.0,
        top_k=-1,
        seed=0,
        total_optimizer_steps=total_optimizer_steps,
    )


def setup_from(args) -> LearnerSetup:
    extra = {"zero_optimization": {"stage3_param_persistence_threshold": 0}} if args.stage == 3 else {}
    return learner_setup(
        args.model,
        zero_stage=args.stage,
        lr=args.lr,
        grad_clip=1.0,
        max_tokens_per_micro_batch=args.max_tokens,
        loss_agg_mode=args.agg,
        clip_ratio_low=0.2,
        extra_ds_config=extra,
        lora=LoRAConfig(rank=args.lora_rank, alpha=2.0 * args.lora_rank or 32.0),
    )


def run_train(args) -> None:
    learner = Learner(setup_from(args))
    rank, world = learner.dist.rank, learner.dist.world_size
    prompts, responses, advantages, _ = make_batch(torch.Generator().manual_seed(args.seed), args.rows)
    start_weights = learner.state_dict()
    start_adapter = (
        {  # LoRA: the adapters' start values (the merged start weights are the base model's)
            n: p.detach().clone() for n, p in learner.ds_engine.module.named_parameters() if p.requires_grad
        }
        if args.lora_rank
        else None
    )
    rows = rank_rows(args.rows, rank, world)
    mine_p = [prompts[i] for i in rows]
    mine_r = [responses[i] for i in rows]
    width = max(len(r) for r in mine_r)
    old, _ = learner.score(mine_p, mine_r, with_entropy=False)
    all_old = torch.zeros_like(advantages)
    all_old[rows, : old.shape[1]] = old
    losses = []
    for step in range(args.steps):
        metrics = learner.update(mine_p, mine_r, advantages[rows, :width], old)
        losses.append(metrics["actor/loss"])
        if step + 1 == args.compare_step:
            weights_at_compare = learner.state_dict()
    if rank == 0:
        out = Path(args.out)
        torch.save(
            {
                "start": start_weights,
                "start_adapter": start_adapter,
                "compare": weights_at_compare,
                "old_logprobs_rank0": old,
                "rows_rank0": rows,
            },
            out / "weights.pt",
        )
        (out / "result.json").write_text(json.dumps({"losses": losses, "world": world}))


def capture_rng() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def run_resume(args) -> None:
    learner = Learner(setup_from(args))
    rank = learner.dist.rank
    manager = CheckpointManager(args.ckpt, keep_last=2)
    torch.manual_seed(args.seed + rank)
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    start_step = 0
    log: dict = {"losses": {}, "resumed_from": None}
    if args.resume:
        latest = manager.latest()
        if latest is None:
            raise RuntimeError(f"no complete checkpoint under {args.ckpt}")
        state = manager.load(latest, learner)
        restore_rng(state["rng"])
        start_step = state["step"]
        log["resumed_from"] = str(latest)
        weights = learner.state_dict()  # a collective under ZeRO-3: every rank gathers
        if rank == 0:
            torch.save(weights, Path(args.out) / "weights_after_load.pt")
    if args.kill_at_save:
        original = checkpoint_module.CheckpointManager._write_marker

        def kill_before_marker(self, staging, info):
            if info["step"] == args.kill_at_save:
                os.kill(os.getpid(), signal.SIGKILL)
            original(self, staging, info)

        checkpoint_module.CheckpointManager._write_marker = kill_before_marker
    for step in range(start_step + 1, args.steps + 1):
        # A (random) per-rank batch drawn from the global RNG: identical after resume only if RNG state was restored.
        prompts, responses, advantages, _ = make_batch(
            torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,)))), 6
        )
        old, _ = learner.score(prompts, responses, with_entropy=False)
        noise = float(np.random.rand()) * 0.01 + random.random() * 0.01
        metrics = learner.update(prompts, responses, advantages * (1.0 + noise), old)
        log["losses"][step] = metrics["actor/loss"]
        if rank == 0:
            (Path(args.out) / "result.json").write_text(json.dumps(log))
        if step % args.save_every == 0:
            manager.save(step, learner, {"step": step, "rng": capture_rng()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["train", "resume"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stage", type=int, default=2)
    parser.add_argument("--agg", default="token-mean")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compare-step", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ckpt", default="")
    parser.add_argument("--save-every", type=int, default=2)
    parser.add_argument("--kill-at-save", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--lora-rank", type=int, default=0)
    args = parser.parse_args()
    {"train": run_train, "resume": run_resume}[args.mode](args)
    shutdown_distributed()


if __name__ == "__main__":
    main()
