"""Entry points behind ``turnrl train`` and ``turnrl eval``."""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainer.config import Config, run_folder, to_yaml
from trainer.notices import show_repeated_notices_once
from trainer.run_files import write_text_atomic

log = logging.getLogger("turnrl")


def _setup_logging(rank: int) -> None:
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s [rank{rank}] %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "filelock", "DeepSpeed", "deepspeed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    show_repeated_notices_once()


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: Config) -> dict[str, Any]:
    """Run (or resume) the experiment described by ``config``; returns and writes ``summary.json``. After SIGINT
    or SIGTERM it stops cleanly (``trainer.stop``): one line, and the process exits 130 or 143; when the policy
    guard stops it (``trainer.policy_guard``), rank 0 prints its line and every rank exits 3."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from trainer.dist import init_distributed, shutdown_distributed
    from trainer.policy_guard import PolicyMismatchError
    from trainer.stop import Stopped, StopSignals

    stop = StopSignals()
    stop.install()
    info = init_distributed(timeout_s=config.trainer.collective_timeout_s)
    _setup_logging(info.rank)
    _seed_everything(config.trainer.seed + info.rank)
    out = run_folder(config)
    if info.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.yaml", to_yaml(config))
    try:
        summary = _train_policy(config, out, info.rank, stop)
    except Stopped as stopped:
        if info.rank == 0:
            print(stopped.line, flush=True)
        shutdown_distributed()
        raise SystemExit(stopped.exit_code) from None
    except PolicyMismatchError as mismatch:  # raised on every rank together
        if info.rank == 0:
            print(f"turnrl: {mismatch}", file=sys.stderr, flush=True)
        shutdown_distributed()
        raise SystemExit(mismatch.exit_code) from None
    if info.rank == 0:
        from trainer.plots import plot_run

        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
        figures = plot_run(out)
        print(_final_report(summary, out, figures), flush=True)
    shutdown_distributed()
    return summary


def _train_policy(config: Config, out: Path, rank: int, stop) -> dict[str, Any]:
    from trainer.loop import Trainer

    model_path = _shared_policy(config, out, rank, stop)
    trainer = Trainer(config, model_path, out, stop)
    try:
        return trainer.fit()
    finally:
        trainer.close()


def _shared_policy(config: Config, out: Path, rank: int, stop) -> Path:
    """Rank 0 prepares (builds + warm-starts) the start policy; the other ranks wait and reuse it. A signal
    during the warm start abandons it (it is rebuilt from the seed on the next run)."""
    from trainer.dist import broadcast_object
    from trainer.stop import Stopped
    from trainer.warm_start import prepare_policy

    path = stop.run_abortable("sft", 0, prepare_policy, config, out) if rank == 0 else None
    release_freed_memory()
    shared = broadcast_object((str(path) if path else None, stop.received))
    if shared[0] is None:
        raise Stopped(shared[1], 0, None)
    return Path(shared[0])


def release_freed_memory() -> None:
    """Hand what the warm start freed back to the operating system before the engine and the learner start:
    glibc keeps a process's freed heap for reuse (``malloc_trim``), so the SFT's buffers would otherwise stay in
    the process's memory for the whole run. Elsewhere than glibc, only the garbage collection runs."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _final_report(summary: dict[str, Any], out: Path, figures: list[Path]) -> str:
    lines = [
        "",
        f"turnrl: {summary['env']} / {summary['algorithm']}, {summary['steps']} RL steps in "
        f"{summary['wall_time_s']:.0f} s",
        f"  held-out success (greedy, {summary['eval_episodes']} episodes): {_before_after(summary, '')}",
    ]
    if "success_after_rl_sampled" in summary:
        lines.append(f"  held-out success (sampled): {_before_after(summary, '_sampled')}")
    lines.append(
        f"  run folder: {out} (summary.json, metrics.jsonl, {len(figures)} PNG curves, checkpoints/)"
    )
    return "\n".join(lines)


def _before_after(summary: dict[str, Any], suffix: str) -> str:
    """``0.520 [0.42, 0.62] -> 0.600 [0.50, 0.69], gain +0.080 [+0.01, +0.15]`` (95% intervals)."""

    def rate(when: str) -> str:
        low, high = summary[f"success_{when}_rl{suffix}_ci95"]
        return f"{summary[f'success_{when}_rl{suffix}']:.3f} [{low:.2f}, {high:.2f}]"

    gain = f"gain {summary[f'gain{suffix}']:+.3f}"
    if f"gain{suffix}_ci95" in summary:
        low, high = summary[f"gain{suffix}_ci95"]
        gain += f" [{low:+.2f}, {high:+.2f}] (paired, same games)"
    return f"{rate('before')} -> {rate('after')}, {gain}"


@contextmanager
def model_on_split(
    config: Config, model_dir: Path, split: str, episodes: int, num_envs: int
) -> Iterator[tuple]:
    """An evaluation runner for the model in ``model_dir`` on ``split``, and ``episodes`` task ids (the split's tasks
    in order, repeated as needed); the engine is closed on leaving."""
    from transformers import AutoTokenizer

    from rollout import EpisodeRunner, create_engine
    from trainer.build import engine_kwargs, env_pool, eval_runner_config

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = create_engine(config.rollout.engine, str(model_dir), **engine_kwargs(config))
    try:
        with env_pool(config, split, num_envs) as pool:
            ids = list(pool.task_ids)
            runner = EpisodeRunner(engine, tokenizer, pool, eval_runner_config(config))
            yield runner, [ids[i % len(ids)] for i in range(episodes)]
    finally:
        engine.close()


def evaluate_checkpoint(config: Config, checkpoint: str, episodes: int | None = None) -> dict[str, Any]:
    """Greedy and sampled held-out success of an exported checkpoint (or a run folder's latest)."""
    from dataclasses import asdict

    from rollout import evaluate
    from trainer.build import splits

    _setup_logging(0)
    model_dir = _export_folder(Path(checkpoint))
    episodes = episodes or config.trainer.eval_episodes
    _, eval_split = splits(config)
    with model_on_split(config, model_dir, eval_split, episodes, min(64, episodes)) as (runner, tasks):
        results = {
            mode: asdict(evaluate(runner, tasks, greedy=mode == "greedy", seed=config.trainer.seed + 7))
            for mode in ("greedy", "sampled")
        }
    print(json.dumps({"checkpoint": str(model_dir), **results}, indent=2))
    return results


def _export_folder(path: Path) -> Path:
    """Accept an HF folder, a complete checkpoint folder (its ``hf/``), a run folder (its latest checkpoint) or
    a peft adapter folder (merged into its base model in a temporary folder, removed at exit)."""
    from trainer.checkpoint_layout import ADAPTER_CONFIG, model_folder

    folder = model_folder(path)
    if not (folder / ADAPTER_CONFIG).is_file():
        return folder
    import atexit
    import shutil
    import tempfile

    from trainer.learner.lora import merge_adapter

    merged = Path(tempfile.mkdtemp(prefix="turnrl-merged-"))
    atexit.register(shutil.rmtree, merged, ignore_errors=True)
    return merge_adapter(folder, merged)
