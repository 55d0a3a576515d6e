"""The policy guard and the rollout correction in real training runs on CPU (tiny model, toy env).

Each run is ``turnrl train`` with a probe from ``tests/policy_probes.py`` wrapped around the engine. A probe
that makes the engine serve another policy must stop the run with exit code 3 and one line naming the step,
within two steps of the first rollout it spoils, leaving the checkpoints of the steps before intact; the
untouched run must finish. The correction runs give the engine's sampling log-probs a known shift d, so its
importance ratio is exp(d) on every token.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_e2e import ENV_LIMITS, TINY, VLLM, _env, needs_vllm

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# a model with some structure after SFT, and updates large enough that one step changes the policy
PROBE_RUN = [
    "env.name=toy",
    *ENV_LIMITS["toy"],
    "trainer.sft.steps=40",
    "trainer.sft.episodes=8",
    "rollout.group_size=4",
    "learner.lr=1e-2",
    "trainer.save_every=1",
]
# the first step whose rollout the probe spoils: stale copies start with the second sync (after step 2)
FIRST_SPOILED = {"stale": 3, "base": 2, "double": 2, "prompt": 1}
ENGINES = {"hf": [], "vllm": VLLM}


def _probe_run(tmp_path: Path, probe: str, *overrides: str) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        str(REPO / "tests" / "policy_probes.py"),
        probe,
        "train",
        *TINY,
        *PROBE_RUN,
        f"trainer.output_dir={tmp_path}",
        *overrides,
    ]
    return subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)


def _metrics(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "toy-gigpo" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _checkpoint_steps(tmp_path: Path) -> list[int]:
    folder = tmp_path / "toy-gigpo" / "checkpoints"
    return sorted(int(p.name.split("_")[1]) for p in folder.glob("step_*"))


VLLM_CASE = [pytest.mark.vllm, needs_vllm]
PROBES = [
    *(pytest.param(probe, "hf", id=f"{probe}-hf") for probe in sorted(FIRST_SPOILED)),
    # vLLM: the two probes whose path differs by engine, the in-place weight load and the prompt's tokens; the
    # adapter probes change what the learner sends, which reaches vLLM through the same load as the stale copy
    pytest.param("stale", "vllm", id="stale-vllm", marks=VLLM_CASE),
    pytest.param("prompt", "vllm", id="prompt-vllm", marks=VLLM_CASE),
]


@pytest.mark.parametrize(("probe", "engine"), PROBES)
def test_a_probe_stops_the_run_with_one_line(tmp_path, probe, engine):
    result = _probe_run(tmp_path, probe, "trainer.total_steps=4", *ENGINES[engine])
    assert result.returncode == 3, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("turnrl: policy guard: step "), result.stderr[-3000:]
    step = int(line.split("step ")[1].split(":")[0])
    assert FIRST_SPOILED[probe] <= step <= FIRST_SPOILED[probe] + 1, line
    assert "trainer.max_policy_gap" in line and "weight sync" in line and "adapter" in line
    assert "Traceback" not in result.stderr
    # nothing of the bad step was written: its metrics, its checkpoint; the ones before are complete
    assert max(m.get("step", 0) for m in _metrics(tmp_path)) == step - 1
    assert _checkpoint_steps(tmp_path)[-1:] == ([step - 1] if step > 1 else [])
    print(f"probe {probe} ({engine}): {line}")


@pytest.mark.parametrize("engine", ["hf", pytest.param("vllm", marks=VLLM_CASE)])
def test_an_untouched_run_never_trips_the_guard(tmp_path, engine):
    result = _probe_run(tmp_path, "none", "trainer.total_steps=4", *ENGINES[engine])
    assert result.returncode == 0, result.stderr[-3000:]
    gaps = [m["rollout/policy_gap"] for m in _metrics(tmp_path) if "rollout/policy_gap" in m]
    assert len(gaps) == 4 and max(gaps) < 1e-5, gaps
    print(f"untouched ({engine}): policy gaps {gaps}")


def test_rollout_correction_weights_follow_a_known_engine_shift(tmp_path):
    """With the engine's sampling log-probs d below the learner's, rho = exp(d) on every token: truncation
    keeps 1.5 and caps 3 at 2 (the loss's use of the weights: tests/test_learner_guard.py)."""
    one_step = ["trainer.total_steps=1"]
    truncate = ["learner.rollout_correction.mode=token_truncate", "learner.rollout_correction.cap=2"]
    plain = _probe_run(tmp_path / "plain", f"shift={math.log(1.5)}", *one_step)
    below_cap = _probe_run(tmp_path / "below", f"shift={math.log(1.5)}", *one_step, *truncate)
    above_cap = _probe_run(tmp_path / "above", f"shift={math.log(3.0)}", *one_step, *truncate)
    for result in (plain, below_cap, above_cap):
        assert result.returncode == 0, result.stderr[-3000:]
    plain_step, below, above = (_metrics(tmp_path / name)[1] for name in ("plain", "below", "above"))
    assert "rollout/is_weight_mean" not in plain_step  # mode none: no correction
    assert below["rollout/is_weight_mean"] == pytest.approx(1.5, abs=1e-4)
    assert below["rollout/is_truncated_frac"] == 0.0 and below["rollout/masked_frac"] == 0.0
    assert above["rollout/is_weight_mean"] == pytest.approx(2.0, abs=1e-6)
    assert above["rollout/is_truncated_frac"] == 1.0
    assert above["rollout/masked_frac"] == 0.0
    # the shift shows in the existing engine-vs-old gap metric too, and the guard (full distribution) passes
    assert below["rollout/logprob_diff_mean"] == pytest.approx(math.log(1.5), abs=1e-4)
    assert below["rollout/policy_gap"] < 1e-5
