"""scripts/results.py: one row per finished run, a command that rebuilds the run's config, and only the
generated part of docs/results.md replaced."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from scripts_module import load_script

from trainer.config import load_config, to_yaml

REPO = Path(__file__).resolve().parents[1]
results = load_script("results")


def make_run(runs: Path, name: str, config_file: str | None, overrides: list[str], success: tuple) -> Path:
    config = load_config(REPO / config_file if config_file else None, overrides)
    run = runs / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(to_yaml(config))
    summary = {
        "env": config.env.name,
        "algorithm": config.algorithm.name,
        "steps": config.trainer.total_steps,
        "success_before_rl": success[0],
        "success_after_rl": success[1],
        "eval_episodes": 100,
        "wall_time_s": 996.4,
    }
    if len(success) == 4:
        summary.update(success_before_rl_sampled=success[2], success_after_rl_sampled=success[3])
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def rebuilt(command: str):
    words = shlex.split(command.strip("`"))
    assert words[:2] == ["turnrl", "train"]
    words = words[2:]
    path = None
    if words[:1] == ["--config"]:
        path, words = REPO / words[1], words[2:]
    return load_config(path, words)


def test_rows_and_commands(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "alfworld-gigpo", None, [], (0.48, 0.56, 0.43, 0.56))
    make_run(
        runs,
        "seed1",
        None,
        ["trainer.seed=1", "rollout.instructions=true", "rollout.stop=[a b,c]", "trainer.run_name=seed1"],
        (0.52, 0.51),
    )
    make_run(
        runs,
        "webshop",
        "configs/webshop_aem.yaml",
        ["model.path=/models/q", "trainer.run_name=webshop"],
        (0.1, 0.2),
    )
    (runs / "unfinished").mkdir()
    (runs / "unfinished" / "config.yaml").write_text("{}")
    configs = sorted((REPO / "configs").glob("*.yaml"))
    rows = {path.parent.name: results.run_row(path.parent, configs) for path in runs.glob("*/summary.json")}
    assert set(rows) == {"alfworld-gigpo", "seed1", "webshop"}
    default = rows["alfworld-gigpo"]
    assert default[1:10] == [
        "alfworld",
        "gigpo",
        "0",
        "80",
        "100",
        "0.48 -> 0.56 (+8)",
        "0.43 -> 0.56 (+13)",
        "+8",
        "16 min 36 s",
    ]
    assert default[10] == "`turnrl train`"
    assert rows["seed1"][7] == "-" and rows["seed1"][8] == "-1"
    assert rows["webshop"][10] == (
        "`turnrl train --config configs/webshop_aem.yaml model.path=/models/q trainer.run_name=webshop`"
    )
    for name, row in rows.items():
        saved = (runs / name / "config.yaml").read_text()
        assert to_yaml(rebuilt(row[10])) == saved, name


def test_only_the_generated_section_is_replaced(tmp_path):
    runs = tmp_path / "runs"
    out = tmp_path / "results.md"
    out.write_text(
        "# Results\n\nintro\n\n" + results.results_section(runs) + "\n\n## Recorded earlier\n\nkept\n"
    )
    assert "No finished run" in out.read_text()
    make_run(runs, "alfworld-gigpo", None, [], (0.48, 0.56))
    results.write_section(out, results.results_section(runs))
    text = out.read_text()
    assert text.startswith("# Results\n\nintro\n\n") and text.endswith("## Recorded earlier\n\nkept\n")
    assert "| alfworld-gigpo | alfworld | gigpo |" in text and "No finished run" not in text
    assert text.count(results.BEGIN) == 1 and text.count(results.END) == 1


def test_a_killed_run_is_listed_with_its_last_step_and_a_resumed_one_says_so(tmp_path):
    runs = tmp_path / "runs"
    resumed = make_run(runs, "resumed", None, [], (0.4, 0.5))
    summary = json.loads((resumed / "summary.json").read_text())
    (resumed / "summary.json").write_text(json.dumps({**summary, "steps_before_resume": 25}))
    killed = runs / "killed"
    killed.mkdir()
    (killed / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1}\n{"step": 2}\n{"step": 3, "rollout/su')
    section = results.results_section(runs)
    assert "| 80 (resumed at 25) |" in section
    assert "Not finished (no `summary.json`; the last logged step): killed (step 2)." in section
