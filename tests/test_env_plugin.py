"""Adding an env = its own folder (tests/counter_env: env + spec) and one ``register`` line, nothing else: the
config schema, the trainer's parts, prompts, the runner, the warm start and a whole training run take it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

REGISTER = "from envs import register; from tests.counter_env.spec import COUNTER; register(COUNTER)"


@pytest.fixture(scope="module")
def counter():
    """Registered for this module's tests only: the registry is put back after them."""
    import envs.spec
    from envs import register
    from tests.counter_env.spec import COUNTER

    before = dict(envs.spec._SPECS)
    yield register(COUNTER)
    envs.spec._SPECS.clear()
    envs.spec._SPECS.update(before)


def test_the_schema_takes_the_new_section(counter):
    from trainer.config import ConfigError, load_config

    config = load_config(None, ["env.name=counter", "env.counter.n_tasks=5"])
    assert config.env.counter.n_tasks == 5 and config.env.alfworld.preset  # built-in sections stay
    with pytest.raises(ConfigError, match="env.counter.n_tasks"):
        load_config(None, ["env.name=counter", "env.counter.n_tasks=0"])
    with pytest.raises(ConfigError, match="unknown key 'env.counter.colour'"):
        load_config(None, ["env.counter.colour=red"])


def test_the_parts_come_from_the_spec_and_episodes_play(counter, tmp_path):
    from rollout import EpisodeRunner, HFEngine
    from trainer.build import env_kwargs, env_pool, max_turns, runner_config, splits
    from trainer.config import load_config
    from trainer.tiny_model import build_tiny_model, default_corpus
    from trainer.warm_start import collect_demonstrations

    config = load_config(
        None, ["env.name=counter", "env.num_workers=1", "rollout.max_turns=", "trainer.seed=3"]
    )
    assert max_turns(config) == 6 and splits(config) == ("train", "test")
    assert env_kwargs(config, "test") == {"split": "test", "n_tasks": 8, "max_steps": 6}
    prompt = runner_config(config).prompt
    assert prompt.intro == "Count to the target, then stop." and not prompt.tool_calls
    with env_pool(
        config, "train", 4, with_expert=True
    ) as pool:  # spawned workers build it from the entry point
        demos = collect_demonstrations(
            pool, [0, 1, 2], runner_config(config), noise=0.0, seed=0, expert_text=counter.expert_text
        )
        actions = [d.action for d in demos]  # tasks 0, 1, 2 count to 1, 2, 3, then stop
        assert len(actions) == 9 and actions.count("stop") == 3
        engine = HFEngine(str(build_tiny_model(tmp_path / "model", default_corpus())))
        runner = EpisodeRunner(engine, engine.tokenizer, pool, runner_config(config))
        trajectories = runner.run([0, 1], group_size=2, seed=0)
    assert len(trajectories) == 4 and all(t.turns for t in trajectories)


@pytest.mark.slow
def test_a_training_run_on_the_new_env(tmp_path):
    """SFT on the spec's expert, two RL steps, evaluation before and after, in a fresh process that did nothing
    but register the env."""
    overrides = [
        "env.name=counter",
        "rollout.engine=hf",
        "env.num_workers=1",
        "rollout.tasks_per_step=2",
        "rollout.group_size=2",
        "rollout.max_new_tokens=8",
        "trainer.total_steps=2",
        "trainer.eval_episodes=2",
        "trainer.eval_sampled=false",
        "trainer.sft.episodes=4",
        "trainer.sft.steps=2",
        "trainer.sft.dagger_episodes=2",
        "trainer.sft.dagger_steps=2",
        "model.tiny.hidden_size=32",
        "model.tiny.intermediate_size=64",
        "model.tiny.num_hidden_layers=1",
        "model.tiny.vocab_size=400",
        "logging.wandb.mode=disabled",
        "logging.progress=false",
        "learner.zero_stage=0",
        f"trainer.output_dir={tmp_path}",
        "trainer.run_name=counter",
    ]
    code = f"{REGISTER}; from trainer.cli import main; raise SystemExit(main(['train', *{overrides!r}]))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "counter" / "summary.json").read_text())
    assert summary["env"] == "counter" and summary["steps"] == 2
