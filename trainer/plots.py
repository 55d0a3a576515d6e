"""PNG curves of a run (``turnrl plot RUN_DIR``; also drawn at the end of training)."""

from __future__ import annotations

import json
from pathlib import Path

# (file name, title, metric keys drawn on it)
FIGURES = (
    ("success.png", "success rate", ("rollout/success", "eval/success_greedy", "eval/success_sampled")),
    ("reward.png", "episode reward", ("rollout/reward_mean",)),
    ("entropy.png", "policy entropy", ("train/entropy",)),
    ("kl.png", "KL", ("train/approx_kl", "train/kl_loss")),
    ("step_time.png", "seconds per step", ("timing/step_s", "timing/rollout_s", "timing/update_s")),
)


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no metrics.jsonl in {run_dir}")
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw every figure that has data; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(run_dir)
    written = []
    for file_name, title, keys in FIGURES:
        series = {
            key: [(r["step"], r[key]) for r in records if isinstance(r.get(key), int | float)] for key in keys
        }
        series = {key: points for key, points in series.items() if points}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, points in series.items():
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=key)
        ax.set_title(title)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = Path(run_dir) / file_name
        fig.savefig(out, dpi=100)
        plt.close(fig)
        written.append(out)
    return written
