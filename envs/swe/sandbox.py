"""Sandbox interface for the SWE env: where agent commands and gradings run.

Every agent command and every grading runs inside a `Sandbox`: a fresh working copy of one task's
repository (seen by the commands at ``/testbed``), with resource limits and no network. A
`SandboxBackend` makes sandboxes. Two backends exist: ``bwrap`` (bubblewrap, local git repos; the
default, works without a container daemon) and ``docker`` (official SWE-bench images, for clusters
that have Docker). The env and the grader only talk to this interface, so both backends behave
the same from their point of view.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

SANDBOX_ROOT = "/testbed"


class SandboxError(RuntimeError):
    """A sandbox could not be created or used (missing tool, bad path, broken backend)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to one command (and all processes it starts)."""

    wall_s: float = 60.0
    cpu_s: int = 60
    memory_bytes: int = 4 * 2**30
    nproc: int = 256
    file_bytes: int = 256 * 2**20
    tmp_bytes: int = 512 * 2**20
    output_bytes: int = 16_000
    # A command that keeps printing past this is killed: reading 1 GB of output would cost more than the command.
    kill_output_bytes: int = 8 * 2**20

    def with_overrides(self, **kwargs: float | int) -> Limits:
        return replace(self, **kwargs)


@dataclass
class ExecResult:
    """Outcome of one sandboxed command; `limit` names the limit that stopped it, if any."""

    exit_code: int
    output: str
    duration_s: float
    output_total_bytes: int = 0
    output_truncated: bool = False
    limit: str | None = None

    @property
    def timed_out(self) -> bool:
        return self.limit == "wall_time"

    def summary(self) -> dict:
        return {
            "exit_code": self.exit_code,
            "duration_s": round(self.duration_s, 3),
            "output_bytes": self.output_total_bytes,
            "output_truncated": self.output_truncated,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class WorkspaceSpec:
    """What a backend needs to build a fresh working copy of one task at its base commit."""

    instance_id: str
    base_commit: str
    git_dir: Path | None = None  # local repository holding base_commit (bwrap backend)
    image: str | None = None  # container image (docker backend)
    extra: dict = field(default_factory=dict)


class Sandbox(ABC):
    """One isolated working copy plus a way to run commands and touch files in it.

    Paths given to the file methods are paths as the sandboxed commands see them (under
    ``/testbed``); backends must refuse anything that resolves outside the working copy.
    """

    root: str = SANDBOX_ROOT

    @abstractmethod
    def exec(self, command: str, limits: Limits | None = None, stdin: bytes | None = None) -> ExecResult:
        """Run `command` with bash in the working copy."""

    @abstractmethod
    def read_file(self, path: str) -> bytes: ...

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None: ...

    @abstractmethod
    def remove_file(self, path: str) -> None: ...

    @abstractmethod
    def path_kind(self, path: str) -> str | None:
        """'file', 'dir', 'other' or None when nothing is there."""

    @abstractmethod
    def list_dir(self, path: str, max_depth: int = 2) -> list[str]:
        """Non-hidden entries under `path` up to `max_depth` levels, as sandbox paths, sorted."""

    @abstractmethod
    def tree_digest(self) -> str:
        """A hash of the working tree content (tracked and untracked files, no caches)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SandboxBackend(ABC):
    name: str = "abstract"

    @abstractmethod
    def create(self, spec: WorkspaceSpec) -> Sandbox:
        """A fresh, independent working copy of `spec` at its base commit."""


def get_backend(name: str | SandboxBackend, **kwargs: object) -> SandboxBackend:
    """Backend by name ('bwrap' or 'docker'); an existing backend object is passed through."""
    if isinstance(name, SandboxBackend):
        return name
    if name == "bwrap":
        from envs.swe.bwrap import BwrapBackend

        return BwrapBackend(**kwargs)
    if name == "docker":
        from envs.swe.docker import DockerBackend

        return DockerBackend(**kwargs)
    raise ValueError(f"unknown sandbox backend {name!r}; choose 'bwrap' or 'docker'")


def classify_exit(exit_code: int, output: str) -> str | None:
    """Name the resource limit behind an exit status (rlimit signals show up as 128+signal)."""
    by_signal = {128 + signal.SIGXCPU: "cpu_time", 128 + signal.SIGXFSZ: "file_size"}
    if exit_code in by_signal:
        return by_signal[exit_code]
    tail = output[-4000:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail or "std::bad_alloc" in tail:
        return "memory"
    if "File size limit exceeded" in tail:
        return "file_size"
    if "fork: retry: Resource temporarily unavailable" in tail or "BlockingIOError: [Errno 11]" in tail:
        return "process_count"
    return None


class _OutputBuffer:
    """Keeps the head and the tail of a stream within a byte budget and counts the rest."""

    def __init__(self, budget: int) -> None:
        self.head_budget = budget // 2
        self.tail_budget = budget - self.head_budget
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_budget - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_budget:
                del self.tail[: len(self.tail) - self.tail_budget]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.truncated:
            return head + tail
        omitted = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {omitted} bytes of output omitted ...]\n{tail}"


def run_capped(
    argv: Sequence[str],
    limits: Limits,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> ExecResult:
    """Run `argv` in its own session; merge stdout/stderr, cap what is kept, enforce wall time.

    On timeout or output flood the whole session is SIGKILLed; bwrap's --die-with-parent and its
    PID namespace then take every process the command started with it.
    """
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            pass_fds=tuple(pass_fds),
        )
    except OSError as exc:
        raise SandboxError(f"cannot start {argv[0]!r}: {exc}") from exc
    if stdin is not None:
        # A thread, so a command that prints a lot before reading its input cannot deadlock us.
        threading.Thread(target=_feed_stdin, args=(proc, stdin), daemon=True).start()
    buffer = _OutputBuffer(limits.output_bytes)
    limit: str | None = None
    fd = proc.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    deadline = start + limits.wall_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            limit = "wall_time"
            break
        if not poller.poll(min(remaining, 0.5) * 1000):
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer.add(chunk)
        if buffer.total > limits.kill_output_bytes:
            limit = "output_size"
            break
    if limit is not None:
        _kill_session(proc)
    try:
        exit_code = proc.wait(timeout=max(1.0, deadline - time.monotonic()) if limit is None else 10)
    except subprocess.TimeoutExpired:
        # stdout closed but the process lingers (it closed its output on purpose): same treatment as a timeout.
        limit = "wall_time"
        _kill_session(proc)
        exit_code = proc.wait(timeout=10)
    proc.stdout.close()
    output = buffer.text()
    if limit is None:
        limit = classify_exit(exit_code, output)
    return ExecResult(
        exit_code=exit_code,
        output=output,
        duration_s=time.monotonic() - start,
        output_total_bytes=buffer.total,
        output_truncated=buffer.truncated,
        limit=limit,
    )


def _feed_stdin(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)
    except BrokenPipeError:
        pass  # the command exited without reading its input; its exit status tells the story
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass


def _kill_session(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
