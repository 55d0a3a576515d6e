"""Rollout throughput: the episode runner against the raw engine on the same prompts, per engine.

The runner plays a fixed set of toy-env episodes (tasks x group size, fixed seeds) through a real
``EnvPool``; a recording wrapper keeps every batch of prompts it sent to ``generate``. The same batches
are then replayed through the bare engine. ``runner / raw`` is the share of generation speed that survives
prompt building, parsing and env steps (1.0 = the runner adds nothing).

    python scripts/bench/bench_rollout.py [--engines hf,vllm] [--tasks 8] [--group-size 4] [--max-turns 6]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from envs import get_spec
from envs.pool import EnvPool
from rollout import EpisodeRunner, HFEngine, PromptConfig, RunnerConfig, SamplingParams
from trainer.config import AlgorithmConfig, RolloutConfig
from trainer.tiny_model import build_tiny_model, default_corpus


class RecordingEngine:
    """Passes calls through, keeping each prompt batch and the time spent inside ``generate``."""

    def __init__(self, engine):
        self.engine = engine
        self.batches: list[list[list[int]]] = []
        self.generate_s = 0.0
        self.policy_version = engine.policy_version

    def generate(self, prompts, sampling):
        self.batches.append(prompts)
        start = time.perf_counter()
        out = self.engine.generate(prompts, sampling)
        self.generate_s += time.perf_counter() - start
        return out

    def load_weights(self, weights):
        self.engine.load_weights(weights)

    def sleep(self, level=1):
        self.engine.sleep(level)

    def wake_up(self, tags=None):
        self.engine.wake_up(tags)

    def drain(self):
        self.engine.drain()

    def close(self):
        self.engine.close()


def build_engine(kind: str, model_dir: Path, max_model_len: int):
    if kind == "hf":
        return HFEngine(str(model_dir))
    from rollout.vllm_engine import VLLMEngine

    return VLLMEngine(str(model_dir), max_model_len=max_model_len, max_num_seqs=256, enforce_eager=True)


def bench_engine(kind: str, args, model_dir: Path, pool: EnvPool, tokenizer) -> dict:
    start = time.perf_counter()
    engine = build_engine(kind, model_dir, args.max_context)
    startup_s = time.perf_counter() - start
    sampling = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    config = RunnerConfig(
        group_size=args.group_size,
        max_turns=args.max_turns,
        sampling=sampling,
        prompt=PromptConfig(
            action_format="action",
            intro=get_spec("toy").intro(),
            max_prompt_tokens=args.max_context - args.max_new_tokens,
        ),
        invalid_penalty=AlgorithmConfig().invalid_penalty,
        invalid_turn=RolloutConfig().invalid_turn,
        max_action_chars=RolloutConfig().max_action_chars,
        progress=False,
    )
    task_ids = pool.task_ids[: args.tasks]
    EpisodeRunner(engine, tokenizer, pool, config).run(task_ids[:1], group_size=2)  # warm-up

    recorder = RecordingEngine(engine)
    runner = EpisodeRunner(recorder, tokenizer, pool, config)
    start = time.perf_counter()
    trajectories = runner.run(task_ids, seed=1)
    runner_s = time.perf_counter() - start
    turns = [turn for traj in trajectories for turn in traj.turns]
    runner_tokens = sum(len(turn.response_ids) for turn in turns)

    if hasattr(engine, "llm"):  # vLLM: replayed prompts must not hit the prefix cache the runner filled
        engine.llm.reset_prefix_cache()
    start = time.perf_counter()
    raw_tokens = sum(len(c.token_ids) for batch in recorder.batches for c in engine.generate(batch, sampling))
    raw_s = time.perf_counter() - start
    runner_tps = runner_tokens / runner_s
    raw_tps = raw_tokens / raw_s
    return {
        "engine": kind,
        "startup_s": startup_s,
        "episodes": len(trajectories),
        "env_steps": len(turns),
        "generate_calls": len(recorder.batches),
        "tokens": runner_tokens,
        "runner_s": runner_s,
        "generate_share": recorder.generate_s / runner_s,
        "runner_tps": runner_tps,
        "steps_ps": len(turns) / runner_s,
        "raw_tps": raw_tps,
        "ratio": runner_tps / raw_tps,
        "success": sum(t.won for t in trajectories) / len(trajectories),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="hf,vllm", help="comma list of hf, vllm")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-context", type=int, default=1024)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--model", default=None, help="local model folder; default: build the tiny model")
    args = parser.parse_args()

    model_dir = (
        Path(args.model)
        if args.model
        else build_tiny_model(Path(tempfile.gettempdir()) / "turnrl_bench_tiny", default_corpus())
    )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    num_envs = args.tasks * args.group_size
    with EnvPool(
        "turnrl/Toy-v0", {"n_tasks": max(args.tasks, 8)}, num_envs=num_envs, num_workers=args.num_workers
    ) as pool:
        # HF first: vLLM-CPU pins the process to one torch thread once it starts.
        for kind in [k.strip() for k in args.engines.split(",") if k.strip()]:
            rows.append(bench_engine(kind, args, model_dir, pool, tokenizer))

    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"cuda={torch.cuda.is_available()}"
    )
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"model: {model_dir}; {args.tasks} tasks x {args.group_size} = {num_envs} episodes, "
        f"max {args.max_turns} turns, {args.max_new_tokens} new tokens/turn, toy env, {args.num_workers} workers\n"
    )
    print(
        "| engine | startup s | episodes | env steps | generate calls | gen tokens | runner s | generate share "
        "| runner tok/s | env steps/s | raw engine tok/s | runner / raw |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['startup_s']:.1f} | {r['episodes']} | {r['env_steps']} | {r['generate_calls']} "
            f"| {r['tokens']} | {r['runner_s']:.2f} | {r['generate_share']:.0%} | {r['runner_tps']:.0f} "
            f"| {r['steps_ps']:.1f} | {r['raw_tps']:.0f} | {r['ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
