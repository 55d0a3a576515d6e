"""Write the results table of docs/results.md from finished run folders.

Each run folder (``runs/<name>``) holds ``summary.json`` (written when training ends) and ``config.yaml``
(the resolved config, written when it starts). One table row per run: env, estimator, seed, RL steps,
held-out success before -> after RL (greedy, the headline, and sampled), the greedy gain, the trainer's wall
time (RL steps and evaluations; the SFT warm start and data building come before it and are not counted) and
the command that trains the same config: ``turnrl train`` with the fewest overrides, starting from the
defaults or from whichever shipped ``configs/*.yaml`` needs fewer.

Only the part of the output file between the two markers below is replaced, so hand-written sections
around it stay; a file without the markers gets the section appended.

    python scripts/results.py [--runs runs] [--out docs/results.md]
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

import yaml

from trainer.config import load_config
from trainer.run_files import read_jsonl

REPO = Path(__file__).resolve().parents[1]

BEGIN = "<!-- scripts/results.py output: begin (regenerated, do not edit by hand) -->"
END = "<!-- scripts/results.py output: end -->"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def dotlist_value(value: Any) -> str:
    """A value as OmegaConf's dotlist parser reads it back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(dotlist_value(item) for item in value) + "]"
    return str(value)


# Where a run was written, not what it trained: left out of the command.
PLACEMENT = ("trainer.output_dir",)


def overrides(config: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """``key=value`` for every field of ``config`` that differs from ``base``, in schema order."""
    flat_base = flatten(base)
    return [
        f"{key}={dotlist_value(value)}"
        for key, value in flatten(config).items()
        if key not in PLACEMENT and (key not in flat_base or flat_base[key] != value)
    ]


def train_command(config: dict[str, Any], config_files: list[Path]) -> str:
    """The shortest ``turnrl train`` command that yields ``config``: the quickstart (what ``turnrl train`` runs
    without ``--config``), or a shipped config file, plus overrides."""
    best = overrides(config, load_config().model_dump(mode="json"))
    best_file = None
    for path in config_files:
        candidate = overrides(config, load_config(path).model_dump(mode="json"))
        if len(candidate) < len(best):
            best, best_file = candidate, path
    words = ["turnrl", "train"]
    if best_file is not None:
        words += ["--config", best_file.relative_to(REPO).as_posix()]
    return " ".join(words + [shlex.quote(item) for item in best])


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def before_after(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return "-"
    return f"{before:.2f} -> {after:.2f} ({round(100 * (after - before)):+d})"


def run_row(run_dir: Path, config_files: list[Path]) -> list[str]:
    summary = json.loads((run_dir / "summary.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    gain = round(100 * (summary["success_after_rl"] - summary["success_before_rl"]))
    return [
        run_dir.name,
        summary["env"],
        summary["algorithm"],
        str(config["trainer"]["seed"]),
        str(summary["steps"])
        + (f" (resumed at {summary['steps_before_resume']})" if "steps_before_resume" in summary else ""),
        str(summary["eval_episodes"]),
        before_after(summary["success_before_rl"], summary["success_after_rl"]),
        before_after(summary.get("success_before_rl_sampled"), summary.get("success_after_rl_sampled")),
        f"{gain:+d}",
        minutes(summary["wall_time_s"]),
        f"`{train_command(config, config_files)}`",
    ]


HEADER = [
    "run",
    "env",
    "algorithm",
    "seed",
    "RL steps",
    "eval episodes",
    "greedy before -> after",
    "sampled before -> after",
    "gain (greedy, points)",
    "wall time (RL + evals)",
    "command",
]


def last_step(run_dir: Path) -> int:
    """The last step a run logged (a killed run's cut last line is left out)."""
    return max((int(record["step"]) for record in read_jsonl(run_dir / "metrics.jsonl")), default=0)


def results_section(runs: Path) -> str:
    """The generated markdown, markers included."""
    config_files = sorted((REPO / "configs").glob("*.yaml"))
    rows, skipped = [], []
    for run_dir in sorted(path.parent for path in runs.glob("*/summary.json")):
        if (run_dir / "config.yaml").is_file():
            rows.append(run_row(run_dir, config_files))
        else:
            skipped.append(run_dir.name)
    unfinished = [
        f"{path.parent.name} (step {last_step(path.parent)})"
        for path in sorted(runs.glob("*/metrics.jsonl"))
        if not (path.parent / "summary.json").exists()
    ]
    lines = [
        BEGIN,
        "",
        f"Generated by `python scripts/results.py --runs {runs.as_posix()}` from "
        f"{len(rows)} run folder{'s' if len(rows) != 1 else ''}.",
        "",
    ]
    if rows:
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines.append(f"No finished run (a folder with `summary.json`) under `{runs.as_posix()}/` yet.")
    if skipped:
        lines += ["", f"Left out, no `config.yaml`: {', '.join(skipped)}."]
    if unfinished:
        lines += ["", f"Not finished (no `summary.json`; the last logged step): {', '.join(unfinished)}."]
    return "\n".join([*lines, "", END])


def write_section(out: Path, section: str) -> None:
    text = out.read_text() if out.exists() else "# Results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder holding the run folders")
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "results.md", help="markdown file to update"
    )
    args = parser.parse_args(argv)
    write_section(args.out, results_section(args.runs))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
