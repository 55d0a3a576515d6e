"""The trainer's order of device allocations against a ledger that fails the way CUDA does (tests/memory_ledger.py).

Two real ``turnrl train`` runs on the tiny model and the toy env, their device memory kept as a Qwen2.5-1.5B
bf16 run's on one 80 GiB GPU: the first builds the learner, sizes the engine, evaluates, runs one step (the
optimizer's first step creates Adam's states while the engine sleeps, then the engine wakes its weights, takes
the new ones and wakes its KV cache), evaluates and saves; the second resumes from that checkpoint (the load
creates Adam's states while the engine is awake) and runs a second step. An engine sized from the memory free
after the learner was built (the 90% share it once took) runs out at the first KV-cache wake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_with_ledger(run_dir: Path, steps: int) -> list[str]:
    events_file = run_dir.parent / f"events-{steps}.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "memory_ledger.py"),
            str(run_dir),
            str(steps),
            str(events_file),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=900,
    )
    events = [event["event"] for event in json.loads(events_file.read_text())]
    assert done.returncode == 0, f"{events[-6:]}\n{done.stderr[-3000:]}"
    return events


def test_training_and_resume_fit_the_device_in_the_trainers_order(tmp_path):
    run_dir = tmp_path / "run"
    first = run_with_ledger(run_dir, 1)
    built, sized = (
        first.index("+reference_model"),
        next(i for i, e in enumerate(first) if e.startswith("engine sized")),
    )
    assert built < sized  # the learner is built before the engine is sized
    adam = first.index("+optimizer_states")
    # Adam's states appear at step 1's optimizer step, while the engine sleeps ...
    assert first.index("-kv_cache") < adam
    # ... and the engine then wakes its weights, then its KV cache, beside them
    woke_weights = first.index("+engine_weights", adam)
    assert first.index("+kv_cache", woke_weights) > woke_weights

    resumed = run_with_ledger(run_dir, 2)
    adam = resumed.index("+optimizer_states")
    # the resume loads the optimizer's states while the engine is awake (before its first sleep)
    assert resumed.index("+kv_cache") < adam < resumed.index("-kv_cache")
    assert resumed.count("+update_activations") == 1  # one step, the second
