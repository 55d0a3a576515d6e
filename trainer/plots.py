"""PNG curves of a run (``turnrl plot RUN_DIR``; also drawn at the end of training).

Per-step values (a training rollout's success, reward, entropy, ...) come from 64 episodes or one batch and
jump a lot from step to step, so each is drawn faint with a rolling mean over it: the trend is the line to
read. Evaluations (``eval/...``, logged at step 0 before RL, every ``trainer.eval_every`` steps and after the
last step) are a few points on held-out tasks, drawn as markers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainer.run_files import read_jsonl

# (file name, title, y-axis label, metric keys drawn on it)
FIGURES = (
    (
        "success.png",
        "success rate",
        "success rate",
        ("rollout/success", "eval/success_greedy", "eval/success_sampled"),
    ),
    ("reward.png", "episode reward", "mean episode reward", ("rollout/reward_mean",)),
    ("entropy.png", "policy entropy", "mean token entropy (nats)", ("train/entropy",)),
    ("kl.png", "KL", "KL", ("train/ppo_kl", "train/kl_loss")),
    (
        "step_time.png",
        "seconds per step",
        "seconds",
        ("timing/step_s", "timing/rollout_s", "timing/update_s"),
    ),
)

LABELS = {
    "rollout/success": "training rollouts",
    "eval/success_greedy": "held-out, greedy",
    "eval/success_sampled": "held-out, sampled",
    "rollout/reward_mean": "training rollouts",
    "train/entropy": "training batch",
    "train/ppo_kl": "new policy to rollout policy (PPO, k1)",
    "train/kl_loss": "to the reference model",
    "timing/step_s": "whole step",
    "timing/rollout_s": "rollout",
    "timing/update_s": "update",
}


@dataclass
class Curve:
    """A per-step metric: its raw values and their rolling mean, at the same steps."""

    steps: list[int]
    raw: list[float]
    smooth: list[float]
    window: int


@dataclass
class FigureData:
    """What one figure draws: per-step curves and evaluation points, by metric key."""

    curves: dict[str, Curve] = field(default_factory=dict)
    points: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The run's metric records (a running or killed run's cut last line is left out)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}")
    return read_jsonl(path)


def metric_series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of one metric, in step order. A resumed run appends the steps it replays after its
    checkpoint, so the last record of a step wins."""
    by_step = {}
    for record in records:
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            by_step[record["step"]] = float(value)
    steps = sorted(by_step)
    return steps, [by_step[step] for step in steps]


def rolling_mean(values: list[float], window: int) -> list[float]:
    """Centred mean over ``window`` points, narrower at both ends: centred so the curve does not lag the
    run, and defined at every step so it spans the whole run."""
    half = window // 2
    prefix = [0.0]
    for value in values:
        prefix.append(prefix[-1] + value)
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + half + 1)
        out.append((prefix[hi] - prefix[lo]) / (hi - lo))
    return out


def smoothing_window(count: int) -> int:
    """About a tenth of the run, odd, between 1 and 21 steps (160 steps: 17)."""
    return max(1, min(21, count // 10) | 1)


def prepare_figure(records: list[dict], keys: tuple[str, ...]) -> FigureData:
    """The data one figure draws: ``eval/`` keys as points, every other key as a smoothed per-step curve;
    keys without data are left out."""
    data = FigureData()
    for key in keys:
        steps, values = metric_series(records, key)
        if not steps:
            continue
        if key.startswith("eval/"):
            data.points[key] = (steps, values)
        else:
            window = smoothing_window(len(values))
            data.curves[key] = Curve(steps, values, rolling_mean(values, window), window)
    return data


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw every figure that has data; returns the files written."""
    run_dir = Path(run_dir)
    records = read_metrics(run_dir)
    run_name = run_dir.resolve().name
    written = []
    for file_name, title, ylabel, keys in FIGURES:
        data = prepare_figure(records, keys)
        if not data.curves and not data.points:
            continue
        fig = Figure(figsize=(7, 4))  # no pyplot: no global figure state, no display backend
        ax = fig.subplots()
        colors = iter(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
        for key, curve in data.curves.items():
            color = next(colors)
            if curve.window > 1:
                ax.plot(curve.steps, curve.raw, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(curve.steps, curve.smooth, color=color, linewidth=2, label=LABELS.get(key, key))
        window = max((curve.window for curve in data.curves.values()), default=1)
        if window > 1:
            ax.plot(
                [],
                [],
                color="grey",
                alpha=0.4,
                linewidth=0.8,
                label=f"faint: each step; bold: mean of {window} steps",
            )
        for key, (steps, values) in data.points.items():
            marker = "s" if key.endswith("sampled") else "o"
            ax.plot(
                steps,
                values,
                color=next(colors),
                marker=marker,
                markersize=6,
                linestyle="--",
                linewidth=1,
                label=LABELS.get(key, key),
            )
        ax.set_title(f"{run_name}: {title}")
        ax.set_xlabel("RL step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = run_dir / file_name
        fig.savefig(out, dpi=110)
        written.append(out)
    return written
