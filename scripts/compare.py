"""Compare advantage estimators over RL seeds from one shared SFT start; write the result to docs/results.md.

    python scripts/compare.py                                   # the ALFWorld quickstart, 4 estimators x 3 seeds
    python scripts/compare.py --config configs/quickstart_webshop.yaml
    python scripts/compare.py trainer.total_steps=60 --estimators grpo gigpo --seeds 0 1   # overrides: every run
    python scripts/compare.py --report-only                     # redraw the table and figure from finished runs

The first run (first estimator, first seed) builds the start policy as ``turnrl train`` does (tokenizer, tiny
model, SFT warm start); every other run starts RL from its ``sft_model`` folder, so estimators and seeds differ
only in what RL does. With ``model.path`` set (an override or the config), every run starts from that folder. Runs are ``turnrl train`` subprocesses, one at a time, in ``runs/compare-<name>/``; a run
with a ``summary.json`` is not run again and an interrupted one resumes from its last checkpoint, so the
script can be stopped and started again.

Reported per estimator: the greedy held-out gain of each seed (after RL minus before, same games), their mean
with a 95% t interval over seeds (the run-to-run spread: with 3 seeds it is +-4.3 standard errors), the
difference to the first estimator paired by seed (same SFT start, same task order, same evaluation games), and
the median wall time of a run. The figure shows each seed's gain with the mean and its interval, and the
held-out greedy success at every evaluation, averaged over seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trainer.config import ConfigError, load_config
from trainer.run_files import read_jsonl
from trainer.stats import mean_interval

REPO = Path(__file__).resolve().parents[1]

# What each estimator is, beyond its name, when it runs on a config written for another one: GRPO divides by
# the group's std by definition; EPO and AEM sit on the base estimator of their shipped GPU configs.
ESTIMATOR_SETTINGS = {
    "grpo": ["algorithm.norm=mean_std"],
    "gigpo": [],
    "epo": ["algorithm.base=gigpo"],
    "aem": ["algorithm.base=grpo", "algorithm.norm=mean_std"],
}
MANIFEST = "compare.json"


def read_manifest(out: Path) -> dict[str, Any]:
    """What earlier invocations recorded of their runs (command, wall time); empty before the first."""
    path = out / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {"runs": {}}


def run_name(estimator: str, seed: int) -> str:
    return f"{estimator}-seed{seed}"


def train(command: list[str], log_file: Path) -> float:
    """Run one ``turnrl train``; its output goes to ``log_file``. Returns the wall time in seconds."""
    started = time.perf_counter()
    with log_file.open("a") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"compare: {' '.join(command)} failed (exit {result.returncode}); see {log_file}")
    return time.perf_counter() - started


def run_all(args: argparse.Namespace, out: Path, given_start: str | None) -> dict[str, Any]:
    """Train every (estimator, seed) not finished yet. ``given_start``: the config's ``model.path``, where every
    run then starts; without one the first run builds the start policy."""
    manifest = read_manifest(out)
    first = None if given_start else run_name(args.estimators[0], args.seeds[0])
    start_policy = Path(given_start) if given_start else out / first / "sft_model"
    # Seed by seed, so that a comparison stopped part-way has every estimator on the same seeds.
    jobs = [(e, s) for s in args.seeds for e in args.estimators]
    for index, (estimator, seed) in enumerate(jobs):
        name = run_name(estimator, seed)
        if (out / name / "summary.json").exists():
            continue
        command = [sys.executable, "-m", "trainer", "train"]
        command += ["--config", str(args.config)] if args.config else []
        command += [*args.overrides, *ESTIMATOR_SETTINGS[estimator]]
        command += [f"algorithm.name={estimator}", f"trainer.seed={seed}", f"trainer.run_name={name}"]
        command += [f"trainer.output_dir={out}", "logging.progress=false"]
        if first is not None and name != first:
            command.append(f"model.path={start_policy}")
        print(f"compare: run {index + 1}/{len(jobs)}: {name}", flush=True)
        wall = train(command, out / f"{name}.log")
        manifest["runs"][name] = {"command": command[1:], "wall_s": round(wall, 1)}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if name == first and not start_policy.is_dir():
            raise SystemExit(f"compare: {first} wrote no {start_policy}: set model.path empty to build one")
    return manifest


def eval_curve(run_dir: Path) -> list[tuple[int, float]]:
    """(step, greedy held-out success) of every evaluation the run logged."""
    points = []
    for row in read_jsonl(run_dir / "metrics.jsonl"):
        if "eval/success_greedy" in row:
            points.append((int(row["step"]), float(row["eval/success_greedy"])))
    return points


def collect(out: Path, estimators: list[str], seeds: list[int], manifest: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for estimator in estimators:
        runs = []
        for seed in seeds:
            run_dir = out / run_name(estimator, seed)
            if not (run_dir / "summary.json").exists():
                continue
            summary = json.loads((run_dir / "summary.json").read_text())
            runs.append(
                {
                    "seed": seed,
                    "before": summary["success_before_rl"],
                    "after": summary["success_after_rl"],
                    "gain": summary["gain"],
                    "gain_ci95": summary.get("gain_ci95"),
                    "episodes": summary["eval_episodes"],
                    "steps": summary["steps"],
                    "trainer_wall_s": summary["wall_time_s"],
                    "wall_s": manifest["runs"].get(run_dir.name, {}).get("wall_s"),
                    "curve": eval_curve(run_dir),
                }
            )
        if runs:
            table[estimator] = runs
    return table


def gain_summary(runs: list[dict[str, Any]]) -> str:
    gains = [100 * r["gain"] for r in runs]
    if len(gains) < 2:
        return f"{gains[0]:+.1f} (1 seed)"
    mean, low, high = mean_interval(gains)
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def difference_summary(runs: list[dict[str, Any]], reference: list[dict[str, Any]]) -> str:
    """Mean of (this gain - reference gain) over the seeds both have, with its t interval."""
    ref = {r["seed"]: r["gain"] for r in reference}
    diffs = [100 * (r["gain"] - ref[r["seed"]]) for r in runs if r["seed"] in ref]
    if len(diffs) < 2:
        return "-"
    mean, low, high = mean_interval(diffs)
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def markdown(name: str, table: dict[str, Any], command: str) -> str:
    reference = next(iter(table))
    lines = [
        f"Generated by `{command}`. Greedy held-out success, in points; intervals are 95% t intervals over "
        "seeds; the difference column pairs each seed with the same seed of "
        f"{reference} (same SFT start, same tasks, same evaluation games).",
        "",
        f"| estimator | seeds | episodes per evaluation | before -> after, per seed | gain per seed | mean gain "
        f"[95% CI] | difference to {reference} [95% CI] | RL steps | median wall time per run (RL + evals) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for estimator, runs in table.items():
        before_after = ", ".join(f"{r['before']:.3f} -> {r['after']:.3f}" for r in runs)
        per_seed = ", ".join(f"{100 * r['gain']:+.1f}" for r in runs)
        difference = "-" if estimator == reference else difference_summary(runs, table[reference])
        lines.append(
            f"| {estimator} | {', '.join(str(r['seed']) for r in runs)} | {runs[0]['episodes']} | {before_after} "
            f"| {per_seed} | {gain_summary(runs)} | {difference} | {runs[0]['steps']} "
            f"| {minutes(statistics.median(r['trainer_wall_s'] for r in runs))} |"
        )
    lines += ["", f"![{name}: gains and held-out curves](compare-{name}.png)", ""]
    return "\n".join(lines)


def figure(name: str, table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (gains_ax, curve_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for x, (estimator, runs) in enumerate(table.items()):
        gains = [100 * r["gain"] for r in runs]
        gains_ax.scatter([x] * len(gains), gains, color="tab:gray", alpha=0.7, zorder=3)
        if len(gains) >= 2:
            mean, low, high = mean_interval(gains)
            gains_ax.errorbar(
                x, mean, yerr=[[mean - low], [high - mean]], fmt="o", color="tab:blue", capsize=6
            )
        by_step: dict[int, list[float]] = {}
        for r in runs:
            for step, success in r["curve"]:
                by_step.setdefault(step, []).append(100 * success)
        steps = sorted(by_step)
        means = [sum(by_step[step]) / len(by_step[step]) for step in steps]
        curve_ax.plot(steps, means, marker="o", label=f"{estimator} ({len(runs)} seeds)")
    gains_ax.axhline(0, color="black", linewidth=0.8)
    gains_ax.set_xticks(range(len(table)), list(table))
    gains_ax.set_ylabel("greedy held-out gain (points)")
    gains_ax.set_title("gain per seed (grey), mean and 95% interval (blue)")
    curve_ax.set_xlabel("RL step")
    curve_ax.set_ylabel("greedy held-out success (%)")
    curve_ax.set_title("held-out success at each evaluation, mean over seeds")
    curve_ax.legend()
    fig.suptitle(f"turnrl compare: {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_section(
    doc: Path, name: str, body: str, *, heading: str | None = None, script: str = "compare.py"
) -> None:
    """Replace the section ``script`` wrote for ``name`` in ``doc`` (between its markers), or append one under
    ``heading`` (default: "Estimators compared: <name>")."""
    begin = f"<!-- scripts/{script} {name}: begin (regenerated, do not edit by hand) -->"
    end = f"<!-- scripts/{script} {name}: end -->"
    text = doc.read_text() if doc.exists() else "# Results\n"
    section = f"{begin}\n\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading or f'Estimators compared: {name}'}\n\n{section}\n"
    doc.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="config file (default: the quickstart)")
    parser.add_argument(
        "--estimators", nargs="+", default=list(ESTIMATOR_SETTINGS), choices=list(ESTIMATOR_SETTINGS)
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--name", help="comparison name (default: the config's env)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="parent of runs/compare-<name>")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "results.md")
    parser.add_argument("--report-only", action="store_true", help="do not train: report the finished runs")
    parser.add_argument(
        "overrides", nargs="*", help="dotted overrides applied to every run (before the options)"
    )
    args = parser.parse_args()

    try:  # a bad config or override fails here, in one line, before any run
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    name = args.name or config.env.name
    out = args.runs / f"compare-{name}"
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out) if args.report_only else run_all(args, out, config.model.path)
    table = collect(out, args.estimators, args.seeds, manifest)
    if not table:
        raise SystemExit(f"compare: no finished runs in {out}")
    command = " ".join(["python scripts/compare.py", *(a for a in sys.argv[1:] if a != "--report-only")])
    figure(name, table, args.doc.parent / f"compare-{name}.png")
    write_section(args.doc, name, markdown(name, table, command))
    (out / "report.json").write_text(json.dumps(table, indent=2))
    print(f"compare: {args.doc} and {args.doc.parent / f'compare-{name}.png'} updated from {out}")


if __name__ == "__main__":
    main()
