"""The GPU configs that claim verl-agent's published setup match its scripts field by field.

The values are read off verl-agent's ``examples/gigpo_trainer/run_alfworld.sh`` and ``run_webshop.sh`` (and
the GRPO scripts beside them, which differ only by the estimator): what its settings mean in our schema.
"""

from pathlib import Path

import pytest

from trainer.build import max_turns
from trainer.config import load_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

SHARED = {
    "rollout.tasks_per_step": 16,  # data.train_batch_size
    "rollout.group_size": 8,  # env.rollout.n
    "rollout.history_window": 2,
    "rollout.invalid_turn": "malformed",  # its projection flags only unparsable answers
    "algorithm.invalid_penalty": 0.1,  # invalid_action_penalty_coef
    "algorithm.gamma": 0.95,
    "algorithm.kl.coef": 0.01,  # kl_loss_coef
    "algorithm.kl.type": "low_var_kl",
    "algorithm.kl.in_reward": False,  # use_kl_in_reward=False: KL in the loss
    "learner.lr": 1e-6,
    "trainer.total_steps": 150,  # total_epochs
    "trainer.eval_temperature": 0.4,  # val_kwargs.temperature, do_sample=True
}
PER_ENV = {
    "alfworld": {"max_turns": 50, "norm": {"grpo": "mean_std", "gigpo": "mean_std"}},
    "webshop": {"max_turns": 15, "norm": {"grpo": "mean_std", "gigpo": "mean"}},
}


def value(config, dotted: str):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize("env", sorted(PER_ENV))
@pytest.mark.parametrize("estimator", ["grpo", "gigpo", "epo", "aem"])
def test_gpu_config_matches_verl_agent(env, estimator):
    config = load_config(CONFIGS / f"{env}_{estimator}.yaml")
    for key, wanted in SHARED.items():
        assert value(config, key) == wanted, f"{env}_{estimator}.yaml: {key}"
    assert max_turns(config) == PER_ENV[env]["max_turns"]  # env.max_steps
    family = (
        "grpo" if estimator == "grpo" else config.algorithm.base if estimator in ("epo", "aem") else "gigpo"
    )
    assert config.algorithm.norm == PER_ENV[env]["norm"][family], f"{env}_{estimator}.yaml: algorithm.norm"
    if estimator == "gigpo":
        assert config.algorithm.step_weight == 1.0  # step_advantage_w


def test_7b_lora_config_matches_verl_agent_lora_recipe():
    """configs/alfworld_7b_lora.yaml: verl-agent's run_alfworld_lora.sh (7B) = its full fine-tuning GiGPO setup
    with lora_rank 64, lora_alpha 64, lr 3e-6 and no KL; adapters on every linear layer (verl's all-linear)."""
    config = load_config(CONFIGS / "alfworld_7b_lora.yaml")
    wanted = {**SHARED, "learner.lr": 3e-6, "algorithm.kl.coef": 0.0}
    for key, expected in wanted.items():
        assert value(config, key) == expected, f"alfworld_7b_lora.yaml: {key}"
    assert max_turns(config) == PER_ENV["alfworld"]["max_turns"]
    assert (config.algorithm.name, config.algorithm.norm, config.algorithm.step_weight) == (
        "gigpo",
        "mean_std",
        1.0,
    )
    lora = config.learner.lora
    assert (lora.rank, lora.alpha, lora.target_modules) == (64, 64.0, "all-linear")
    assert config.model.path.endswith("Qwen2.5-7B-Instruct")
    assert config.learner.zero_stage in (0, 1, 2)  # one GPU, and LoRA refuses ZeRO-3
