"""A clean stop on SIGINT and SIGTERM in every phase: one line, exit 130 / 143, a complete checkpoint of the step
the line names, no process left behind; a second SIGINT stops at once.

The end-to-end tests run ``python -m trainer train`` in its own session and deliver the signal inside a named
phase with the ``TURNRL_SIGNAL_AT`` hook (``trainer/stop.py``); one test sends Ctrl-C to the whole process group
as a terminal does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from trainer.checkpoint_layout import is_complete
from trainer.run_files import read_jsonl
from trainer.stop import EXIT_CODES, Stopped, StopSignals

REPO = Path(__file__).resolve().parents[1]

SMALL = [
    "env.name=toy",
    "rollout.engine=hf",
    "rollout.max_turns=3",
    "rollout.tasks_per_step=2",
    "rollout.group_size=2",
    "rollout.max_new_tokens=12",
    "trainer.total_steps=4",
    "trainer.save_every=0",
    "trainer.eval_every=3",
    "trainer.eval_episodes=2",
    "trainer.eval_sampled=false",
    "trainer.sft.episodes=2",
    "trainer.sft.steps=2",
    "trainer.sft.dagger_episodes=2",
    "trainer.sft.dagger_steps=2",
    "trainer.sft.batch_size=4",
    "env.num_workers=1",
    "logging.wandb.mode=disabled",
    "logging.progress=false",
    "model.tiny.hidden_size=32",
    "model.tiny.intermediate_size=64",
    "model.tiny.num_hidden_layers=1",
    "model.tiny.vocab_size=400",
    "learner.zero_stage=0",
]
STOP_LINE = re.compile(
    r"^stopped at step (\d+) by (SIGINT|SIGTERM); (checkpoint (\S+)|no checkpoint yet \(the warm start runs "
    r"again\)); run the same command to continue$"
)


# --------------------------------------------------------------------------------- the handler, in-process
def test_a_signal_inside_an_abortable_phase_abandons_it():
    stop = StopSignals()
    stop.install()
    try:
        finished = []

        def work():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler raises at the next bytecode
                time.sleep(0.001)
            finished.append(True)

        assert stop.run_abortable("rollout", 1, work) is None
        assert stop.received == "SIGTERM" and not finished
        # once a signal came, the next abortable phase does not start
        assert stop.run_abortable("eval", 1, finished.append, True) is None and not finished
    finally:
        stop.uninstall()


def test_a_signal_outside_an_abortable_phase_is_only_recorded():
    stop = StopSignals()
    stop.install()
    try:
        with stop.phase("update", 1):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            done = True
        assert done and stop.received == "SIGINT"
    finally:
        stop.uninstall()


def test_the_stop_line_and_exit_codes():
    stopped = Stopped("SIGTERM", 25, "runs/q/checkpoints/step_00000025")
    assert stopped.exit_code == 143 and EXIT_CODES["SIGINT"] == 130
    assert stopped.line == (
        "stopped at step 25 by SIGTERM; checkpoint runs/q/checkpoints/step_00000025; "
        "run the same command to continue"
    )
    assert STOP_LINE.match(stopped.line) and STOP_LINE.match(Stopped("SIGINT", 0, None).line)


def test_a_bad_hook_phase_is_named(monkeypatch):
    monkeypatch.setenv("TURNRL_SIGNAL_AT", "SIGTERM:backward:1")
    with pytest.raises(ValueError, match="phase must be one of"):
        StopSignals().run_abortable("rollout", 1, lambda: None)


# ----------------------------------------------------------------------------------- whole runs, per phase
def _start(tmp_path: Path, hook: str | None, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, WANDB_MODE="disabled", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.pop("TURNRL_SIGNAL_AT", None)
    if hook:
        env["TURNRL_SIGNAL_AT"] = hook
    command = [
        sys.executable,
        "-m",
        "trainer",
        "train",
        *SMALL,
        *extra,
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=run",
    ]
    err_path = tmp_path / f"stderr-{time.time_ns()}.log"
    with open(err_path, "w") as err:  # a file, not a pipe: a full pipe would block the trainer
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
    process.err_path = err_path
    return process


def _session_processes(session: int) -> list[psutil.Process]:
    left = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                left.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            pass
    return left


def _finish(process: subprocess.Popen, timeout: float = 600) -> tuple[str, str, list]:
    out, _ = process.communicate(timeout=timeout)
    err = process.err_path.read_text()
    deadline = time.time() + 10  # env workers that were told to leave may take a moment
    while _session_processes(process.pid) and time.time() < deadline:
        time.sleep(0.2)
    return out, err, _session_processes(process.pid)


def _check_stop(tmp_path, process, signal_name: str, step: int | None) -> re.Match:
    out, err, left = _finish(process)
    assert process.returncode == EXIT_CODES[signal_name], err[-3000:]
    assert left == [], f"processes left behind: {left}"
    lines = [line for line in out.splitlines() if line.startswith("stopped at")]
    assert len(lines) == 1, out
    match = STOP_LINE.match(lines[0])
    assert match and match.group(2) == signal_name, lines[0]
    assert "Traceback" not in err, err[-3000:]
    if step is not None:
        assert int(match.group(1)) == step
    if match.group(4):
        checkpoint = Path(match.group(4))
        assert is_complete(checkpoint) and checkpoint.name == f"step_{int(match.group(1)):08d}"
    return match


PHASES = [
    # (hook phase and step, the step whose checkpoint is written, the signal). Both signals take the same path
    # through the handler (the in-process tests above); each is delivered end to end in several phases.
    pytest.param("sft:0", None, "SIGINT", id="sft"),  # nothing to keep yet: the warm start is rebuilt
    pytest.param("eval:0", 0, "SIGTERM", id="eval-before"),  # the weights RL starts from, evaluation to redo
    pytest.param("rollout:2", 1, "SIGINT", id="rollout"),  # the rollout of step 2 is discarded
    pytest.param("update:2", 2, "SIGTERM", id="update"),  # the update finishes, and the step
    pytest.param("eval:3", 3, "SIGINT", id="eval-during"),  # step 3 trained; its evaluation runs on resume
]


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "step", "signal_name"), PHASES)
def test_clean_stop_in_each_phase_then_resume(tmp_path, phase, step, signal_name):
    process = _start(tmp_path, f"{signal_name}:{phase}")
    match = _check_stop(tmp_path, process, signal_name, step)
    if step is None:
        assert match.group(3).startswith("no checkpoint")
        assert not (tmp_path / "run" / "checkpoints").exists()
    resumed = _start(tmp_path, None)
    out, err, left = _finish(resumed)
    assert resumed.returncode == 0, err[-3000:]
    assert left == []
    steps = [record["step"] for record in read_jsonl(tmp_path / "run" / "metrics.jsonl")]
    assert steps == [0, 1, 2, 3, 4, 4]  # eval before, 4 steps (step 3 with its evaluation), eval after
    assert "eval/success_greedy" in read_jsonl(tmp_path / "run" / "metrics.jsonl")[3]


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_as_a_terminal_sends_it(tmp_path):
    process = _start(tmp_path, None, "trainer.total_steps=30")
    for line in process.stdout:
        if line.startswith("step 2/"):
            break
    os.killpg(process.pid, signal.SIGINT)
    match = _check_stop(tmp_path, process, "SIGINT", None)
    assert int(match.group(1)) >= 2


@pytest.mark.slow
def test_a_second_sigint_stops_at_once(tmp_path):
    process = _start(tmp_path, None, "trainer.total_steps=30")
    for line in process.stdout:
        if line.startswith("step 2/"):
            break
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    out, err, left = _finish(process)
    assert process.returncode == 130, err[-3000:]
    assert left == [], f"processes left behind: {left}"
    assert "stopped at once by a second SIGINT" in err or "stopped at step" in out
