"""The quickstart's RL step with each rollout engine, from one SFT model: per-phase seconds, as a markdown table.

Builds (once, cached in the run folder) the quickstart's warm-started model with ``turnrl train
trainer.total_steps=0``, then runs ``--steps`` GiGPO steps from it with ``rollout.engine=hf`` and ``=vllm``, one
after the other (never at the same time: they share the CPU), and averages each phase over the steps after
the first.

    python scripts/bench/bench_quickstart_engines.py [--steps 15] [--engines hf,vllm] [--out runs/bench_engines]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from trainer.run_files import read_jsonl

REPO = Path(__file__).resolve().parents[2]
PHASES = ("rollout", "old_logprobs", "ref_logprobs", "advantage", "update", "sync", "step")


def train(out: Path, name: str, *overrides: str) -> float:
    start = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "trainer",
        "train",
        f"trainer.output_dir={out}",
        f"trainer.run_name={name}",
        "logging.wandb.mode=disabled",
        "logging.progress=false",
        "trainer.resume=never",
        *overrides,
    ]
    with open(out / f"{name}.log", "w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed (exit {result.returncode}); see {out / name}.log")
    return time.perf_counter() - start


def phase_means(run: Path) -> dict[str, float]:
    lines = read_jsonl(run / "metrics.jsonl")
    steps = [line for line in lines if "timing/step_s" in line][1:]
    means = {phase: sum(s.get(f"timing/{phase}_s", 0.0) for s in steps) / len(steps) for phase in PHASES}
    means["steps"] = len(steps)
    means["tokens"] = sum(s["rollout/response_tokens_mean"] * s["rollout/turns_mean"] for s in steps) / len(
        steps
    )
    gaps = [s["rollout/reuse_logprob_diff_max"] for s in lines if "rollout/reuse_logprob_diff_max" in s]
    means["reuse_gap_max"] = max(gaps) if gaps else float("nan")
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--engines", default="hf,vllm")
    parser.add_argument("--out", default="runs/bench_engines")
    args = parser.parse_args()
    out = (REPO / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sft = out / "sft" / "sft_model"
    if not (sft / "config.json").exists():
        seconds = train(
            out, "sft", "trainer.total_steps=0", "trainer.eval_episodes=8", "trainer.eval_sampled=false"
        )
        print(f"SFT model built in {seconds:.0f} s: {sft}", flush=True)
    rows = {}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        name = f"rl-{engine}"
        wall = train(
            out,
            name,
            f"model.path={sft}",
            f"rollout.engine={engine}",
            f"trainer.total_steps={args.steps}",
            "trainer.save_every=0",
            "trainer.eval_episodes=8",
            "trainer.eval_sampled=false",
        )
        rows[engine] = {**phase_means(out / name), "wall_s": wall}
        print(f"{engine}: {rows[engine]}", flush=True)

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs; date {datetime.date.today().isoformat()}")
    print(f"command: python scripts/bench/bench_quickstart_engines.py --steps {args.steps}")
    print(
        "\n| engine | "
        + " | ".join(f"{p} s" for p in PHASES)
        + " | gen tokens/step | old-logprob gap (max) |"
    )
    print("|---|" + "---|" * (len(PHASES) + 2))
    for engine, r in rows.items():
        print(
            f"| {engine} | "
            + " | ".join(f"{r[p]:.3f}" for p in PHASES)
            + f" | {r['tokens']:.0f} | {r['reuse_gap_max']:.1e} |"
        )


if __name__ == "__main__":
    main()
