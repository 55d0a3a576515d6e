"""Where metrics go: ``metrics.jsonl`` (always), the console (one line per step) and Weights & Biases.

Metric names are grouped by prefix (``rollout/``, ``train/``, ``eval/``, ``timing/``, ``memory/``, ``perf/``,
``env/``) so W&B draws one panel section per group. W&B is optional at every level: a failed ``wandb.init`` (no network,
bad key, missing package) is logged once as a warning and training goes on with the JSONL file.

A resumed run continues the same W&B run (its id is kept in the run folder) and the same JSONL files: they are
cut back to the records its checkpoint had seen, and the records the stopped run had already sent to W&B after
that are not sent again (a resumed run reproduces them exactly; W&B refuses a step twice).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import wandb

from trainer.run_files import count_records, keep_records, write_text_atomic

log = logging.getLogger("turnrl")

METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
"""The sample table's file (``log_table(step, "samples", ...)``)."""

CONSOLE_KEYS = (
    ("rollout/success", "succ", "{:.2f}"),
    ("rollout/reward_mean", "rew", "{:.2f}"),
    ("rollout/invalid_rate", "inv", "{:.2f}"),
    ("train/pg_loss", "loss", "{:+.4f}"),
    ("train/entropy", "ent", "{:.3f}"),
    ("train/ppo_kl", "kl", "{:.4f}"),
    ("train/grad_norm", "gnorm", "{:.3f}"),
    ("timing/step_s", "t", "{:.1f}s"),
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


class MetricsLogger:
    """One object per run; only the main process (rank 0) should create one."""

    def __init__(
        self, run_dir: Path, wandb_settings: dict[str, Any] | None, run_config: dict[str, Any]
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.records = {name: count_records(self.run_dir / name) for name in (METRICS, SAMPLES)}
        """Complete records in each JSONL file: what a checkpoint stores, and ``rewind`` restores."""
        self._wandb_already_sent = dict.fromkeys(self.records, 0)
        self.jsonl = open(self.run_dir / METRICS, "a", buffering=1)
        self.wandb = self._init_wandb(wandb_settings, run_config) if wandb_settings else None

    def rewind(self, records: dict[str, int]) -> None:
        """Cut the JSONL files back to the record counts a checkpoint stored; what the stopped run wrote after
        its checkpoint (and had sent to W&B) is written again by the resumed run, and sent to W&B no more."""
        self.jsonl.close()
        for name, count in self.records.items():
            keep = records.get(name, 0)
            self._wandb_already_sent[name] = max(0, count - keep)
            keep_records(self.run_dir / name, keep)
            self.records[name] = min(count, keep)
        self.jsonl = open(self.run_dir / METRICS, "a", buffering=1)

    def _send_to_wandb(self, name: str) -> bool:
        if self.wandb is None:
            return False
        if self._wandb_already_sent.get(name, 0) > 0:
            self._wandb_already_sent[name] -= 1
            return False
        return True

    def _init_wandb(self, settings: dict[str, Any], run_config: dict[str, Any]):
        if settings.get("mode", "disabled") == "disabled":
            return None
        # W&B offers its LLM-call tracing (Weave) whenever an LLM client library is loaded; vLLM loads openai's
        # for its server, and a trainer makes no such calls: no offer. Quiet: no run-history table at the end
        # (the per-step lines and the final report say it); where the run is saved is still printed. Either
        # comes back when the user's environment sets it.
        os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
        os.environ.setdefault("WANDB_QUIET", "true")
        try:
            return wandb.init(
                project=settings.get("project"),
                entity=settings.get("entity"),
                tags=settings.get("tags") or None,
                mode=settings["mode"],
                dir=str(self.run_dir),
                name=self.run_dir.name,
                config=run_config,
                resume="allow",
                id=_wandb_run_id(self.run_dir),
            )
        except Exception as exc:  # any failure of an optional dashboard must not stop training
            log.warning("W&B disabled for this run: %s: %s", type(exc).__name__, exc)
            return None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, "time": time.time(), **{k: _jsonable(v) for k, v in metrics.items()}}
        self.jsonl.write(json.dumps(record) + "\n")
        self.records[METRICS] += 1
        if self._send_to_wandb(METRICS):
            try:
                self.wandb.log(metrics, step=step)
            except Exception as exc:
                log.warning("W&B log failed at step %d (%s); continuing with metrics.jsonl", step, exc)

    def log_table(self, step: int, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Sample trajectories: a W&B table, and a JSONL file beside metrics.jsonl for those without W&B."""
        with open(self.run_dir / f"{name}.jsonl", "a") as handle:
            handle.write(json.dumps({"step": step, "columns": columns, "rows": rows}) + "\n")
        self.records[f"{name}.jsonl"] = self.records.get(f"{name}.jsonl", 0) + 1
        if self._send_to_wandb(f"{name}.jsonl"):
            try:
                self.wandb.log({name: wandb.Table(columns=columns, data=rows)}, step=step)
            except Exception as exc:
                log.warning("W&B table failed at step %d (%s)", step, exc)

    def close(self) -> None:
        self.jsonl.close()
        if self.wandb is not None:
            try:
                self.wandb.finish()
            except Exception as exc:
                log.warning("W&B finish failed (%s)", exc)


def _wandb_run_id(run_dir: Path) -> str:
    """A stable id per run folder, so a resumed run continues the same W&B run."""
    id_file = run_dir / "wandb_run_id"
    if not id_file.exists():
        write_text_atomic(id_file, uuid.uuid4().hex[:12])
    return id_file.read_text().strip()


def console_line(step: int, total: int, metrics: dict[str, Any]) -> str:
    """The one summary line printed per training step."""
    parts = [f"step {step}/{total}"]
    for key, label, fmt in CONSOLE_KEYS:
        if key in metrics and metrics[key] is not None:
            parts.append(f"{label} {fmt.format(float(metrics[key]))}")
    return " | ".join(parts)
