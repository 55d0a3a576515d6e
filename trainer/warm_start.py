"""The policy the RL run starts from: a local model folder, or a tiny model warm-started on expert turns.

With ``model.path`` empty (the quickstart), this plays the env's own expert (``info["expert_action"]``) on
training tasks, as the episode runner's policy, trains a BPE tokenizer on the text it saw, builds the tiny model,
and fine-tunes it on the expert's action at every visited state. In a share ``sft.noise`` of the turns the episode
continues with a random admissible action instead (the label stays the expert's), so the demonstrations also
cover the states a wrong move leads to and how to recover from them. The expert's detours are always admissible,
though: states after a rejected action, and the loops a student falls into, only appear when the student plays.
``sft.dagger_rounds`` adds them (DAgger, Ross et al. 2011): the fine-tuned model plays training episodes, the
expert labels every state it visited, and SFT goes on over all demonstrations so far. Which expert plays is the
env's own business (e.g. ``env.alfworld.expert``). The result is one Hugging Face folder per run, reused on
resume.
"""

from __future__ import annotations

import copy
import logging
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rollout import (
    Choice,
    Completion,
    EnginePolicy,
    EpisodeMemory,
    EpisodeRunner,
    HFEngine,
    LiveEpisode,
    ParsedAction,
    Policy,
    PromptBuilder,
    RunnerConfig,
    SamplingParams,
)
from trainer.build import env_pool, env_spec, runner_config, splits
from trainer.config import Config
from trainer.sft import supervised_finetune
from trainer.tiny_model import TinyModelSpec, build_tiny_model

log = logging.getLogger("turnrl")


@dataclass
class DemoTurn:
    """One SFT example: the episode as the prompt shows it before the turn, and the expert's action there."""

    memory: EpisodeMemory
    action: str


def response_text(action: str, action_format: str, tool_calls: bool = False) -> str:
    """The answer a demonstration teaches, in the format the prompt asks for (SWE: a tool-call block).

    The action follows the tag after a space, as each entry of the prompt's admissible list follows its
    dash: the answer's words are then the very tokens of the list (`` take``, not ``take``), and a tiny
    model learns to copy the whole action rather than to respell its first word.
    """
    answer = action if tool_calls else f"<action> {action}</action>"
    if action_format == "think_action":
        return f"<think>I should do this next.</think>{answer}"
    return answer


class DemonstrationRecorder:
    """Wraps the policy that plays and keeps a demonstration of every turn it is asked about: the episode as the
    prompt shows it before the turn, labelled with the expert's action there (``expert_text`` turns
    ``info["expert_action"]`` into the text a model writes: the env spec's)."""

    def __init__(self, acting: Policy, expert_text: Callable[[Any], str]) -> None:
        self.acting = acting
        self.expert_text = expert_text
        self.demonstrations: list[DemoTurn] = []

    @property
    def policy_version(self):
        return self.acting.policy_version

    def choose(self, episodes: Sequence[LiveEpisode], sampling: SamplingParams) -> list[Choice]:
        for episode in episodes:
            label = self.expert_text(episode.info.get("expert_action"))
            self.demonstrations.append(DemoTurn(copy.deepcopy(episode.memory), label))
        return self.acting.choose(episodes, sampling)

    def drain(self) -> None:
        self.acting.drain()


class ExpertPolicy:
    """The env's expert as the runner's policy: it plays the expert's action, except in a share ``noise`` of the
    turns where another admissible action is played instead. No prompt is tokenized here: the tokenizer is
    trained on the demonstrations afterwards."""

    policy_version = None

    def __init__(self, expert_text: Callable[[Any], str], *, noise: float, seed: int) -> None:
        self.expert_text = expert_text
        self.noise = noise
        self.rng = random.Random(seed)

    def choose(self, episodes: Sequence[LiveEpisode], sampling: SamplingParams) -> list[Choice]:
        choices = []
        for episode in episodes:
            expert = self.expert_text(episode.info.get("expert_action"))
            others = [a for a in (episode.memory.admissible_actions or []) if a != expert]
            action = self.rng.choice(others) if others and self.rng.random() < self.noise else expert
            choices.append(Choice(ParsedAction(action, True), [], Completion([], action, [])))
        return choices

    def drain(self) -> None:
        """No engine serves other ranks here: nothing to wait for."""


def record_demonstrations(
    pool,
    task_ids: list,
    config: RunnerConfig,
    acting: Policy,
    *,
    seed: int,
    expert_text: Callable[[Any], str],
    desc: str = "demonstrations",
) -> list[DemoTurn]:
    """The expert's label at every state ``acting`` visits on one episode per entry of ``task_ids`` (reset
    seed: ``seed`` + its index), played by the runner under ``config``'s turn limit, memory rules and sampling."""
    recorder = DemonstrationRecorder(acting, expert_text)
    runner = EpisodeRunner(None, None, pool, config, policy=recorder)
    episodes = runner.run(task_ids, group_size=1, seed=seed, desc=desc)
    log.info(
        "%s: %d turns from %d episodes (%d won, %d env errors)",
        desc,
        len(recorder.demonstrations),
        len(episodes),
        sum(episode.won for episode in episodes),
        sum(episode.env_error is not None for episode in episodes),
    )
    return recorder.demonstrations


def collect_demonstrations(
    pool, task_ids: list, config: RunnerConfig, *, noise: float, seed: int, expert_text: Callable[[Any], str]
) -> list[DemoTurn]:
    """The expert's own demonstrations (it plays, with ``noise`` detours)."""
    expert = ExpertPolicy(expert_text, noise=noise, seed=seed)
    return record_demonstrations(pool, task_ids, config, expert, seed=seed, expert_text=expert_text)


def expert_demonstrations(config: Config, rng: random.Random) -> tuple[list[DemoTurn], list]:
    """The expert's demonstrations on ``trainer.sft.episodes`` training tasks drawn with ``rng``, and the
    training split's task ids."""
    train_split, _ = splits(config)
    sft = config.trainer.sft
    with env_pool(config, train_split, min(32, sft.episodes), with_expert=True) as pool:
        ids = list(pool.task_ids)
        task_ids = [rng.choice(ids) for _ in range(sft.episodes)]
        demos = collect_demonstrations(
            pool,
            task_ids,
            runner_config(config),
            noise=sft.noise,
            seed=config.trainer.seed,
            expert_text=env_spec(config).expert_text,
        )
    return demos, ids


def tokenizer_corpus(config: Config, demos: list[DemoTurn]) -> list[str]:
    """The text the tiny tokenizer learns from: each demonstration's prompt (its last two turns) and answer."""
    writer = PromptBuilder(None, runner_config(config).prompt)
    texts = [
        writer.render_text(
            {
                "task": d.memory.task,
                "observation": d.memory.observation,
                "actions": d.memory.admissible_actions,
            },
            d.memory.turns[-2:],
            0,
        )
        for d in demos
    ]
    tool_calls = env_spec(config).tool_calls
    return texts + [response_text(d.action, config.rollout.action_format, tool_calls) for d in demos]


def atomic_strings(config: Config) -> list[str]:
    """The names the env's spec asks the tiny tokenizer to keep whole (none for most envs)."""
    spec = env_spec(config)
    return spec.atomic_strings(getattr(config.env, spec.name)) if spec.atomic_strings else []


def prepare_policy(config: Config, run_dir: Path) -> Path:
    """Folder of the model RL starts from (built and warm-started once per run when no path is given)."""
    if config.model.path:
        return Path(config.model.path).expanduser()
    out = run_dir / "sft_model"
    if (out / "config.json").exists():
        log.info("reusing warm-started model %s", out)
        return out

    sft = config.trainer.sft
    rng = random.Random(config.trainer.seed)
    demos, train_ids = expert_demonstrations(config, rng)
    base = build_tiny_model(
        run_dir / "base_model",
        tokenizer_corpus(config, demos),
        tiny_model_spec(config),
        atomic_strings(config),
    )

    if not sft.enabled:
        return base
    torch.manual_seed(config.trainer.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    pairs = _sft_pairs(config, tokenizer, demos)
    _finetune(config, model, tokenizer.pad_token_id, pairs, steps=sft.steps)
    for round_index in range(sft.dagger_rounds):
        task_ids = [rng.choice(train_ids) for _ in range(sft.dagger_episodes)]
        student = student_demonstrations(config, model, tokenizer, task_ids, round_index)
        pairs += _sft_pairs(config, tokenizer, student)
        _finetune(config, model, tokenizer.pad_token_id, pairs, steps=sft.dagger_steps)
    return _save(model, tokenizer, out)


def student_demonstrations(
    config: Config, model, tokenizer, task_ids: list, round_index: int
) -> list[DemoTurn]:
    """One DAgger round's data: ``model`` plays ``task_ids`` sampling as in RL (the states RL starts from,
    rejected actions and loops included) and the expert labels every state it visited."""
    train_split, _ = splits(config)
    settings = runner_config(config)
    engine = HFEngine(model, tokenizer, max_batch_size=64)
    student = EnginePolicy(engine, PromptBuilder(tokenizer, settings.prompt), settings.max_action_chars)
    with env_pool(config, train_split, min(32, len(task_ids)), with_expert=True) as pool:
        return record_demonstrations(
            pool,
            task_ids,
            settings,
            student,
            seed=config.trainer.seed + 1_000 * (round_index + 1),
            expert_text=env_spec(config).expert_text,
            desc=f"DAgger round {round_index + 1}",
        )


def tiny_model_spec(config: Config) -> TinyModelSpec:
    """The shape ``model.tiny`` asks for, with positions for the whole context (vLLM refuses a
    ``max_model_len`` beyond the model's ``max_position_embeddings``)."""
    tiny = config.model.tiny
    return TinyModelSpec(
        **tiny.model_dump(), max_position_embeddings=config.model.max_context_tokens, seed=config.trainer.seed
    )


def _sft_pairs(config: Config, tokenizer, demos: list[DemoTurn]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids + end of turn) of each demonstration, as the rollout's prompts show it."""
    builder = PromptBuilder(tokenizer, runner_config(config).prompt)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    tool_calls = env_spec(config).tool_calls
    pairs = []
    for demo in demos:
        text = response_text(demo.action, config.rollout.action_format, tool_calls)
        answer = tokenizer.encode(text, add_special_tokens=False)
        pairs.append((builder.build(demo.memory).token_ids, answer + [eos]))
    return pairs


def _finetune(config: Config, model, pad_id: int, pairs: list, *, steps: int) -> None:
    """``steps`` of SFT on ``pairs``, in place (a DAgger round continues from where the last one stopped)."""
    sft = config.trainer.sft
    supervised_finetune(
        model,
        pairs,
        steps=steps,
        batch_size=sft.batch_size,
        lr=sft.lr,
        pad_id=pad_id,
        seed=config.trainer.seed,
        progress=config.logging.progress,
    )


def _save(model, tokenizer, out: Path) -> Path:
    """Write the warm-started model to ``out`` at once (a folder with ``config.json`` is reused on resume)."""
    staging = Path(tempfile.mkdtemp(prefix=".sft_model.", dir=out.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out
