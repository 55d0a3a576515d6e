"""Learner throughput: PPO update tokens/s (+ MFU on a known GPU), scoring tokens/s, weight-sync time.

CPU (default): the tiny Qwen2 model, fp32, ZeRO-2, one process:
    python scripts/bench/bench_learner.py
GPU: a Qwen2.5-1.5B-shaped model built from its config (random weights, written once to --work-dir), bf16,
gradient checkpointing, on every GPU of the node:
    torchrun --nproc_per_node 8 scripts/bench/bench_learner.py --model qwen2.5-1.5b --stage 3 \
        --gradient-checkpointing --rows 64 --prompt-len 1024 --response-len 512 --max-tokens 16384
``--model`` also takes a local Hugging Face folder. Data are random token ids; tokens/s counts every
sequence token (prompt + response) the pass processed, over all ranks. Weight sync streams
``Learner.named_weights()`` (ZeRO-3: gathered layer by layer) into a receiver that copies each tensor into
a preallocated buffer on the same device, which is what an in-place engine update costs on the learner side.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

from trainer.config import KLConfig, LearnerConfig
from trainer.learner import Learner, LearnerSetup

QWEN25_15B = {  # Qwen/Qwen2.5-1.5B-Instruct config.json
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}


def prepare_model(name: str, work_dir: Path) -> tuple[Path, int]:
    """A local model folder for ``name`` and its vocabulary size (random weights for the built-in shapes)."""
    if name == "tiny":
        from trainer.tiny_model import build_tiny_model, default_corpus

        path = build_tiny_model(work_dir / "tiny", default_corpus())
    elif name == "qwen2.5-1.5b":
        path = work_dir / "qwen2.5-1.5b-random"
        if not (path / "config.json").exists() and _rank() == 0:
            from transformers import Qwen2Config, Qwen2ForCausalLM

            torch.manual_seed(0)
            model = Qwen2ForCausalLM(Qwen2Config(**QWEN25_15B)).to(torch.bfloat16)
            model.save_pretrained(path)
        _wait_for(path / "config.json")
    else:
        path = Path(name)
    from transformers import AutoConfig

    return path, int(AutoConfig.from_pretrained(path).vocab_size)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _wait_for(path: Path, timeout_s: float = 1800) -> None:
    start = time.time()
    while not path.exists():
        if time.time() - start > timeout_s:
            raise TimeoutError(f"{path} did not appear (rank 0 builds it)")
        time.sleep(1)


def synthetic_rows(rows: int, prompt_len: int, response_len: int, vocab: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    prompts, responses = [], []
    for _ in range(rows):
        p = int(torch.randint(prompt_len // 2, prompt_len + 1, (1,), generator=generator))
        r = int(torch.randint(response_len // 2, response_len + 1, (1,), generator=generator))
        prompts.append(torch.randint(10, vocab, (p,), generator=generator).tolist())
        responses.append(torch.randint(10, vocab, (r,), generator=generator).tolist())
    return prompts, responses


class BufferReceiver:
    """Copies each streamed tensor into a buffer preallocated on first use (an engine's in-place load)."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}
        self.bytes = 0

    def load_weights(self, weights) -> None:
        self.bytes = 0
        for name, tensor in weights:
            if name not in self.buffers:
                self.buffers[name] = torch.empty_like(tensor)
            self.buffers[name].copy_(tensor)
            self.bytes += tensor.numel() * tensor.element_size()
        if torch.cuda.is_available():
            torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny", help="tiny | qwen2.5-1.5b | a local HF folder")
    parser.add_argument("--work-dir", default="runs/_bench_learner")
    parser.add_argument("--stage", type=int, default=2, choices=[0, 1, 2, 3])
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--rows", type=int, default=32, help="turns per rank")
    parser.add_argument("--prompt-len", type=int, default=192)
    parser.add_argument("--response-len", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=2048, help="max_tokens_per_micro_batch")
    parser.add_argument("--mini-batches", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    path, vocab = prepare_model(args.model, Path(args.work_dir))
    # the bare PPO update: no entropy bonus and no KL reference, whose extra passes would blur the figures
    setup = LearnerSetup(
        learner=LearnerConfig(
            zero_stage=args.stage,
            gradient_checkpointing=args.gradient_checkpointing,
            max_tokens_per_micro_batch=args.max_tokens,
            mini_batches=args.mini_batches,
            entropy_coeff=0.0,
        ),
        model_path=str(path),
        dtype=args.dtype,
        kl=KLConfig(coef=0.0),
        temperature=1.0,
        top_p=1.0,
        top_k=-1,
        seed=0,
        total_optimizer_steps=1,
    )
    learner = Learner(setup)
    prompts, responses = synthetic_rows(
        args.rows, args.prompt_len, args.response_len, vocab, seed=learner.dist.rank
    )
    receiver = BufferReceiver()

    # warm-up (allocator, kernels, ZeRO-3 prefetch trace); zero advantages leave the weights as they are
    warm, _ = learner.score(prompts, responses)
    learner.update(prompts, responses, torch.zeros_like(warm), warm)
    learner.sync_to(receiver)

    score_tps, score_mfu, update_tps, update_mfu, sync_s = [], [], [], [], []
    for _ in range(args.repeats):
        old, _ = learner.score(prompts, responses)
        score_tps.append(learner.last_scoring["perf/policy_score_tokens_per_s"])
        score_mfu.append(learner.last_scoring.get("perf/policy_score_mfu"))
        advantages = torch.randn(old.shape) * (old != 0)
        metrics = learner.update(prompts, responses, advantages, old)
        update_tps.append(metrics["perf/update_tokens_per_s"])
        update_mfu.append(metrics.get("perf/update_mfu"))
        sync_s.append(learner.sync_to(receiver))

    if learner.dist.rank != 0:
        return
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else platform.processor() or platform.machine()
    )
    tokens = sum(len(p) + len(r) for p, r in zip(prompts, responses))

    def best(values):
        return max(values)

    def pct(values):
        return "n/a" if values[0] is None else f"{100 * max(values):.1f} %"

    params = sum(getattr(p, "ds_numel", p.numel()) for p in learner.ds_engine.module.parameters())
    print(f"\n## Learner benchmark ({datetime.datetime.now().isoformat(timespec='seconds')})\n")
    print(
        f"- machine: {platform.node()}, {os.cpu_count()} CPU cores, device: {device}, world size {learner.dist.world_size}"
    )
    print(f"- command: `{' '.join(sys.argv)}`")
    print(
        f"- model: {args.model} ({params / 1e6:.1f} M params), dtype {learner.policy.dtype}, ZeRO-{args.stage}, "
        f"gradient checkpointing {args.gradient_checkpointing}, {args.rows} rows/rank, {tokens} tokens/rank, "
        f"micro-batch budget {args.max_tokens} tokens; best of {args.repeats}\n"
    )
    print("| pass | tokens/s (all ranks) | MFU |")
    print("|---|---|---|")
    print(f"| scoring (log-probs + entropy, no grad) | {best(score_tps):,.0f} | {pct(score_mfu)} |")
    print(f"| PPO update (fwd + bwd + step) | {best(update_tps):,.0f} | {pct(update_mfu)} |")
    print(
        f"\n| weight sync | seconds | GB |\n|---|---|---|\n| named_weights -> buffers | {min(sync_s):.4f} | {receiver.bytes / 1e9:.3f} |"
    )


if __name__ == "__main__":
    main()
