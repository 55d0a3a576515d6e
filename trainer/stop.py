"""A clean stop on SIGINT (Ctrl-C) and SIGTERM (what SLURM and Kubernetes send before killing a preempted job).

The first signal does not interrupt whatever runs: it is recorded, and the trainer stops at the next point where
a checkpoint describes the run exactly. Work that is cheap to redo and changes nothing the checkpoint holds (a
rollout, an evaluation, the warm start) is *abortable*: the signal raises ``StopRequested`` inside it and the
work is discarded. Work that changes the learner (the update, the weight sync, a checkpoint being written) runs
to its end. The trainer then writes a complete checkpoint, closes its env workers and engine, prints one line
and exits 130 (SIGINT) or 143 (SIGTERM). A second SIGINT (Ctrl-C again) stops at once: every child process is
killed first, so nothing is left behind. A second SIGTERM is ignored: schedulers and launchers often deliver the
same SIGTERM twice (to every process, and forwarded), and the stop is already under way; the scheduler's
SIGKILL at the end of the grace period is what ends a stop that takes too long.

Tests deliver a signal inside a named phase with one environment variable (read at each phase's start):
``TURNRL_SIGNAL_AT=<SIGNAL>:<phase>:<step>[:<delay_s>]``, e.g. ``SIGTERM:rollout:2:0.5`` sends SIGTERM to this
process 0.5 s after the rollout of step 2 began (the first time only). Phases: ``sft``, ``rollout``, ``update``,
``eval`` (the step: 0 for the warm start and the evaluation before RL, the step just trained for the others).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger("turnrl")

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""The shell's convention: 128 + the signal number."""
TEST_HOOK = "TURNRL_SIGNAL_AT"
PHASES = ("sft", "rollout", "update", "eval")

T = TypeVar("T")


class StopRequested(BaseException):
    """Raised inside an abortable phase by the first signal. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way (an env pool retry, a logging guard) swallows it."""


class Stopped(Exception):
    """The run stopped cleanly after a signal; ``line`` is what the user reads."""

    def __init__(self, signal_name: str, step: int, checkpoint: str | None) -> None:
        super().__init__(signal_name, step, checkpoint)
        self.signal_name = signal_name
        self.step = step
        self.checkpoint = checkpoint

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.signal_name]

    @property
    def line(self) -> str:
        where = (
            f"checkpoint {self.checkpoint}"
            if self.checkpoint
            else "no checkpoint yet (the warm start runs again)"
        )
        return f"stopped at step {self.step} by {self.signal_name}; {where}; run the same command to continue"


class StopSignals:
    """The process's SIGINT / SIGTERM handler and what it received. ``install`` once, in the main thread."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._abortable = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            if name == "SIGINT":
                _stop_now(name)
            return  # a repeated SIGTERM (a launcher forwarding what the scheduler also sent) changes nothing
        self.received = name
        if self._abortable:
            # once: the phase's cleanup on the way out must not be interrupted again
            self._abortable = False
            raise StopRequested(name)

    def run_abortable(
        self, phase: str, step: int, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T | None:
        """``fn(*args, **kwargs)``, or None when a signal (now or earlier) stopped it: its work is discarded."""
        _test_hook(phase, step)
        self._abortable = True
        try:
            if self.received is not None:
                return None
            result = fn(*args, **kwargs)
            self._abortable = False  # a signal from here on is only recorded: the work is kept
            return result
        except StopRequested:
            log.info("%s: %s of step %d abandoned", self.received, phase, step)
            return None
        finally:
            self._abortable = False

    @contextmanager
    def phase(self, phase: str, step: int) -> Iterator[None]:
        """A phase that runs to its end whatever arrives (the signal is only recorded)."""
        _test_hook(phase, step)
        yield


_hook_fired = False


def _test_hook(phase: str, step: int) -> None:
    global _hook_fired
    spec = os.environ.get(TEST_HOOK)
    if not spec or _hook_fired:
        return
    name, at_phase, at_step, *delay = spec.split(":")
    if at_phase not in PHASES:
        raise ValueError(f"{TEST_HOOK}={spec!r}: the phase must be one of {PHASES}")
    if at_phase != phase or int(at_step) != step:
        return
    _hook_fired = True  # once: an evaluation runs its greedy and sampled halves as two phases
    signum = signal.Signals[name].value
    seconds = float(delay[0]) if delay else 0.0
    if seconds <= 0:
        os.kill(os.getpid(), signum)
    else:
        threading.Timer(seconds, os.kill, (os.getpid(), signum)).start()


def _stop_now(name: str) -> None:
    """The second signal: kill every descendant (env workers, engine helpers), then leave without cleanup."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=5)
    os.write(2, f"stopped at once by a second {name}; no checkpoint written since the first\n".encode())
    os._exit(EXIT_CODES[name])
