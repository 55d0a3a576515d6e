"""Config schema, YAML + override loading, and the one-line errors users see."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from algorithms.choices import ESTIMATOR_NAMES
from trainer.config import QUICKSTART, Config, ConfigError, Section, load_config, to_yaml

REPO = Path(__file__).resolve().parents[1]
# `turnrl config show` of the quickstart, reviewed. After a deliberate change to the schema or to
# configs/quickstart.yaml, regenerate it with `python -m trainer config show > tests/data/quickstart_config_show.yaml`
# and read `git diff` of it: every changed line must be one you meant.
QUICKSTART_SHOWN = REPO / "tests" / "data" / "quickstart_config_show.yaml"


def flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_quickstart_resolves_to_the_reviewed_file():
    shown = to_yaml(load_config(REPO / "configs" / "quickstart.yaml"))
    assert shown == QUICKSTART_SHOWN.read_text(), (
        "the quickstart's resolved config changed; if on purpose, regenerate "
        "tests/data/quickstart_config_show.yaml (see its test) and review the diff"
    )
    assert QUICKSTART == REPO / "configs" / "quickstart.yaml"
    assert load_config().model_dump() == load_config(QUICKSTART).model_dump()  # no file: the quickstart


def test_schema_defaults_are_the_alfworld_gpu_setup():
    """alfworld_gpu.yaml differs from the defaults only by the model, the engine and its bf16 rollout correction
    (and its W&B tag)."""
    gpu = flat(load_config(REPO / "configs" / "alfworld_gpu.yaml").model_dump(mode="json"))
    defaults = flat(Config().model_dump(mode="json"))
    assert set(gpu) == set(defaults)
    assert {key for key in gpu if gpu[key] != defaults[key]} == {
        "model.path",
        "model.dtype",
        "rollout.engine",
        "learner.rollout_correction.mode",
        "logging.wandb.tags",
    }


def test_overrides_apply_and_coerce():
    config = load_config(overrides=["algorithm.name=grpo", "rollout.group_size=4", "learner.lr=3e-4"])
    assert (config.algorithm.name, config.rollout.group_size, config.learner.lr) == ("grpo", 4, 3e-4)


def test_yaml_round_trip(tmp_path):
    original = load_config(
        overrides=["env.name=webshop", "algorithm.kl.coef=0.01", "logging.wandb.tags=[a,b]"]
    )
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(original))
    assert load_config(path) == original


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "algorithm.name=gigpoo",
            "algorithm.name: 'gigpoo' is not one of: grpo, gigpo, epo, aem; did you mean 'gigpo'?",
        ),
        ("algorithm.gama=1", "unknown key 'algorithm.gama'; did you mean 'gamma'?"),
        ("env.name=webshp", "did you mean 'webshop'?"),
        ("rollout.group_size=abc", "rollout.group_size: Input should be a valid integer"),
        ("learner.zero_stage=4", "learner.zero_stage: Input should be 0, 1, 2 or 3"),
        ("learner.offload_params=true", "learner: offload_params needs zero_stage 3"),
        ("learner.loss_agg_mode=mean", "learner.loss_agg_mode: Input should be 'token-mean'"),
        ("learner.clip_ratio_c=1.0", "learner.clip_ratio_c: Input should be greater than 1"),
        ("learner.mini_batches=0", "learner.mini_batches: Input should be greater than or equal to 1"),
        (
            "learner.logits_chunk_size=0",
            "learner.logits_chunk_size: Input should be greater than or equal to 1",
        ),
        ("learner.micro_batch_layout=rows", "learner.micro_batch_layout: Input should be 'auto'"),
        ("learner.min_lr_ratio=2", "learner.min_lr_ratio: Input should be less than or equal to 1"),
        ("learner.betas=[0.9]", "learner.betas"),
        ("algorithm.kl.type=full", "algorithm.kl.type: Input should be 'kl'"),
        (
            "rollout.max_action_chars=0",
            "rollout.max_action_chars: Input should be greater than or equal to 1",
        ),
        ("nosection.x=1", "unknown key 'nosection'"),
        ("rollout.group_size", "is not of the form key.path=value"),
    ],
)
def test_bad_config_names_the_key(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_offload_optimizer_needs_zero():
    with pytest.raises(ConfigError, match="learner: offload_optimizer needs zero_stage >= 1"):
        load_config(overrides=["learner.zero_stage=0", "learner.offload_optimizer=true"])
    assert load_config(
        overrides=["learner.zero_stage=3", "learner.offload_params=true"]
    ).learner.offload_params


def test_every_field_is_documented():
    def walk(model):
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if isinstance(value, Section):
                yield from walk(value)
            if type(model) is not Config:
                yield f"{type(model).__name__}.{name}", field.description

    missing = [key for key, doc in walk(Config()) if not doc]
    assert not missing, f"undocumented config fields: {missing}"


def test_shipped_configs_validate():
    files = sorted((REPO / "configs").glob("*.yaml"))
    assert files, "configs/ holds no experiment file"
    for path in files:
        config = load_config(path)
        assert isinstance(yaml.safe_load(path.read_text()), dict)
        # a pretrained model reads the env's introduction and answer format; only the tiny one goes without
        assert config.rollout.instructions == (config.model.path is not None), path.name


def test_estimator_and_env_names_match_the_registries():
    import algorithms
    import envs

    assert set(ESTIMATOR_NAMES) == set(algorithms.available_estimators())
    assert set(Config().env.model_fields_set | set(type(Config().env).model_fields)) >= set(envs.env_specs())


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "trainer", *args], capture_output=True, text=True, cwd=REPO)


def test_cli_bad_override_exits_2_fast_without_torch():
    start = time.perf_counter()
    result = _cli("train", "algorithm.name=gigpoo")
    assert result.returncode == 2
    assert "did you mean 'gigpo'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert time.perf_counter() - start < 5
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, trainer.cli, trainer.config; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert probe.stdout.strip() == "False"


def test_cli_missing_model_path_exits_2(tmp_path):
    result = _cli("train", f"model.path={tmp_path / 'nope'}")
    assert result.returncode == 2
    assert "model.path: path does not exist" in result.stderr


def test_cli_config_show_prints_resolved_yaml(tmp_path):
    result = _cli("config", "show", "algorithm.name=aem")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["algorithm"]["name"] == "aem"
    assert result.stdout == to_yaml(load_config(REPO / "configs" / "quickstart.yaml", ["algorithm.name=aem"]))
    elsewhere = subprocess.run(
        [sys.executable, "-m", "trainer", "config", "show"], capture_output=True, text=True, cwd=tmp_path
    )  # the quickstart is found beside the package, not in the cwd
    assert elsewhere.returncode == 0 and elsewhere.stdout == to_yaml(load_config(QUICKSTART))
    documented = _cli("config", "show", "--doc")
    assert "algorithm.gamma = 0.95    # GiGPO discount" in documented.stdout


def test_only_demonstration_pools_pay_for_the_alfworld_expert():
    from trainer.build import env_kwargs

    config = load_config(None, ["env.alfworld.expert=search"])
    assert env_kwargs(config, "train")["expert"] is None
    assert env_kwargs(config, "train", with_expert=True)["expert"] == "search"


def test_sampled_evaluation_temperature_is_its_own_setting():
    from trainer.build import eval_runner_config, runner_config

    default = load_config(None, ["rollout.temperature=0.9"])
    assert eval_runner_config(default).sampling.temperature == 0.9
    set_apart = load_config(None, ["rollout.temperature=0.9", "trainer.eval_temperature=0.4"])
    assert eval_runner_config(set_apart).sampling.temperature == 0.4
    assert runner_config(set_apart).sampling.temperature == 0.9


def test_old_logprobs_from_the_engine_only_where_it_computes_like_the_learner():
    from trainer.build import reuse_rollout_logprobs

    assert reuse_rollout_logprobs(load_config(None, ["rollout.engine=hf"]))  # CPU, float32
    assert not reuse_rollout_logprobs(load_config(None, ["model.dtype=bfloat16"]))
    assert not reuse_rollout_logprobs(load_config(None, ["learner.old_logprobs=recompute"]))
    # vLLM reports the policy's log-probs at temperature 1 only, and no entropies
    assert reuse_rollout_logprobs(load_config(None, ["rollout.engine=vllm"]))
    assert not reuse_rollout_logprobs(load_config(None, ["rollout.engine=vllm", "rollout.temperature=0.8"]))
    assert not reuse_rollout_logprobs(load_config(None, ["rollout.engine=vllm", "algorithm.name=epo"]))
    assert reuse_rollout_logprobs(
        load_config(None, ["algorithm.name=epo", "rollout.engine=hf"])
    )  # with entropies
    with pytest.raises(ValueError, match="rollout.temperature=0.8"):
        reuse_rollout_logprobs(
            load_config(
                None, ["learner.old_logprobs=rollout", "rollout.engine=vllm", "rollout.temperature=0.8"]
            )
        )
    with pytest.raises(ValueError, match="bfloat16"):
        reuse_rollout_logprobs(load_config(None, ["learner.old_logprobs=rollout", "model.dtype=bfloat16"]))


def test_engine_settings_reach_the_vllm_engine(tmp_path):
    from rollout.vllm_engine import VLLMEngine
    from trainer.build import engine_kwargs
    from trainer.config import load_config

    config = load_config(
        None,
        [
            "rollout.engine=vllm",
            "rollout.vllm.tensor_parallel_size=2",
            "rollout.vllm.engine_kwargs={max_num_batched_tokens: 16384}",
            "rollout.vllm.sync_chunk_mib=64",
        ],
    )
    kwargs = engine_kwargs(config)
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["llm_kwargs"] == {"max_num_batched_tokens": 16384}
    assert kwargs["sync_chunk_mib"] == 64 and "gpu_memory_utilization" not in kwargs  # auto: the memory plan
    # one process cannot hold a tensor-parallel group here: refused before vLLM is even imported
    with pytest.raises(ValueError, match="one rank per GPU"):
        VLLMEngine(str(tmp_path), tensor_parallel_size=2)


# A default in rollout/ or algorithms/ -> the schema setting the trainer fills it from (``trainer.build``).
SCHEMA_SOURCE = {
    "SamplingParams": {
        "temperature": "rollout.temperature",
        "top_p": "rollout.top_p",
        "top_k": "rollout.top_k",
        "max_new_tokens": "rollout.max_new_tokens",
        "stop": "rollout.stop",
    },
    "PromptConfig": {
        "action_format": "rollout.action_format",
        "history_window": "rollout.history_window",
        "full_history": "rollout.full_history",
        "instructions": "rollout.instructions",
        "restate_after_rejection": "rollout.restate_after_rejection",
    },
    "VLLMEngine": {
        "dtype": "model.dtype",
        "max_model_len": "model.max_context_tokens",
        "gpu_memory_utilization": "rollout.vllm.gpu_memory_utilization",
        "enable_sleep_mode": "rollout.vllm.enable_sleep_mode",
        "enforce_eager": "rollout.vllm.enforce_eager",
        "max_num_seqs": "rollout.vllm.max_num_seqs",
        "tensor_parallel_size": "rollout.vllm.tensor_parallel_size",
        "seed": "trainer.seed",
        "sync_chunk_mib": "rollout.vllm.sync_chunk_mib",
        "score_sampled_distribution": "learner.score_sampled_distribution",
    },
    "VLLMEngine.from_llm": {"sync_chunk_mib": "rollout.vllm.sync_chunk_mib"},
    "HFEngine": {"score_sampled_distribution": "learner.score_sampled_distribution"},
    "rollout_correction": {
        "cap": "learner.rollout_correction.cap",
        "low": "learner.rollout_correction.low",
        "high": "learner.rollout_correction.high",
    },
    "epo_entropy_loss": {
        "coef": "algorithm.epo.coef",
        "alpha": "algorithm.epo.alpha",
        "kappa_low": "algorithm.epo.kappa_low",
        "kappa_high": "algorithm.epo.kappa_high",
        "decay": "algorithm.epo.decay",
        "smoothing": "algorithm.epo.smoothing",
    },
}
# Defaults that are no schema setting, each with what fills it instead.
NOT_IN_SCHEMA = {
    ("SamplingParams", "seed"): "None is unseeded sampling; the trainer passes trainer.seed",
    ("PromptConfig", "intro"): "the env's spec",
    ("PromptConfig", "tool_calls"): "the env's spec",
    ("VLLMEngine", "engine_budget_bytes"): "the memory plan",
    ("VLLMEngine", "learner_growth_bytes"): "the memory plan",
    ("VLLMEngine", "cpu_kv_cache_bytes"): "the memory plan (or rollout.vllm.cpu_kvcache_space_gib)",
    ("VLLMEngine", "enable_prefix_caching"): "always on in a run",
    ("VLLMEngine", "weight_sync"): "the engine picks the path its vLLM build supports",
    ("VLLMEngine", "policy_logprobs"): "learner.old_logprobs, resolved",
    ("VLLMEngine", "rank"): "the process group",
    ("VLLMEngine", "world_size"): "the process group",
    ("VLLMEngine", "peer_exchange"): "built from the process group",
    ("VLLMEngine", "max_lora_rank"): "learner.lora.rank when learner.lora.sync is adapter",
    ("VLLMEngine", "llm_kwargs"): "None is no extra argument; the trainer passes rollout.vllm.engine_kwargs",
    ("HFEngine", "dtype"): "model.dtype resolved (auto is no torch dtype)",
    ("HFEngine", "device"): "the machine",
    ("HFEngine", "max_batch_size"): "the HF engine's own memory bound",
    ("epo_entropy_loss", "agg_mode"): "EPO's entropy term is a sequence mean of token means (the paper's)",
    ("HFEngine", "tokenizer"): "the model folder's, unless an already built model is passed",
    ("VLLMEngine.from_llm", "sleep_enabled"): "how a given vllm.LLM (or a test's stand-in) was built",
    ("VLLMEngine.from_llm", "weight_sync"): "how a given vllm.LLM (or a test's stand-in) was built",
    ("VLLMEngine.from_llm", "policy_logprobs"): "how a given vllm.LLM (or a test's stand-in) was built",
    (
        "VLLMEngine.from_llm",
        "score_sampled_distribution",
    ): "how a given vllm.LLM (or a test's stand-in) was built",
    ("VLLMEngine.from_llm", "keeps_process_group"): "how a given vllm.LLM (or a test's stand-in) was built",
    ("VLLMEngine.from_llm", "serves_adapters"): "how a given vllm.LLM (or a test's stand-in) was built",
}


def _defaults() -> dict[str, dict[str, object]]:
    """Every keyword default of the rollout dataclasses, the engine constructors and the loss terms the schema
    configures, by owner name."""
    import dataclasses
    import inspect

    from algorithms.epo import epo_entropy_loss
    from algorithms.rollout_correction import rollout_correction
    from rollout import HFEngine, PromptConfig, RunnerConfig, SamplingParams, VLLMEngine

    found: dict[str, dict[str, object]] = {}
    for cls in (SamplingParams, PromptConfig, RunnerConfig):
        found[cls.__name__] = {
            f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    functions = {
        "VLLMEngine": VLLMEngine.__init__,
        "VLLMEngine.from_llm": VLLMEngine.from_llm,
        "HFEngine": HFEngine.__init__,
        "rollout_correction": rollout_correction,
        "epo_entropy_loss": epo_entropy_loss,
    }
    for owner, function in functions.items():
        found[owner] = {
            p.name: p.default
            for p in inspect.signature(function).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
    return found


def test_code_defaults_are_the_schemas():
    """A default in rollout/ (dataclasses, engine constructors) or in the loss terms the schema configures is
    the schema's own default, or none: one default per setting."""
    schema = flat(Config().model_dump(mode="json"))
    for owner, defaults in _defaults().items():
        for name, default in defaults.items():
            if (owner, name) in NOT_IN_SCHEMA:
                continue
            source = SCHEMA_SOURCE.get(owner, {}).get(name)
            assert source is not None, f"{owner}.{name} has a default but no schema setting"
            expected = schema[source]
            assert default == (tuple(expected) if isinstance(default, tuple) else expected), (
                f"{owner}.{name} defaults to {default!r}, the schema's {source} to {expected!r}"
            )


def test_a_quantized_engine_is_refused_naming_the_key():
    """In-place weight loads bypass vLLM's load-time quantization: the combination is a config error."""
    with pytest.raises(
        ConfigError, match=r"^rollout\.vllm\.engine_kwargs: quantization='fp8' cannot be used"
    ):
        load_config(None, ["rollout.vllm.engine_kwargs={quantization: fp8}"])
    assert load_config(None, ["rollout.vllm.engine_kwargs={quantization: null}"])


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_invalid_penalty_only_reaches_the_estimator(name):
    """The schema's setting is passed to every estimator (to the base under epo/aem), which accepts it."""
    import torch

    from algorithms import StepBatch, estimate
    from trainer.build import estimator_call

    for value in (False, True):
        config = load_config(overrides=[f"algorithm.name={name}", f"algorithm.invalid_penalty_only={value}"])
        estimator, params = estimator_call(config)
        assert params["invalid_penalty_only"] is value
        batch = StepBatch(
            group_id=["g", "g"],
            traj_id=["a", "b"],
            step=[0, 0],
            reward=torch.tensor([10.0, 0.0]),
            anchor=["s", "t"],  # no shared state: GiGPO's step term is 0
            valid=torch.tensor([False, True]),
            response_mask=torch.ones(2, 1),
            old_logprobs=torch.zeros(2, 1),
            entropy=torch.zeros(2, 1),
        )
        advantage = estimate(estimator, batch, **params)[0, 0].item()
        assert (advantage < 0) is value  # the rejected turn of the won episode
