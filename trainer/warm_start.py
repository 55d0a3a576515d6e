"""The policy the RL run starts from: a local model folder, or a tiny model warm-started on expert turns.

With ``model.path`` empty (the quickstart), this plays the env's own expert (``info["expert_action"]``) on
training tasks, as the episode runner's policy, trains a BPE tokenizer on the text it saw, builds the tiny model,
and fine-tunes it on the expert's action at every visited state. In a share ``sft.noise`` of the turns the episode
continues with a random admissible action instead (the label stays the expert's), so the demonstrations also
cover the states a wrong move leads to and how to recover from them (DAgger-style). Which expert plays is the
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
    EpisodeMemory,
    EpisodeRunner,
    LiveEpisode,
    ParsedAction,
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


class ExpertPolicy:
    """The env's expert as the runner's policy, keeping a demonstration of every turn it is asked about.

    It plays the expert's action, except in a share ``noise`` of the turns where another admissible action is
    played instead; the demonstration's label stays the expert's, so the detours teach how to recover.
    ``expert_text`` turns ``info["expert_action"]`` into the text a model writes (the env spec's). No prompt is
    tokenized here: the tokenizer is trained on these demonstrations afterwards.
    """

    policy_version = None

    def __init__(self, expert_text: Callable[[Any], str], *, noise: float, seed: int) -> None:
        self.expert_text = expert_text
        self.noise = noise
        self.rng = random.Random(seed)
        self.demonstrations: list[DemoTurn] = []

    def choose(self, episodes: Sequence[LiveEpisode], sampling: SamplingParams) -> list[Choice]:
        choices = []
        for episode in episodes:
            expert = self.expert_text(episode.info.get("expert_action"))
            self.demonstrations.append(DemoTurn(copy.deepcopy(episode.memory), expert))
            others = [a for a in (episode.memory.admissible_actions or []) if a != expert]
            action = self.rng.choice(others) if others and self.rng.random() < self.noise else expert
            choices.append(Choice(ParsedAction(action, True), [], Completion([], action, [])))
        return choices

    def drain(self) -> None:
        """No engine serves other ranks here: nothing to wait for."""


def collect_demonstrations(
    pool, task_ids: list, config: RunnerConfig, *, noise: float, seed: int, expert_text: Callable[[Any], str]
) -> list[DemoTurn]:
    """The expert's demonstrations on one episode per entry of ``task_ids`` (reset seed: ``seed`` + its index),
    played by the runner under ``config``'s turn limit and memory rules."""
    expert = ExpertPolicy(expert_text, noise=noise, seed=seed)
    runner = EpisodeRunner(None, None, pool, config, policy=expert)
    episodes = runner.run(task_ids, group_size=1, seed=seed, desc="demonstrations")
    log.info(
        "demonstrations: %d turns from %d episodes (%d won, %d env errors)",
        len(expert.demonstrations),
        len(episodes),
        sum(episode.won for episode in episodes),
        sum(episode.env_error is not None for episode in episodes),
    )
    return expert.demonstrations


def prepare_policy(config: Config, run_dir: Path) -> Path:
    """Folder of the model RL starts from (built and warm-started once per run when no path is given)."""
    if config.model.path:
        return Path(config.model.path).expanduser()
    out = run_dir / "sft_model"
    if (out / "config.json").exists():
        log.info("reusing warm-started model %s", out)
        return out

    train_split, _ = splits(config)
    sft = config.trainer.sft
    with env_pool(config, train_split, min(32, sft.episodes), with_expert=True) as pool:
        ids = list(pool.task_ids)
        rng = random.Random(config.trainer.seed)
        task_ids = [rng.choice(ids) for _ in range(sft.episodes)]
        demos = collect_demonstrations(
            pool,
            task_ids,
            runner_config(config),
            noise=sft.noise,
            seed=config.trainer.seed,
            expert_text=env_spec(config).expert_text,
        )

    prompt_config = runner_config(config).prompt
    writer = PromptBuilder(None, prompt_config)
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
    texts += [response_text(d.action, config.rollout.action_format, tool_calls) for d in demos]
    spec = env_spec(config)
    atomic = spec.atomic_strings(getattr(config.env, spec.name)) if spec.atomic_strings else []
    base = build_tiny_model(run_dir / "base_model", texts, tiny_model_spec(config), atomic)

    if not sft.enabled:
        return base
    return _finetune(config, base, demos, out)


def tiny_model_spec(config: Config) -> TinyModelSpec:
    """The shape ``model.tiny`` asks for, with positions for the whole context (vLLM refuses a
    ``max_model_len`` beyond the model's ``max_position_embeddings``)."""
    tiny = config.model.tiny
    return TinyModelSpec(
        **tiny.model_dump(), max_position_embeddings=config.model.max_context_tokens, seed=config.trainer.seed
    )


def _finetune(config: Config, base: Path, demos: list[DemoTurn], out: Path) -> Path:

    torch.manual_seed(config.trainer.seed)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    builder = PromptBuilder(tokenizer, runner_config(config).prompt)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pairs = []
    for demo in demos:
        text = response_text(demo.action, config.rollout.action_format, env_spec(config).tool_calls)
        answer = tokenizer.encode(text, add_special_tokens=False)
        pairs.append((builder.build(demo.memory).token_ids, answer + [eos]))
    sft = config.trainer.sft
    supervised_finetune(
        model,
        pairs,
        steps=sft.steps,
        batch_size=sft.batch_size,
        lr=sft.lr,
        pad_id=tokenizer.pad_token_id,
        seed=config.trainer.seed,
        progress=config.logging.progress,
    )
    staging = Path(tempfile.mkdtemp(prefix=".sft_model.", dir=out.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out
