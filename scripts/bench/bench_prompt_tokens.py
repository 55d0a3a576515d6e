"""Tokens per SFT prompt and answer of a quickstart config, with the plain BPE and with the env's atomic strings.

Plays the warm start's expert demonstrations (``trainer.sft``), builds the tiny tokenizer twice from their text, once
plain and once keeping the env spec's ``atomic_strings`` whole, and prints a markdown table of the lengths.

    python scripts/bench/bench_prompt_tokens.py --config configs/quickstart_webshop.yaml [overrides ...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="config file (default: the quickstart)")
    parser.add_argument("overrides", nargs="*", help="dotted config overrides")
    args = parser.parse_args()

    from transformers import AutoTokenizer

    from rollout import PromptBuilder
    from trainer.build import env_pool, env_spec, runner_config, splits
    from trainer.config import load_config
    from trainer.tiny_model import build_tiny_model
    from trainer.warm_start import collect_demonstrations, response_text, tiny_model_spec

    config = load_config(args.config, args.overrides)
    spec, sft = env_spec(config), config.trainer.sft
    with env_pool(config, splits(config)[0], min(32, sft.episodes), with_expert=True) as pool:
        rng = random.Random(config.trainer.seed)
        tasks = [rng.choice(list(pool.task_ids)) for _ in range(sft.episodes)]
        demos = collect_demonstrations(
            pool,
            tasks,
            runner_config(config),
            noise=sft.noise,
            seed=config.trainer.seed,
            expert_text=spec.expert_text,
        )
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
    answers = [response_text(d.action, config.rollout.action_format, spec.tool_calls) for d in demos]
    atomic = spec.atomic_strings(getattr(config.env, spec.name)) if spec.atomic_strings else []
    print(f"{len(demos)} demonstrated turns on {config.env.name}; {len(set(atomic))} atomic strings\n")
    print("| tokenizer | vocabulary | prompt tokens, mean | max | answer tokens, mean |")
    print("|---|---|---|---|---|")
    for name, names in (("plain BPE", []), ("atomic strings", atomic)):
        folder = build_tiny_model(
            Path(tempfile.mkdtemp()) / "model", texts + answers, tiny_model_spec(config), names
        )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        builder = PromptBuilder(tokenizer, runner_config(config).prompt)
        prompts = [len(builder.build(d.memory).token_ids) for d in demos]
        answer_tokens = [len(tokenizer.encode(a, add_special_tokens=False)) for a in answers]
        print(
            f"| {name} | {len(tokenizer)} | {statistics.mean(prompts):.0f} | {max(prompts)} | "
            f"{statistics.mean(answer_tokens):.1f} |"
        )


if __name__ == "__main__":
    main()
