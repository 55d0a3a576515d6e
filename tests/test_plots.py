"""The run curves: per-step metrics smoothed, evaluations found as points, PNGs written."""

from __future__ import annotations

import json
import random

from trainer.plots import (
    metric_series,
    plot_run,
    prepare_figure,
    read_metrics,
    rolling_mean,
    smoothing_window,
)

SUCCESS_KEYS = ("rollout/success", "eval/success_greedy", "eval/success_sampled")


def write_run(run_dir, steps=60, eval_every=20):
    """A metrics.jsonl laid out as the trainer logs it: evaluation before RL at step 0, one record per step
    (with the evaluation merged in every ``eval_every`` steps) and the evaluation after RL at the last step."""
    rng = random.Random(0)
    records = [{"step": 0, "eval/success_greedy": 0.5, "eval/success_sampled": 0.4}]
    for step in range(1, steps + 1):
        record = {
            "step": step,
            "rollout/success": rng.random(),
            "rollout/reward_mean": 10 * rng.random(),
            "train/entropy": 0.5,
            "timing/step_s": 6.0,
        }
        if step % eval_every == 0 and step < steps:
            record.update({"eval/success_greedy": 0.5 + step / 1000, "eval/success_sampled": 0.45})
        records.append(record)
    records.append({"step": steps, "eval/success_greedy": 0.6, "eval/success_sampled": 0.55})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_evaluations_are_points_and_rollouts_a_smoothed_curve(tmp_path):
    write_run(tmp_path / "run")
    data = prepare_figure(read_metrics(tmp_path / "run"), SUCCESS_KEYS)
    assert set(data.points) == {"eval/success_greedy", "eval/success_sampled"}
    assert data.points["eval/success_greedy"] == ([0, 20, 40, 60], [0.5, 0.52, 0.54, 0.6])
    assert data.points["eval/success_sampled"][0] == [0, 20, 40, 60]
    curve = data.curves["rollout/success"]
    assert list(data.curves) == ["rollout/success"] and curve.steps == list(range(1, 61))
    assert curve.window == 7 and len(curve.smooth) == 60
    spread = max(curve.smooth) - min(curve.smooth)
    assert spread < max(curve.raw) - min(curve.raw)


def test_plot_run_writes_the_figures_with_data(tmp_path):
    run = tmp_path / "alfworld-gigpo"
    write_run(run)
    written = {path.name for path in plot_run(run)}
    assert written == {"success.png", "reward.png", "entropy.png", "step_time.png"}
    assert all((run / name).stat().st_size > 0 for name in written)


def test_a_replayed_step_keeps_its_last_value():
    records = [{"step": 1, "x": 1.0}, {"step": 2, "x": 2.0}, {"step": 2, "x": 5.0}, {"step": 3, "x": True}]
    assert metric_series(records, "x") == ([1, 2], [1.0, 5.0])


def test_rolling_mean_is_centred_and_spans_the_run():
    assert rolling_mean([0.0, 3.0, 6.0, 3.0], 3) == [1.5, 3.0, 4.0, 4.5]
    assert rolling_mean([2.0], 5) == [2.0]
    assert [smoothing_window(n) for n in (1, 20, 60, 160, 1000)] == [1, 3, 7, 17, 21]


def test_the_kl_figure_and_console_read_the_kl_the_trainer_logs():
    """The learner reports ``actor/ppo_kl``; the trainer logs it as ``train/ppo_kl``, which both must read."""
    from types import SimpleNamespace

    import torch

    from trainer.metrics import train_metrics
    from trainer.metrics_logger import CONSOLE_KEYS, console_line
    from trainer.plots import FIGURES

    batch = SimpleNamespace(response_mask=torch.ones(2, 3))
    logged = train_metrics({"actor/ppo_kl": 0.0021, "actor/kl_loss": 0.0}, torch.zeros(2, 3), batch)
    kl_keys = dict((name, keys) for name, _, _, keys in FIGURES)["kl.png"]
    assert set(kl_keys) <= set(logged) and "train/ppo_kl" in {key for key, _, _ in CONSOLE_KEYS}
    assert "kl 0.0021" in console_line(1, 2, logged)


def test_learner_throughput_stays_out_of_the_phase_clock():
    """``perf/...`` from the learner must not land under ``timing/``, where readers take every ``_s`` as a phase."""
    from types import SimpleNamespace

    import torch

    from trainer.metrics import train_metrics

    batch = SimpleNamespace(response_mask=torch.ones(2, 3))
    update = {"actor/pg_loss": 0.1, "perf/update_time_s": 2.0, "perf/update_tokens_per_s": 300.0}
    logged = train_metrics(update, torch.zeros(2, 3), batch)
    assert not [key for key in logged if key.startswith("timing/")]
    assert logged["perf/update_time_s"] == 2.0 and logged["train/pg_loss"] == 0.1
