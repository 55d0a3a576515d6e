"""The policy the RL run starts from: a local model folder, or a tiny model warm-started on expert turns.

With ``model.path`` empty (the quickstart), this plays the env's own expert (``info["expert_action"]``)
on training tasks, trains a BPE tokenizer on the text it saw, builds the tiny model, and fine-tunes it on
the expert's action at every visited state. In a share ``sft.noise`` of the turns the episode continues with a
random admissible action instead (the label stays the expert's), so the demonstrations also cover the
states a wrong move leads to and how to recover from them (DAgger-style). Which expert plays is the env's own
business (e.g. ``env.alfworld.expert``). The result is one Hugging Face folder per run, reused on resume.
"""

from __future__ import annotations

import copy
import logging
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rollout import EpisodeMemory, PromptBuilder
from trainer.build import env_pool, env_spec, max_turns, runner_config, splits
from trainer.config import Config
from trainer.sft import supervised_finetune
from trainer.tiny_model import TinyModelSpec, build_tiny_model

log = logging.getLogger("turnrl")


@dataclass
class DemoTurn:
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


def collect_demonstrations(
    pool, task_ids: list, *, turn_limit: int, noise: float, seed: int, expert_text: Callable[[Any], str]
) -> list[DemoTurn]:
    """Expert-labelled turns of episodes on ``task_ids`` that take a random detour with probability ``noise``;
    ``expert_text`` turns ``info["expert_action"]`` into the text a model writes (the env spec's)."""
    rng = random.Random(seed)
    turns: list[DemoTurn] = []
    wins = 0
    for start in range(0, len(task_ids), pool.num_envs):
        chunk = task_ids[start : start + pool.num_envs]
        slots = list(range(len(chunk)))
        resets = pool.reset(slots, chunk, [seed + start + i for i in slots])
        live = {}
        for slot, (obs, info) in zip(slots, resets):
            if info.get("env_error"):
                log.warning("demo reset failed: %s", info["env_error"])
                continue
            memory = EpisodeMemory(
                task=str(info.get("task") or ""),
                observation=obs,
                admissible_actions=info.get("admissible_actions"),
            )
            live[slot] = (memory, info)
        for _ in range(turn_limit):
            if not live:
                break
            actions = {}
            for slot, (memory, info) in live.items():
                expert = expert_text(info.get("expert_action"))
                others = [a for a in (memory.admissible_actions or []) if a != expert]
                turns.append(DemoTurn(copy.deepcopy(memory), expert))
                actions[slot] = rng.choice(others) if others and rng.random() < noise else expert
            results = pool.step(list(actions), list(actions.values()))
            for (slot, action), result in zip(actions.items(), results):
                memory, _ = live[slot]
                if result.terminated or result.truncated:
                    wins += bool(result.info.get("won"))
                    del live[slot]
                else:
                    memory.record(action, result.obs, result.info.get("admissible_actions"))
                    live[slot] = (memory, result.info)
    log.info("demonstrations: %d turns from %d episodes (%d won)", len(turns), len(task_ids), wins)
    return turns


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
            turn_limit=max_turns(config),
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
    base = build_tiny_model(run_dir / "base_model", texts, tiny_model_spec(config))

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
