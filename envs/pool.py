"""EnvPool: many env slots hosted by a few worker processes, stepped in batches.

Why processes: env steps are CPU-bound Python (TextWorld planners, search, sandboxed test
runs) and some envs crash or hang; a worker process isolates both from the trainer. Why
``spawn``: the parent holds torch/vLLM state (threads, CUDA) that ``fork`` would copy unsafely.
Spawned workers re-import the parent's ``__main__`` when it is a script (not for ``python -m
pkg``): such scripts need an ``if __name__ == "__main__":`` guard, and heavy imports (torch)
belong inside it or every worker pays for them.

Slot ``s`` lives in worker ``s % num_workers``. A batched call first sends every worker its
share, then gathers, so workers run in parallel. Each worker streams one message per slot, so
the step timeout applies per env step and a hang is pinned on the slot that caused it.

Failure policy (the caller never sees an exception from an env):
- an exception inside ``env.reset``/``env.step`` -> that slot's result carries
  ``info["env_error"]`` (with the traceback); the worker keeps running;
- a worker that dies (EOF, non-zero exit, SIGKILL) or exceeds the step timeout is killed and a
  replacement starts at once (building its envs while the caller does other work); every slot
  it hosted loses its episode: the slots still pending in the call, and later steps on those
  slots until they are reset, return ``truncated=True, reward=0.0, info["env_error"]``.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
import traceback
import weakref
from collections.abc import Sequence
from multiprocessing.reduction import ForkingPickler
from typing import Any

logger = logging.getLogger(__name__)

Action = str | dict

_PARENT_POLL_S = 1.0
_CLOSE_GRACE_S = 5.0


@dataclasses.dataclass
class StepResult:
    """One slot's outcome of ``EnvPool.step`` (gymnasium's 5-tuple, named)."""

    obs: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


def error_info(message: str) -> dict[str, Any]:
    """Info dict for a slot whose env failed; ``won`` is included so episode summaries need no special case."""
    return {"env_error": message, "won": False}


# ----------------------------------------------------------------------------- worker side


def _exit_when_orphaned(parent_pid: int) -> None:
    """Kill this worker if the parent dies without closing the pool (e.g. SIGKILL), even mid-hang."""
    while True:
        time.sleep(_PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def _make_env(env_id: str, env_kwargs: dict, entry_point: str | None) -> Any:
    import gymnasium

    import envs  # noqa: F401  (registers the turnrl ids inside this fresh interpreter)

    if entry_point is not None and env_id not in gymnasium.registry:
        # an env registered in the parent after import (a plugin, a test): a spawned worker has not seen it
        gymnasium.register(id=env_id, entry_point=entry_point)
    return gymnasium.make(env_id, disable_env_checker=True, **env_kwargs)


def _send_slot_result(conn: multiprocessing.connection.Connection, slot: int, payload: Any) -> None:
    try:
        conn.send(("ok", slot, payload))
    except OSError:  # the pipe itself failed: the parent is gone
        raise
    except Exception as exc:  # pickling failed before anything was written, so the pipe is intact
        conn.send(("error", slot, f"env result could not be sent to the trainer: {exc!r}"))


def _worker_main(
    conn: multiprocessing.connection.Connection,
    env_id: str,
    env_kwargs: dict,
    entry_point: str | None,
    slots: list[int],
    parent_pid: int,
) -> None:
    import signal

    # Ctrl-C belongs to the trainer, which closes the pool; a worker traceback per process is noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    try:
        env_by_slot = {slot: _make_env(env_id, env_kwargs, entry_point) for slot in slots}
        first_env = env_by_slot[slots[0]].unwrapped
        task_ids = list(first_env.task_ids) if hasattr(first_env, "task_ids") else None
    except BaseException:
        conn.send(("init_error", traceback.format_exc()))
        return
    conn.send(("ready", task_ids))

    while True:
        try:
            command, args = conn.recv()
        except EOFError:  # the parent closed the pool or died
            break
        if command == "close":
            break
        for item in args:
            slot = item[0]
            try:
                env = env_by_slot[slot]
                if command == "reset":
                    _, task_id, seed = item
                    options = {} if task_id is None else {"task_id": task_id}
                    payload = env.reset(seed=seed, options=options)
                else:
                    _, action = item
                    obs, reward, terminated, truncated, info = env.step(action)
                    payload = (obs, float(reward), bool(terminated), bool(truncated), info)
            except Exception:
                conn.send(("error", slot, f"{command} raised in the env:\n{traceback.format_exc()}"))
                continue
            _send_slot_result(conn, slot, payload)

    for env in env_by_slot.values():
        try:
            env.close()
        except Exception:
            traceback.print_exc()


# ----------------------------------------------------------------------------- parent side


@dataclasses.dataclass
class _Worker:
    index: int
    slots: list[int]
    process: Any = None
    conn: multiprocessing.connection.Connection | None = None
    ready: bool = False


class _SlotState:
    IDLE = "idle"  # never reset: stepping it is a caller bug
    LIVE = "live"
    LOST = "lost"  # its episode ended by an env error or a worker restart


def _stop_workers(workers: list[_Worker], grace_s: float = _CLOSE_GRACE_S) -> None:
    """Ask every worker to exit (when ``grace_s`` > 0), then kill the ones that do not. Safe to call repeatedly."""
    if grace_s > 0:
        for worker in workers:
            if worker.conn is not None and worker.process is not None and worker.process.is_alive():
                try:
                    worker.conn.send(("close", None))
                except OSError:
                    pass  # already gone; the kill below handles it
    deadline = time.monotonic() + grace_s
    for worker in workers:
        if worker.process is not None:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.process.close()
            worker.process = None
        if worker.conn is not None:
            worker.conn.close()
            worker.conn = None
        worker.ready = False


class EnvPool:
    """``num_envs`` slots of ``env_id`` spread over ``num_workers`` processes.

    ``start_timeout_s`` bounds how long building a worker's envs may take (ALFWorld loads games).
    ``num_workers`` is capped at ``num_envs`` so no worker sits empty. ``entry_point`` (``module:Class``) lets
    workers build an env that was registered only in this process.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict | None = None,
        num_envs: int = 1,
        num_workers: int = 1,
        step_timeout_s: float = 60.0,
        start_timeout_s: float = 600.0,
        entry_point: str | None = None,
    ):
        if not isinstance(env_id, str) or not env_id:
            raise ValueError(f"env_id must be a non-empty string, got {env_id!r}")
        if num_envs < 1 or num_workers < 1:
            raise ValueError(f"num_envs and num_workers must be >= 1, got {num_envs} and {num_workers}")
        if step_timeout_s <= 0 or start_timeout_s <= 0:
            raise ValueError(f"timeouts must be > 0, got step {step_timeout_s} and start {start_timeout_s}")
        self.env_id = env_id
        self.entry_point = entry_point
        self.env_kwargs = dict(env_kwargs or {})
        self.num_envs = num_envs
        self.num_workers = min(num_workers, num_envs)
        self.step_timeout_s = step_timeout_s
        self.start_timeout_s = start_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._slot_state = [_SlotState.IDLE] * num_envs
        self._workers = [
            _Worker(index=i, slots=list(range(i, num_envs, self.num_workers)))
            for i in range(self.num_workers)
        ]
        self._closed = False
        # Runs on close(), garbage collection and interpreter exit; holds no reference to self.
        self._finalizer = weakref.finalize(self, _stop_workers, self._workers)

        for worker in self._workers:
            self._launch(worker)
        init_errors = {}
        worker_task_ids = []
        for worker in self._workers:
            ok, detail = self._await_ready(worker)
            if ok:
                worker_task_ids.append(detail)
            else:
                init_errors[worker.index] = detail
        if init_errors:
            self.close()
            index, detail = next(iter(init_errors.items()))
            raise RuntimeError(
                f"EnvPool could not build {env_id!r} with {self.env_kwargs!r} (worker {index}):\n{detail}"
            )
        if any(ids != worker_task_ids[0] for ids in worker_task_ids):
            self.close()
            raise RuntimeError(
                f"{env_id!r} reports different task_ids in different workers; "
                "its task split must be deterministic for groups to share tasks"
            )
        self._task_ids = worker_task_ids[0]

    # ------------------------------------------------------------------ public API

    @property
    def task_ids(self) -> list:
        """The env's task ids for its configured split (reported by worker 0 at start)."""
        if self._task_ids is None:
            raise AttributeError(f"{self.env_id!r} does not expose task_ids")
        return list(self._task_ids)

    @property
    def worker_pids(self) -> list[int | None]:
        """Current worker process ids (for tests and debugging)."""
        return [w.process.pid if w.process is not None else None for w in self._workers]

    def reset(
        self, slots: Sequence[int], task_ids: Sequence, seeds: Sequence[int | None] | None = None
    ) -> list[tuple[str, dict]]:
        """Start a new episode in each slot; ``task_ids[i]=None`` lets the env choose from its seed."""
        self._check_open()
        slots = self._check_slots(slots)
        if len(task_ids) != len(slots):
            raise ValueError(f"reset got {len(slots)} slots but {len(task_ids)} task_ids")
        if seeds is None:
            seeds = [None] * len(slots)
        elif len(seeds) != len(slots):
            raise ValueError(f"reset got {len(slots)} slots but {len(seeds)} seeds")
        items = {slot: (slot, task_id, seed) for slot, task_id, seed in zip(slots, task_ids, seeds)}
        outcomes = self._run("reset", items)
        results = []
        for slot in slots:
            status, payload = outcomes[slot]
            if status == "ok":
                self._slot_state[slot] = _SlotState.LIVE
                results.append(payload)
            else:
                self._slot_state[slot] = _SlotState.LOST
                results.append(("", error_info(payload)))
        return results

    def step(self, slots: Sequence[int], actions: Sequence[Action]) -> list[StepResult]:
        """Apply one action per slot; failed slots come back truncated with ``info["env_error"]``."""
        self._check_open()
        slots = self._check_slots(slots)
        if len(actions) != len(slots):
            raise ValueError(f"step got {len(slots)} slots but {len(actions)} actions")
        never_reset = [s for s in slots if self._slot_state[s] == _SlotState.IDLE]
        if never_reset:
            raise RuntimeError(f"step called on slots {never_reset} that were never reset")
        items = {
            slot: (slot, action)
            for slot, action in zip(slots, actions)
            if self._slot_state[slot] == _SlotState.LIVE
        }
        outcomes = self._run("step", items)
        results = []
        for slot in slots:
            status, payload = outcomes.get(
                slot,
                (
                    "error",
                    "the episode in this slot was lost to an earlier env "
                    "error or worker restart; reset the slot",
                ),
            )
            if status == "ok":
                results.append(StepResult(*payload))
            else:
                self._slot_state[slot] = _SlotState.LOST
                results.append(StepResult("", 0.0, False, True, error_info(payload)))
        return results

    def close(self) -> None:
        """Stop every worker (graceful, then SIGKILL after a few seconds). Idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # weakref.finalize already covers GC and exit; __del__ stops workers at the earliest moment.
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("EnvPool is closed")

    def _check_slots(self, slots: Sequence[int]) -> list[int]:
        slots = list(slots)
        bad = [
            s for s in slots if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < self.num_envs
        ]
        if bad:
            raise ValueError(f"slots must be ints in [0, {self.num_envs}), got {bad}")
        if len(set(slots)) != len(slots):
            raise ValueError(f"slots must be unique within one call, got {slots}")
        return slots

    def _launch(self, worker: _Worker) -> None:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, self.env_id, self.env_kwargs, self.entry_point, worker.slots, os.getpid()),
            name=f"EnvPool-{self.env_id}-w{worker.index}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # keep only the worker's copy, so its death gives us EOF
        worker.process, worker.conn, worker.ready = process, parent_conn, False

    def _await_ready(self, worker: _Worker) -> tuple[bool, Any]:
        """Wait for a launched worker to finish building its envs: (True, task_ids) or (False, reason)."""
        assert worker.conn is not None and worker.process is not None
        ready = multiprocessing.connection.wait([worker.conn, worker.process.sentinel], self.start_timeout_s)
        if worker.conn in ready:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
            if message is not None and message[0] == "ready":
                worker.ready = True
                return True, message[1]
            if message is not None and message[0] == "init_error":
                return False, message[1]
        if ready:
            worker.process.join(1.0)
            return False, f"worker exited while building envs (exit code {worker.process.exitcode})"
        return False, f"building envs took longer than start_timeout_s={self.start_timeout_s}"

    def _replace(self, worker: _Worker, reason: str) -> None:
        """Kill a failed worker, lose the episodes it hosted, and start its successor (not awaited)."""
        logger.warning(
            "EnvPool %s: restarting worker %d (slots %s): %s", self.env_id, worker.index, worker.slots, reason
        )
        _stop_workers_now([worker])
        for slot in worker.slots:
            if self._slot_state[slot] == _SlotState.LIVE:
                self._slot_state[slot] = _SlotState.LOST
        self._launch(worker)

    def _ensure_ready(self, worker: _Worker) -> str | None:
        """Make a (re)started worker usable; returns an error message if it cannot be."""
        if worker.ready:
            return None
        ok, detail = self._await_ready(worker)
        if ok:
            return None
        first_line = detail.strip().splitlines()[-1] if detail.strip() else detail
        self._replace(worker, f"replacement failed to start: {first_line}")
        return f"env worker {worker.index} could not be restarted:\n{detail}"

    def _run(self, command: str, items: dict[int, tuple]) -> dict[int, tuple[str, Any]]:
        """Send ``command`` for every slot in ``items`` to its worker, gather per-slot (status, payload)."""
        outcomes: dict[int, tuple[str, Any]] = {}
        pending: dict[int, list[int]] = {}
        messages = {}
        for worker in self._workers:
            mine = [slot for slot in worker.slots if slot in items]
            if mine:
                messages[worker.index] = (mine, _serialize(command, [items[slot] for slot in mine]))
        completed = False
        try:
            for index, (mine, message) in messages.items():
                self._send(self._workers[index], command, mine, message, pending, outcomes)
            self._gather(command, pending, outcomes)
            completed = True
        finally:
            if not completed:
                # Interrupted mid-call (Ctrl-C, a signal): unread replies would be mistaken for the next
                # call's, and the caller never saw this call's results, so every slot in it is lost.
                for index in [i for i, slots in pending.items() if slots]:
                    self._replace(self._workers[index], f"{command} was interrupted in the trainer")
                for slot in items:
                    if self._slot_state[slot] == _SlotState.LIVE:
                        self._slot_state[slot] = _SlotState.LOST
        for slot, (status, payload) in outcomes.items():
            if status == "error":
                logger.warning(
                    "EnvPool %s: %s on slot %d failed: %s",
                    self.env_id,
                    command,
                    slot,
                    payload.strip().splitlines()[-1],
                )
        return outcomes

    def _send(
        self,
        worker: _Worker,
        command: str,
        mine: list[int],
        message: bytes,
        pending: dict[int, list[int]],
        outcomes: dict[int, tuple[str, Any]],
    ) -> None:
        error = self._ensure_ready(worker)
        if error is not None:
            outcomes.update({slot: ("error", error) for slot in mine})
            return
        try:
            worker.conn.send_bytes(message)
        except OSError as exc:  # the worker died between calls
            message = f"env worker {worker.index} was dead before {command}: {exc!r}"
            outcomes.update({slot: ("error", message) for slot in mine})
            self._replace(worker, message)
            return
        pending[worker.index] = mine

    def _gather(
        self, command: str, pending: dict[int, list[int]], outcomes: dict[int, tuple[str, Any]]
    ) -> None:
        deadline = {index: time.monotonic() + self.step_timeout_s for index in pending}
        while pending:
            waitables = {}
            for index in pending:
                worker = self._workers[index]
                waitables[worker.conn] = index
                waitables[worker.process.sentinel] = index
            timeout = max(0.0, min(deadline.values()) - time.monotonic())
            ready = multiprocessing.connection.wait(list(waitables), timeout)
            failed: dict[int, str] = {}
            for index in sorted({waitables[r] for r in ready}):
                worker = self._workers[index]
                try:
                    while worker.conn.poll() and pending[index]:
                        status, slot, payload = worker.conn.recv()
                        outcomes[slot] = (status, payload)
                        pending[index].remove(slot)
                        deadline[index] = time.monotonic() + self.step_timeout_s
                except (EOFError, OSError):
                    pass  # the process is gone; reported below with its exit code
                if pending[index] and not worker.process.is_alive():
                    worker.process.join(1.0)
                    failed[index] = (
                        f"env worker {worker.index} died during {command} (exit code {worker.process.exitcode})"
                    )
            now = time.monotonic()
            for index in pending:
                if index not in failed and pending[index] and now >= deadline[index]:
                    failed[index] = (
                        f"env {command} on slot {pending[index][0]} exceeded "
                        f"step_timeout_s={self.step_timeout_s}"
                    )
            for index, message in failed.items():
                for slot in pending[index]:
                    outcomes[slot] = ("error", message)
                pending[index] = []
                self._replace(self._workers[index], message)
            for index in [i for i, slots in pending.items() if not slots]:
                del pending[index], deadline[index]


def _serialize(command: str, items: list[tuple]) -> bytes:
    """Pickle a command up front, so an unpicklable argument fails before any worker was sent anything."""
    try:
        return bytes(ForkingPickler.dumps((command, items)))
    except Exception as exc:
        raise ValueError(
            f"{command} arguments must be picklable (str or dict of plain values): {exc!r}"
        ) from exc


def _stop_workers_now(workers: list[_Worker]) -> None:
    """Kill without the graceful close: used on workers that already failed."""
    _stop_workers(workers, grace_s=0.0)
