"""The process group and every collective the project makes.

The quickstart runs as a plain ``python`` process, yet DeepSpeed needs a process group even for one rank. So
``init_distributed`` reads the launcher's environment when there is one and otherwise makes a world of one on
a free local port. The backend follows the hardware: NCCL with GPUs, gloo on CPU.

Collectives go through the helpers below and nowhere else, because the two backends differ in a way CPU tests
cannot see: gloo reduces CPU tensors, NCCL only CUDA tensors of the current device. ``backend_device`` is
where a collective's tensor must live; the helpers move tensors there and back, so callers hand in CPU
bookkeeping tensors on either backend. Object collectives (pickled) work on both.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger("turnrl")

_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_WORLD_OF_ONE_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# "<pid>:<port>" of the process that made a world of one; its children inherit the variables but not the world.
WORLD_OF_ONE_MARK = "TURNRL_WORLD_OF_ONE"


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the world."""

    rank: int
    world_size: int
    local_rank: int
    backend: str


def find_free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it), for a single-process world."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


DEFAULT_TIMEOUT_S = 4 * 3600.0


def init_distributed(backend: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join (or create) the default process group; idempotent.

    Without launcher variables this sets up a world of one on 127.0.0.1 and a free port, so a bare
    ``python train.py`` works. Partial launcher variables are an error: guessing the rest would hang.
    ``timeout_s`` bounds how long a rank waits in a collective for the others, e.g. for the slowest rank's
    rollout at the end of a step (``trainer.collective_timeout_s``).
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        _forget_inherited_world_of_one()
        present = [name for name in _LAUNCHER_VARS if name in os.environ]
        if not present:
            port = find_free_port()
            os.environ.update(
                {
                    "RANK": "0",
                    "LOCAL_RANK": "0",
                    "WORLD_SIZE": "1",
                    "LOCAL_WORLD_SIZE": "1",
                    "MASTER_ADDR": "127.0.0.1",
                    "MASTER_PORT": str(port),
                    WORLD_OF_ONE_MARK: f"{os.getpid()}:{port}",
                }
            )
        elif len(present) != len(_LAUNCHER_VARS):
            missing = sorted(set(_LAUNCHER_VARS) - set(present))
            raise RuntimeError(
                f"incomplete launcher environment: {', '.join(missing)} unset (set all of {_LAUNCHER_VARS})"
            )
        backend = backend or default_backend()
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        import deepspeed

        if backend == "gloo" and os.environ.get("TURNRL_DS_SHM_COMM", "0") != "1":
            _disable_shm_comm()
        deepspeed.init_distributed(dist_backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    elif dist.get_world_size() == 1:
        # A world of one someone else made without launcher variables (an in-process vLLM engine built first does):
        # DeepSpeed still reads LOCAL_RANK, and in a world of one it can only be 0.
        os.environ.setdefault("LOCAL_RANK", "0")
    info = DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        backend=str(dist.get_backend()),
    )
    return info


def _forget_inherited_world_of_one() -> None:
    """Drop launcher variables that a parent's world of one left in this process's environment.

    A world of one has to live in ``os.environ`` (DeepSpeed and vLLM read it there), so every child process
    started afterwards (a ``turnrl train`` from a test or from scripts/compare.py) inherits variables that name
    the parent's port: joining that rendezvous fails with EADDRINUSE. A real launcher sets its own port, which
    the mark does not name, so its variables are kept.
    """
    mark = os.environ.get(WORLD_OF_ONE_MARK)
    if mark is None:
        return
    pid, _, port = mark.partition(":")
    if pid != str(os.getpid()) and os.environ.get("MASTER_PORT") == port:
        for name in (*_WORLD_OF_ONE_VARS, WORLD_OF_ONE_MARK):
            os.environ.pop(name, None)


def _disable_shm_comm() -> None:
    """Stop DeepSpeed from JIT-compiling its shared-memory CPU all-reduce at init (60-120 s on a fresh
    machine, and a compiler dependency). It only speeds up large CPU collectives, which the CPU paths (tests,
    quickstart) do not have; ``TURNRL_DS_SHM_COMM=1`` turns it back on."""
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def shutdown_distributed() -> None:
    """Leave the process group on every rank together, then destroy it.

    A rank that exits with its gloo group alive can abort in the group's C++ destructor ("terminate called
    without an active exception", SIGABRT) while its peers are still working, which fails the whole job
    after it succeeded. The barrier keeps an early rank from tearing down its connections under the others.
    """
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    barrier()
    dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size), (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def backend_device() -> torch.device:
    """Where the default group's collectives need their tensors: the current GPU for NCCL, else the CPU."""
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _multi_rank() -> bool:
    import torch.distributed as dist

    return dist.is_initialized() and dist.get_world_size() > 1


def all_reduce(values: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """Reduce a small tensor over all ranks in place (a no-op in a world of one); returns it for chaining.

    The tensor is moved to ``backend_device()`` for the collective and copied back, so callers can pass CPU
    bookkeeping tensors on any backend.
    """
    import torch.distributed as dist

    ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
    if op not in ops:
        raise ValueError(f"unknown reduce op {op!r}; use one of {sorted(ops)}")
    if not _multi_rank():
        return values
    work = values.to(backend_device())
    dist.all_reduce(work, op=ops[op])
    values.copy_(work.to(values.device))
    return values


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in a world of one."""
    import torch.distributed as dist

    if not _multi_rank():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    import torch.distributed as dist

    if not _multi_rank():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


class PeerGroup:
    """Consecutive ranks that serve one tensor-parallel vLLM engine (vLLM's own layout under
    ``external_launcher``: ranks 0..k-1, k..2k-1, ...), with an object all-gather among them.

    The groups are gloo on every backend: they carry pickled prompts, which live on the CPU, and NCCL would copy
    each one to the GPU and back. ``timeout_s`` is how long a rank waits in ``gather`` for its peers, who may be
    stepping slow environments in between (``trainer.collective_timeout_s``); without it a group would get the
    backend's default (10 minutes for NCCL, 30 for gloo) whatever the trainer was told.
    """

    def __init__(self, size: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import torch.distributed as dist

        rank, world = rank_and_world()
        if size < 1 or world % size:
            raise ValueError(f"a group of {size} ranks does not divide the world of {world}")
        self.size = size
        self.rank = rank % size
        timeout = datetime.timedelta(seconds=timeout_s)
        # every rank must create every group, in the same order
        groups = [
            dist.new_group(list(range(start, start + size)), timeout=timeout, backend="gloo")
            for start in range(0, world, size)
        ]
        self._group = groups[rank // size]

    def gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj, group=self._group)
        return out


def global_masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean of ``values`` where ``mask`` is set, over the rows of every rank (each token weighs the same)."""
    total = torch.stack([(values * mask).sum(), mask.sum()]).double()
    all_reduce(total)
    return float(total[0] / total[1].clamp(min=1))
