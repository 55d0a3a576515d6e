"""Where metrics go: ``metrics.jsonl`` (always), the console (one line per step) and Weights & Biases.

Metric names are grouped by prefix (``rollout/``, ``train/``, ``eval/``, ``timing/``, ``memory/``, ``perf/``,
``env/``) so W&B
draws one panel section per group. W&B is optional at every level: a failed ``wandb.init`` (no network,
bad key, missing package) is logged once as a warning and training goes on with the JSONL file.
"""

from __future__ import annotations

import json
import logging
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("turnrl")

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


class DeviceMemory(Protocol):
    """Peak memory of the device this rank computes on."""

    def reset_peak(self) -> None: ...

    def snapshot(self) -> dict[str, float]:
        """GiB by name: the peaks since ``reset_peak`` and what the whole device has in use now."""
        ...


class CudaMemory:
    """PyTorch's allocator peaks (vLLM's sleep-mode pool allocates through it too) and the device's used memory,
    which also counts what PyTorch does not see (CUDA context, NCCL buffers)."""

    def reset_peak(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats()

    def snapshot(self) -> dict[str, float]:
        import torch

        free, total = torch.cuda.mem_get_info()
        return {
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
            "device_used_gib": (total - free) / 2**30,
        }


def device_memory() -> DeviceMemory | None:
    """The GPU's memory probe; None on CPU, where there is no device memory to plan."""
    import torch

    return CudaMemory() if torch.cuda.is_available() else None


class PhaseTimer:
    """Wall time of each phase of a step, reported as ``timing/<phase>_s`` and its share of the step; with a
    device, also each phase's peak memory as ``memory/<phase>_<figure>`` (the largest over a phase's runs), the
    measured side of the memory plan."""

    def __init__(self, memory: DeviceMemory | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.memory = memory
        self.memory_gib: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        if self.memory is not None:
            self.memory.reset_peak()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start
            if self.memory is not None:
                for figure, gib in self.memory.snapshot().items():
                    key = f"memory/{phase}_{figure}"
                    self.memory_gib[key] = max(gib, self.memory_gib.get(key, 0.0))

    def metrics(self) -> dict[str, float]:
        total = sum(self.seconds.values())
        out = {f"timing/{name}_s": value for name, value in self.seconds.items()}
        out.update(
            {f"timing/{name}_share": value / total for name, value in self.seconds.items() if total > 0}
        )
        out["timing/step_s"] = total
        out.update(self.memory_gib)
        return out


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
        self.jsonl = open(self.run_dir / "metrics.jsonl", "a", buffering=1)
        self.wandb = self._init_wandb(wandb_settings, run_config) if wandb_settings else None

    def _init_wandb(self, settings: dict[str, Any], run_config: dict[str, Any]):
        if settings.get("mode", "disabled") == "disabled":
            return None
        try:
            import wandb

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
        if self.wandb is not None:
            try:
                self.wandb.log(metrics, step=step)
            except Exception as exc:
                log.warning("W&B log failed at step %d (%s); continuing with metrics.jsonl", step, exc)

    def log_table(self, step: int, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Sample trajectories: a W&B table, and a JSONL file beside metrics.jsonl for those without W&B."""
        with open(self.run_dir / f"{name}.jsonl", "a") as handle:
            handle.write(json.dumps({"step": step, "columns": columns, "rows": rows}) + "\n")
        if self.wandb is not None:
            try:
                import wandb

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
        import uuid

        id_file.write_text(uuid.uuid4().hex[:12])
    return id_file.read_text().strip()


def console_line(step: int, total: int, metrics: dict[str, Any]) -> str:
    """The one summary line printed per training step."""
    parts = [f"step {step}/{total}"]
    for key, label, fmt in CONSOLE_KEYS:
        if key in metrics and metrics[key] is not None:
            parts.append(f"{label} {fmt.format(float(metrics[key]))}")
    return " | ".join(parts)
