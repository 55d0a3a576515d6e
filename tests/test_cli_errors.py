"""Bad input fails before any work starts: every bad argument a user can give the CLI ends in one line on
stderr and exit code 2, with no traceback and without importing torch, deepspeed, vllm or transformers.

Each case runs ``trainer.cli.main`` in a fresh interpreter (as ``turnrl`` / ``python -m trainer`` do) and then
reports which heavy modules that process imported, the way test_config.py's no-torch check asks a fresh one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer.checkpoint_layout import MARKER, complete_checkpoints, model_folder, why_incomplete

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "deepspeed", "vllm", "transformers")
RUNNER = f"""
import sys
from trainer.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse errors leave through sys.exit
    code = exc.code
heavy = [name for name in {HEAVY!r} if name in sys.modules]
print("heavy modules:", ",".join(heavy) or "none")
sys.exit(code)
"""


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Bad config files, a run folder with one complete and one half-written checkpoint, and other leftovers."""
    root = tmp_path_factory.mktemp("bad_input")
    (root / "unclosed.yaml").write_text("algorithm:\n  name: [grpo\n")
    (root / "duplicate.yaml").write_text("algorithm:\n  name: grpo\n  name: gigpo\n")
    (root / "list.yaml").write_text("- model\n- env\n")
    (root / "bad_base.yaml").write_text("base: 3\n")
    (root / "missing_base.yaml").write_text("base: nowhere.yaml\n")
    (root / "unknown_key.yaml").write_text("algorithm:\n  gama: 0.9\n")
    (root / "binary.yaml").write_bytes(b"\xff\xfe\x00\x81")
    (root / "a_file").write_text("not a folder\n")
    (root / "empty_folder").mkdir()
    (root / "short_model").mkdir()  # a model with positions for 1024 tokens
    (root / "short_model" / "config.json").write_text('{"max_position_embeddings": 1024}')
    good = root / "run" / "checkpoints" / "step_00000002"
    (good / "hf").mkdir(parents=True)
    (good / "hf" / "config.json").write_text("{}")
    (good / MARKER).write_text("{}")
    half = root / "run" / "checkpoints" / ".tmp-step_00000004"  # killed while saving: no marker
    (half / "hf").mkdir(parents=True)
    (half / "hf" / "config.json").write_text("{}")
    return root


# (id, argv with {d} for the files folder, what the one line must name)
CASES = [
    # the two of the issue
    (
        "yaml-syntax",
        ["train", "--config", "{d}/unclosed.yaml"],
        ["unclosed.yaml", "line 3, column 1", "line 2, column 9"],
    ),
    (
        "resume-missing",
        ["train", "trainer.resume=/no/such/checkpoint"],
        ["trainer.resume", "/no/such/checkpoint", "COMPLETE", "deepspeed/", "hf/"],
    ),
    # one per validated section
    ("model", ["train", "model.dtype=float16"], ["model.dtype"]),
    ("model.tiny", ["train", "model.tiny.hidden_size=4"], ["model.tiny.hidden_size"]),
    ("rollout", ["train", "rollout.top_p=1.5"], ["rollout.top_p"]),
    (
        "rollout-branching-env",
        ["train", "env.name=swe", "rollout.branch_at_failure=true"],
        ["rollout.branch_at_failure", "'swe'", "replay"],
    ),
    (
        "rollout.vllm",
        ["train", "rollout.vllm.gpu_memory_utilization=0"],
        ["rollout.vllm.gpu_memory_utilization"],
    ),
    ("env", ["train", "env.name=alfwrld"], ["env.name", "did you mean 'alfworld'"]),
    ("env.alfworld", ["train", "env.alfworld.preset=huge"], ["env.alfworld.preset"]),
    ("env.webshop", ["train", "env.webshop.reward_mode=points"], ["env.webshop.reward_mode"]),
    ("env.swe", ["train", "env.swe.backend=podman"], ["env.swe.backend"]),
    ("env.toy", ["train", "env.toy.n_tasks=0"], ["env.toy.n_tasks"]),
    ("algorithm", ["train", "algorithm.gamma=1.5"], ["algorithm.gamma"]),
    ("algorithm.epo", ["train", "algorithm.epo.smoothing=soft"], ["algorithm.epo.smoothing"]),
    ("algorithm.aem", ["train", "algorithm.aem.uncertainty=variance"], ["algorithm.aem.uncertainty"]),
    ("algorithm.kl", ["train", "algorithm.kl.coef=-1"], ["algorithm.kl.coef"]),
    ("learner", ["train", "learner.lr=0"], ["learner.lr"]),
    ("trainer", ["train", "trainer.total_steps=-1"], ["trainer.total_steps"]),
    ("trainer.sft", ["train", "trainer.sft.noise=2"], ["trainer.sft.noise"]),
    ("logging", ["train", "logging.sample_table_every=-1"], ["logging.sample_table_every"]),
    ("logging.wandb", ["train", "logging.wandb.mode=cloud"], ["logging.wandb.mode"]),
    # keys, types and override syntax
    ("unknown-key", ["train", "learner.lrr=1e-4"], ["learner.lrr", "did you mean 'lr'"]),
    ("unknown-section", ["train", "nosection.x=1"], ["nosection"]),
    ("wrong-type", ["train", "rollout.group_size=abc"], ["rollout.group_size"]),
    ("section-as-value", ["train", "model=3"], ["model"]),
    ("override-no-equals", ["train", "rollout.group_size"], ["rollout.group_size", "key.path=value"]),
    ("override-no-key", ["train", "=4"], ["'=4'", "key.path=value"]),
    ("override-bad-yaml", ["train", "rollout.stop=[a"], ["rollout.stop=[a", "invalid YAML"]),
    ("interpolation", ["train", "trainer.run_name=${{nope}}"], ["trainer.run_name", "nope"]),
    # config files
    (
        "yaml-duplicate-key",
        ["train", "--config", "{d}/duplicate.yaml"],
        ["duplicate.yaml", "line 3", "duplicate key"],
    ),
    ("config-missing", ["train", "--config", "{d}/nowhere.yaml"], ["nowhere.yaml", "not found"]),
    ("config-folder", ["train", "--config", "{d}/empty_folder"], ["empty_folder", "folder"]),
    ("config-list", ["train", "--config", "{d}/list.yaml"], ["list.yaml", "list"]),
    ("config-binary", ["train", "--config", "{d}/binary.yaml"], ["binary.yaml"]),
    ("config-bad-base", ["train", "--config", "{d}/bad_base.yaml"], ["bad_base.yaml", "'base'"]),
    ("config-missing-base", ["train", "--config", "{d}/missing_base.yaml"], ["nowhere.yaml", "not found"]),
    (
        "config-unknown-key",
        ["train", "--config", "{d}/unknown_key.yaml"],
        ["algorithm.gama", "did you mean 'gamma'"],
    ),
    # paths (train and eval run check_paths)
    (
        "resume-run-folder",
        ["train", "trainer.resume={d}/run"],
        ["trainer.resume", "not a complete checkpoint", "step_00000002"],
    ),
    (
        "resume-half-written",
        ["train", "trainer.resume={d}/run/checkpoints/.tmp-step_00000004"],
        ["trainer.resume", ".tmp-step_00000004", "COMPLETE"],
    ),
    ("resume-a-file", ["train", "trainer.resume={d}/a_file"], ["trainer.resume", "a_file", "not a folder"]),
    (
        "model-path-missing",
        ["train", "model.path={d}/no_model"],
        ["model.path", "no_model", "does not exist"],
    ),
    ("model-path-no-config", ["train", "model.path={d}/empty_folder"], ["model.path", "config.json"]),
    (
        "model-path-short-context",
        ["train", "model.path={d}/short_model", "model.max_context_tokens=1536"],
        ["model.max_context_tokens", "1536", "1024", "max_position_embeddings", "short_model"],
    ),
    (
        "data-dir-missing",
        ["train", "env.alfworld.data_dir={d}/no_data"],
        ["env.alfworld.data_dir", "no_data"],
    ),
    ("output-dir-a-file", ["train", "trainer.output_dir={d}/a_file"], ["trainer.output_dir", "a_file"]),
    # turnrl eval
    (
        "eval-checkpoint-missing",
        ["eval", "--checkpoint", "{d}/no_run"],
        ["--checkpoint", "no_run", "does not exist"],
    ),
    (
        "eval-checkpoint-half-written",
        ["eval", "--checkpoint", "{d}/run/checkpoints/.tmp-step_00000004"],
        ["--checkpoint", ".tmp-step_00000004", "COMPLETE", "deepspeed/"],
    ),
    ("eval-checkpoint-empty", ["eval", "--checkpoint", "{d}/empty_folder"], ["--checkpoint", "empty_folder"]),
    (
        "eval-checkpoint-a-file",
        ["eval", "--checkpoint", "{d}/a_file"],
        ["--checkpoint", "a_file", "not a folder"],
    ),
    ("eval-no-checkpoint", ["eval"], ["--checkpoint"]),
    ("eval-episodes-zero", ["eval", "--checkpoint", "{d}/run", "--episodes", "0"], ["--episodes"]),
    ("eval-episodes-text", ["eval", "--checkpoint", "{d}/run", "--episodes", "many"], ["--episodes", "many"]),
    ("eval-bad-override", ["eval", "--checkpoint", "{d}/run", "algorithm.name=gigpoo"], ["algorithm.name"]),
    (
        "eval-model-path-missing",
        ["eval", "--checkpoint", "{d}/run", "model.path={d}/no_model"],
        ["model.path"],
    ),
    # the other commands and argparse itself
    ("config-show-bad-override", ["config", "show", "algorithm.name=gigpoo"], ["algorithm.name"]),
    (
        "config-show-yaml-syntax",
        ["config", "show", "--config", "{d}/unclosed.yaml"],
        ["unclosed.yaml", "line"],
    ),
    ("config-run-dir-bad-key", ["config", "run-dir", "trainer.run_nam=x"], ["trainer.run_nam"]),
    ("config-no-action", ["config"], ["ACTION"]),
    ("config-unknown-action", ["config", "print"], ["print"]),
    ("unknown-command", ["fly"], ["fly"]),
    ("no-command", [], ["COMMAND"]),
    ("unknown-option", ["train", "--fast"], ["--fast"]),
    ("config-without-value", ["train", "--config"], ["--config"]),
    ("doctor-extra-argument", ["doctor", "now"], ["now"]),
    ("plot-missing-run", ["plot", "{d}/no_run"], ["run_dir", "no_run", "metrics.jsonl"]),
]


@pytest.mark.parametrize(("argv", "named"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_exits_2_in_one_line_before_anything_heavy(files, argv, named):
    start = time.perf_counter()
    result = _run_cli(*(arg.format(d=files) for arg in argv))
    elapsed = time.perf_counter() - start
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for part in named:
        assert part.format(d=files) in lines[0], lines[0]
    assert result.stdout.strip().splitlines()[-1] == "heavy modules: none"
    assert elapsed < 10


def test_table_covers_the_issue():
    assert len(CASES) >= 20
    assert len({case[0] for case in CASES}) == len(CASES)


def test_config_show_checks_no_paths():
    result = _run_cli("config", "show", "trainer.resume=/no/such/checkpoint", "model.path=/no/such/model")
    assert result.returncode == 0, result.stderr
    assert "resume: /no/such/checkpoint" in result.stdout


def test_resume_accepts_a_complete_checkpoint(files):
    from trainer.config import check_paths, load_config

    for value in ("auto", "never", f"{files}/run/checkpoints/step_00000002"):
        check_paths(load_config(None, [f"trainer.resume={value}"]))


def test_eval_finds_the_model_folder_by_the_same_rule(files):
    good = files / "run" / "checkpoints" / "step_00000002"
    assert [path for _, path in complete_checkpoints(files / "run" / "checkpoints")] == [good]
    assert model_folder(files / "run") == good / "hf"
    assert model_folder(files / "run" / "checkpoints") == good / "hf"
    assert model_folder(good) == good / "hf"
    assert model_folder(good / "hf") == good / "hf"
    assert why_incomplete(good) is None
    assert "no COMPLETE marker" in why_incomplete(files / "run" / "checkpoints" / ".tmp-step_00000004")
