"""The GPU path's decisions, checked on CPU: collectives only through trainer.dist, the backend's device, the
DeepSpeed config a GPU run gets, EPO's aggregation, the streamed Hugging Face export, and the world of one a
child process inherits."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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
    assert tdist.masked_mean(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 1.0])) == 3.0  # (2*6)/(2*2)


def _settings(**kwargs):
    from trainer.config import LearnerConfig

    return LearnerConfig(**kwargs)


def test_ds_config_of_a_gpu_run():
    from trainer.learner.deepspeed_init import build_ds_config

    gpu = build_ds_config(_settings(zero_stage=2), torch.bfloat16, on_gpu=True)
    assert gpu["zero_optimization"]["overlap_comm"] is True
    assert gpu["data_types"]["grad_accum_dtype"] == "fp32"  # bf16 gradients accumulate in fp32
    assert gpu["bf16"]["enabled"]
    cpu = build_ds_config(_settings(zero_stage=2), torch.float32, on_gpu=False)
    assert cpu["zero_optimization"]["overlap_comm"] is False and "data_types" not in cpu
    stage1 = build_ds_config(_settings(zero_stage=1), torch.bfloat16, on_gpu=True)
    assert stage1["zero_optimization"]["overlap_comm"] is False  # nothing to overlap below stage 2
    offload = build_ds_config(_settings(zero_stage=3, offload_params=True), torch.bfloat16, on_gpu=True)
    assert offload["zero_optimization"]["offload_param"]["pin_memory"] is True


def test_effective_zero_stage():
    from trainer.learner.deepspeed_init import effective_zero_stage

    assert effective_zero_stage(2, 1, torch.bfloat16, offload_optimizer=False) == 1  # one GPU: no ZeRO-2 tax
    assert effective_zero_stage(2, 8, torch.bfloat16, offload_optimizer=False) == 2
    assert effective_zero_stage(2, 1, torch.bfloat16, offload_optimizer=True) == 2  # CPU Adam needs ZeRO-2
    assert effective_zero_stage(0, 8, torch.bfloat16, offload_optimizer=False) == 1  # fp32 accumulation
    assert effective_zero_stage(0, 1, torch.float32, offload_optimizer=False) == 0
    assert effective_zero_stage(3, 1, torch.bfloat16, offload_optimizer=False) == 3


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum-norm"])
def test_epo_term_aggregates_with_the_learners_mode(mode):
    """The learner rescales an extra loss by ``loss_agg_mode``'s share of the mini-batch; EPO's term must be
    aggregated with that same mode, or micro-batches of different sizes are weighed wrongly."""
    from algorithms import EPOState
    from trainer.config import load_config
    from trainer.learner.update import aggregation_units
    from trainer.trainer import epo_loss_fn

    config = load_config(None, ["algorithm.name=epo", f"learner.loss_agg_mode={mode}"])
    loss_fn = epo_loss_fn(config, EPOState(total_steps=10))
    torch.manual_seed(0)
    entropy = torch.rand(6, 5)
    mask = (torch.rand(6, 5) > 0.3).float()
    mask[:, 0] = 1
    whole, _ = loss_fn(entropy, mask)
    # the learner's recombination of two micro-batches equals the whole-batch value
    lengths = mask.sum(1).int().tolist()
    total = aggregation_units(mode, lengths) if mode != "seq-mean-token-sum-norm" else 1.0
    parts = [(slice(0, 2)), (slice(2, 6))]
    combined = sum(
        loss_fn(entropy[p], mask[p])[0]
        * (aggregation_units(mode, lengths[p]) / total if mode != "seq-mean-token-sum-norm" else 1.0)
        for p in parts
    )
    assert torch.allclose(combined, whole, atol=1e-6)


def test_streamed_export_writes_shards_that_transformers_loads(tmp_path):
    from transformers import AutoModelForCausalLM

    from trainer.learner.export import INDEX_FILE, write_safetensors_shards
    from trainer.tiny_model import build_tiny_model, default_corpus

    model_dir = build_tiny_model(tmp_path / "tiny", default_corpus())
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    out = tmp_path / "export"
    weights = list(
        model.named_parameters(remove_duplicate=False)
    )  # the tied head comes twice, as in training
    largest = max(p.numel() * 4 for _, p in weights)
    weight_map = write_safetensors_shards(
        weights, out, shard_bytes=largest, keep={n for n, _ in model.named_parameters()}
    )
    assert (out / INDEX_FILE).is_file() and len(set(weight_map.values())) > 2
    assert "lm_head.weight" not in weight_map  # tied: stored once
    model.config.save_pretrained(out)
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_engine_settings_reach_the_vllm_engine(tmp_path):
    from rollout.vllm_engine import VLLMEngine
    from trainer.config import load_config
    from trainer.setup_parts import engine_kwargs

    config = load_config(
        None,
        [
            "rollout.engine=vllm",
            "rollout.vllm.tensor_parallel_size=2",
            "rollout.vllm.engine_kwargs={quantization: fp8}",
            "rollout.vllm.sync_chunk_mib=64",
        ],
    )
    kwargs = engine_kwargs(config)
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["llm_kwargs"] == {"quantization": "fp8"}
    assert kwargs["sync_chunk_mib"] == 64 and "gpu_memory_utilization" not in kwargs  # auto: the memory plan
    # one process cannot hold a tensor-parallel group here: refused before vLLM is even imported
    with pytest.raises(ValueError, match="one rank per GPU"):
        VLLMEngine(str(tmp_path), tensor_parallel_size=2)


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


def test_attention_kernel_and_micro_batch_layout_come_from_the_config():
    from trainer.config import load_config
    from trainer.setup_parts import learner_setup

    def setup(*overrides: str):
        return learner_setup(load_config(None, list(overrides)), "unused", total_steps=10)

    assert not setup().packed_layout  # sdpa: left-padded rows
    flash = setup("learner.attn_implementation=flash_attention_2")
    assert flash.packed_layout and flash.learner.attn_implementation == "flash_attention_2"
    assert not setup(
        "learner.attn_implementation=flash_attention_2", "learner.micro_batch_layout=padded"
    ).packed_layout


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
