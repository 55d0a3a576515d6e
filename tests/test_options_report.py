"""scripts/options_report.py: one env's design options against the default, paired by seed, from compare folders."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def finished(folder: Path, seed: int, before: float, after: float, command: list[str]) -> None:
    run = folder / f"gigpo-seed{seed}"
    run.mkdir(parents=True)
    summary = {"success_before_rl": before, "success_after_rl": after, "gain": after - before}
    summary.update({"gain_ci95": [after - before - 0.05, after - before + 0.05], "wall_time_s": 480.0 + seed})
    (run / "summary.json").write_text(json.dumps(summary))
    manifest = json.loads((folder / "compare.json").read_text()) if (folder / "compare.json").exists() else {}
    manifest.setdefault("runs", {})[run.name] = {
        "command": [
            "-m",
            "trainer",
            "train",
            *command,
            f"trainer.seed={seed}",
            f"trainer.run_name={run.name}",
        ],
        "wall_s": 500.0,
    }
    (folder / "compare.json").write_text(json.dumps(manifest))


def test_the_table_pairs_each_options_final_success_with_the_defaults_seed(tmp_path):
    default, dagger = tmp_path / "compare-default", tmp_path / "compare-dagger"
    for seed, after in enumerate([0.60, 0.65, 0.72]):
        finished(default, seed, 0.565, after, ["algorithm.name=gigpo"])
    # another warm start: another start, so the final successes are compared (differences 10, 9, 3)
    for seed, after in enumerate([0.70, 0.74, 0.75]):
        finished(dagger, seed, 0.62, after, ["trainer.sft.dagger_rounds=1", "algorithm.name=gigpo"])
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nhand-written text stays\n")
    command = [
        sys.executable,
        str(REPO / "scripts" / "options_report.py"),
        "--env",
        "alfworld",
        "--doc",
        str(doc),
    ]
    command += [f"default={default}", f"dagger={dagger}"]
    subprocess.run(command, check=True, cwd=tmp_path)
    text = doc.read_text()
    assert "hand-written text stays" in text and "## Design options: alfworld" in text
    lines = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| d")}
    assert "`turnrl train algorithm.name=gigpo trainer.seed={0,1,2}`" in lines["| default"]
    assert "0.620 -> 0.700, 0.620 -> 0.740, 0.620 -> 0.750" in lines["| dagger"]
    assert "+8.0 [+3.0, +13.0]" in lines["| dagger"]  # seed 0's gain with its paired interval
    # gains 8, 12, 13: mean 11, sd sqrt(7), interval 11 +- 4.303 * sqrt(7 / 3)
    assert "| +11.0 [+4.4, +17.6] |" in lines["| dagger"]
    # final minus default 10, 9, 3: mean 7.33, sd 3.786, interval +- 9.41
    assert "| +7.3 [-2.1, +16.7] |" in lines["| dagger"]
    assert lines["| default"].endswith("| - | 8 min 01 s |")
    subprocess.run(command, check=True, cwd=tmp_path)  # regenerating replaces the section
    assert doc.read_text().count("scripts/options_report.py alfworld: begin") == 1


def test_a_folder_without_finished_runs_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    command = [sys.executable, str(REPO / "scripts" / "options_report.py"), "--env", "alfworld"]
    result = subprocess.run(
        [*command, f"x={tmp_path / 'empty'}"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode != 0 and str(tmp_path / "empty") in result.stderr
