"""Atomic, pruned checkpoints: DeepSpeed state + trainer state + an exported Hugging Face folder.

A checkpoint is first written to ``<root>/.tmp-step_<n>``; a ``COMPLETE`` marker is written last inside it,
then the folder is renamed to ``<root>/step_<n>`` and the ``latest`` pointer is replaced. A run killed at any
moment therefore leaves either a finished checkpoint or a temporary folder that ``latest()`` never returns.
Layout of a finished checkpoint::

    step_00000010/
      deepspeed/            engine.save_checkpoint (model, optimizer, LR scheduler; one shard file per rank)
      hf/                   save_pretrained + tokenizer: loads in transformers and vLLM as is (LoRA: merged)
      adapter/              LoRA runs only: peft's adapter folder (adapter_config.json, adapter_model.safetensors)
      trainer_state_rank<r>.pt   the dict the caller passed, per rank (RNG states differ between ranks)
      COMPLETE              JSON: step, world size, time

All ranks call ``save``/``load`` (DeepSpeed writes shards from every rank); ``root`` must be on a file
system every rank sees. What makes a checkpoint complete is defined once, without torch, in
``trainer/checkpoint_layout.py`` (the CLI checks ``trainer.resume`` and ``--checkpoint`` with it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from trainer import dist as tdist
from trainer.checkpoint_layout import (
    COMPLETE_CHECKPOINT,
    LATEST,
    MARKER,
    complete_checkpoints,
    is_complete,
    latest_complete,
)
from trainer.run_files import write_text_atomic

log = logging.getLogger("turnrl")

ADAPTER_DIR = "adapter"
"""A LoRA run's adapter in a checkpoint, in peft's folder format, beside the merged ``hf/``."""


class CheckpointManager:
    """Writes checkpoints under ``root`` every time ``save`` is called and keeps the newest ``keep_last``."""

    def __init__(self, root: str | os.PathLike, keep_last: int = 2) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.root = Path(root)
        self.keep_last = keep_last

    @staticmethod
    def step_dir_name(step: int) -> str:
        return f"step_{step:08d}"

    def complete_checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every finished checkpoint, oldest first (the rule: checkpoint_layout.py)."""
        return complete_checkpoints(self.root)

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None. Half-written ones (no marker, temporary names) never count."""
        return latest_complete(self.root)

    def save(self, step: int, learner: Any, trainer_state: dict[str, Any]) -> Path:
        """Write checkpoint ``step`` (collective: every rank calls it); returns its final path."""
        rank, world = tdist.rank_and_world()
        final = self.root / self.step_dir_name(step)
        staging = self.root / f".tmp-{self.step_dir_name(step)}"
        start = time.perf_counter()
        if rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir()
        tdist.barrier()
        learner.save_checkpoint(staging / "deepspeed")
        learner.export_hf(staging / "hf")
        if learner.lora:
            learner.export_adapter(staging / ADAPTER_DIR)
        torch.save(trainer_state, staging / f"trainer_state_rank{rank}.pt")
        tdist.barrier()
        if rank == 0:
            self._write_marker(staging, {"step": step, "world_size": world, "time": time.time()})
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            write_text_atomic(self.root / LATEST, final.name + "\n")
            self._prune()
        tdist.barrier()
        log.info("saved checkpoint %s in %.2f s", final, time.perf_counter() - start)
        return final

    def load(self, path: str | os.PathLike, learner: Any) -> dict[str, Any]:
        """Restore the learner from a finished checkpoint and return this rank's trainer state."""
        path = Path(path)
        if not is_complete(path):
            raise FileNotFoundError(
                f"{path} is not a complete checkpoint (no {MARKER} marker): {COMPLETE_CHECKPOINT}"
            )
        rank, world = tdist.rank_and_world()
        saved_world = json.loads((path / MARKER).read_text()).get("world_size", world)
        learner.load_checkpoint(path / "deepspeed")
        state_file = path / f"trainer_state_rank{rank}.pt"
        if not state_file.is_file():
            log.warning(
                "checkpoint %s was written by %d ranks; rank %d takes rank 0's trainer state",
                path,
                saved_world,
                rank,
            )
            state_file = path / "trainer_state_rank0.pt"
        return torch.load(state_file, map_location="cpu", weights_only=False)

    def _write_marker(self, staging: Path, info: dict[str, Any]) -> None:
        write_text_atomic(staging / MARKER, json.dumps(info))

    def _prune(self) -> None:
        complete = self.complete_checkpoints()
        for _, path in complete[: max(0, len(complete) - self.keep_last)]:
            shutil.rmtree(path, ignore_errors=False)
        for stale in self.root.glob(".tmp-step_*"):
            log.info("removing the half-written checkpoint %s", stale)
            shutil.rmtree(stale)
