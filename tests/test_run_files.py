"""A killed run's files stay readable: a cut last JSONL line is left out by the one reader, a resume cuts the
files back to its checkpoint and sends W&B nothing twice, whole files are replaced atomically."""

from __future__ import annotations

import json

import pytest

from trainer.metrics_logger import MetricsLogger
from trainer.plots import plot_run
from trainer.run_files import count_records, keep_records, read_jsonl, write_text_atomic


def _metrics(run, steps, cut=False):
    text = "".join(
        json.dumps({"step": s, "rollout/success": 0.5, "timing/step_s": 1.0}) + "\n" for s in steps
    )
    if cut:
        text += '{"step": 9, "rollout/succ'
    (run / "metrics.jsonl").write_text(text)


def test_a_cut_last_line_is_left_out(tmp_path):
    _metrics(tmp_path, [1, 2, 3], cut=True)
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    assert count_records(tmp_path / "metrics.jsonl") == 3
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_a_broken_line_inside_the_file_is_named(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(tmp_path / "metrics.jsonl")


def test_turnrl_plot_draws_a_killed_runs_metrics(tmp_path):
    _metrics(tmp_path, range(1, 6), cut=True)
    figures = plot_run(tmp_path)
    assert (tmp_path / "success.png") in figures


def test_keep_records_cuts_back_and_drops_a_cut_line(tmp_path):
    _metrics(tmp_path, [1, 2, 3], cut=True)
    keep_records(tmp_path / "metrics.jsonl", 2)
    assert (tmp_path / "metrics.jsonl").read_text().endswith("\n")
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2]


def test_write_text_atomic_leaves_no_temporary_file(tmp_path):
    write_text_atomic(tmp_path / "summary.json", "{}")
    write_text_atomic(tmp_path / "summary.json", '{"a": 1}')
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


class FakeWandb:
    def __init__(self):
        self.steps = []

    def log(self, metrics, step):
        self.steps.append(step)


def test_a_resumed_logger_cuts_back_and_sends_wandb_nothing_twice(tmp_path):
    first = MetricsLogger(tmp_path, None, {})
    first.wandb = FakeWandb()
    for step in range(4):
        first.log(step, {"x": step})
        if step == 2:
            saved = dict(first.records)  # what the checkpoint of step 2 stores
    first.jsonl.write('{"step": 4, "x')  # killed mid-line
    first.jsonl.close()

    resumed = MetricsLogger(tmp_path, None, {})
    resumed.wandb = FakeWandb()
    resumed.rewind(saved)
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [0, 1, 2]
    for step in (3, 4):
        resumed.log(step, {"x": step})
    assert first.wandb.steps == [0, 1, 2, 3]
    assert resumed.wandb.steps == [4]  # step 3 went to W&B before the kill
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [0, 1, 2, 3, 4]
    resumed.jsonl.close()
