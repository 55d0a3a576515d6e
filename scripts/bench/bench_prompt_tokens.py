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
    from trainer.build import runner_config
    from trainer.config import load_config
    from trainer.tiny_model import build_tiny_model
    from trainer.warm_start import atomic_strings, expert_demonstrations, tiny_model_spec, tokenizer_corpus

    config = load_config(args.config, args.overrides)
    demos, _ = expert_demonstrations(config, random.Random(config.trainer.seed))
    corpus = tokenizer_corpus(config, demos)
    answers = corpus[len(demos) :]
    atomic = atomic_strings(config)
    print(f"{len(demos)} demonstrated turns on {config.env.name}; {len(set(atomic))} atomic strings\n")
    print("| tokenizer | vocabulary | prompt tokens, mean | max | answer tokens, mean |")
    print("|---|---|---|---|---|")
    for name, names in (("plain BPE", []), ("atomic strings", atomic)):
        folder = build_tiny_model(Path(tempfile.mkdtemp()) / "model", corpus, tiny_model_spec(config), names)
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
