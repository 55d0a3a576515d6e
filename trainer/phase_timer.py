"""How long each phase of a training step takes and, on a GPU, how much device memory it peaks at.

The measured side of the memory plan (``trainer.memory_plan``): the loop times its phases (rollout, sync,
old log-probs, update, ...) with one ``PhaseTimer`` per step, and ``scripts/gpu_check.py`` compares the peaks
with the plan's prediction.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Protocol

import torch


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
        torch.cuda.reset_peak_memory_stats()

    def snapshot(self) -> dict[str, float]:
        free, total = torch.cuda.mem_get_info()
        return {
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
            "device_used_gib": (total - free) / 2**30,
        }


def device_memory() -> DeviceMemory | None:
    """The GPU's memory probe; None on CPU, where there is no device memory to plan."""
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
