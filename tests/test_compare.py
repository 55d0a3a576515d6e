"""scripts/compare.py: the table, intervals and figure from finished run folders, and its resumable run loop."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scripts_module import load_script
from test_train_e2e import ENV_LIMITS, TINY

REPO = Path(__file__).resolve().parent.parent


def fake_run(folder: Path, before: float, after: float, steps: int = 4, wall_s: float = 600.0) -> None:
    folder.mkdir(parents=True)
    summary = {"success_before_rl": before, "success_after_rl": after, "gain": after - before}
    summary.update({"eval_episodes": 200, "steps": steps, "wall_time_s": wall_s})
    (folder / "summary.json").write_text(json.dumps(summary))
    rows = [{"step": 0, "eval/success_greedy": before}, {"step": 2, "rollout/success": 0.5}]
    rows += [
        {"step": 2, "eval/success_greedy": (before + after) / 2},
        {"step": steps, "eval/success_greedy": after},
    ]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_report_from_finished_runs(tmp_path):
    out = tmp_path / "runs" / "compare-toy"
    gains = {"grpo": [0.04, 0.10, 0.07], "gigpo": [0.10, 0.16, 0.16], "epo": [0.05, 0.07]}
    # wall times: a run beside other work is slow, so the table gives the median
    walls = {"grpo": [600.0, 1500.0, 700.0], "gigpo": [600.0, 660.0, 640.0], "epo": [600.0, 1200.0]}
    for estimator, per_seed in gains.items():
        for seed, gain in enumerate(per_seed):
            fake_run(out / f"{estimator}-seed{seed}", 0.5, 0.5 + gain, wall_s=walls[estimator][seed])
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nhand-written text stays\n")
    command = [sys.executable, str(REPO / "scripts" / "compare.py"), "--report-only", "--estimators", "grpo"]
    command += ["gigpo", "epo", "--name", "toy", "--runs", str(tmp_path / "runs"), "--doc", str(doc)]
    subprocess.run(command, check=True, cwd=tmp_path)
    text = doc.read_text()
    assert "hand-written text stays" in text
    # grpo gains 4, 10, 7: mean 7 +- 4.303 * sqrt(3) = [-0.5, +14.5]; gigpo - grpo per seed: 6, 6, 9
    assert "| grpo | 0, 1, 2 | 200 |" in text and "+7.0 [-0.5, +14.5]" in text
    # gigpo 10, 16, 16: mean 14; its differences to grpo 6, 6, 9: mean 7, sd sqrt(3), interval 7 +- 4.303
    assert "| +14.0 [+5.4, +22.6] | +7.0 [+2.7, +11.3] |" in text
    assert "| 11 min 40 s |" in text and "| 10 min 40 s |" in text  # median wall times
    assert "| epo | 0, 1 | 200 |" in text and "| 15 min 00 s |" in text  # the median of two is their mean
    assert (tmp_path / "compare-toy.png").stat().st_size > 10_000
    subprocess.run(command, check=True, cwd=tmp_path)  # regenerating replaces the section, never appends
    assert doc.read_text().count("scripts/compare.py toy: begin") == 1
    report = json.loads((out / "report.json").read_text())
    assert [p[0] for p in report["gigpo"][0]["curve"]] == [0, 2, 4]


def test_runs_share_the_first_runs_start_policy_and_skip_finished_ones(tmp_path, monkeypatch):
    compare = load_script("compare")
    out = tmp_path / "compare-toy"
    fake_run(out / "grpo-seed0", 0.5, 0.6)  # finished before: not run again
    (out / "grpo-seed0" / "sft_model").mkdir()
    commands = []

    def fake_train(command, log_file):
        commands.append(command)
        name = next(c.split("=", 1)[1] for c in command if c.startswith("trainer.run_name="))
        fake_run(out / name, 0.5, 0.55)
        return 12.5

    monkeypatch.setattr(compare, "train", fake_train)
    args = compare.argparse.Namespace(
        config=None, estimators=["grpo", "epo"], seeds=[0, 1], overrides=["trainer.total_steps=2"]
    )
    manifest = compare.run_all(args, out, None)
    assert list(manifest["runs"]) == ["epo-seed0", "grpo-seed1", "epo-seed1"]  # seed by seed
    for command in commands:
        assert f"model.path={out / 'grpo-seed0' / 'sft_model'}" in command
        assert "trainer.total_steps=2" in command and f"trainer.output_dir={out}" in command
    epo = next(c for c in commands if "algorithm.name=epo" in c)
    assert "algorithm.base=gigpo" in epo
    assert json.loads((out / "compare.json").read_text()) == manifest

    # a given start (model.path in the config or the overrides): no run builds one, none is pointed elsewhere
    commands.clear()
    args.seeds = [0, 1, 2]
    compare.run_all(args, out, "/models/start")
    assert len(commands) == 2 and not any(c.startswith("model.path=") for cmd in commands for c in cmd)


def test_a_bad_override_fails_before_any_run(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "compare.py"),
            "--runs",
            str(tmp_path),
            "rollout.group_size=zero",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "rollout.group_size" in result.stderr
    assert "Traceback" not in result.stderr  # one line naming the key, not a stack
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_compare_trains_two_estimators_from_one_start(tmp_path):
    """Two estimators x 2 seeds of 1 RL step on the toy env: the second and later runs reuse the first's SFT."""
    command = [sys.executable, str(REPO / "scripts" / "compare.py"), "--estimators", "grpo", "gigpo"]
    command += ["--seeds", "0", "1", "--runs", str(tmp_path), "--doc", str(tmp_path / "results.md")]
    command += ["env.name=toy", *TINY, *ENV_LIMITS["toy"], "trainer.total_steps=1", "trainer.eval_every=0"]
    command += ["trainer.eval_episodes=8", "trainer.sft.steps=5", "trainer.sft.episodes=8"]
    subprocess.run(command, check=True, cwd=REPO, timeout=1800)
    out = tmp_path / "compare-toy"
    assert not (out / "gigpo-seed1" / "sft_model").exists()  # started from grpo-seed0's
    assert (out / "grpo-seed0" / "sft_model").is_dir()
    assert "| gigpo | 0, 1 | 8 |" in (tmp_path / "results.md").read_text()
