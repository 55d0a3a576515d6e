"""One `turnrl train` run whose device memory is a ledger, launched by tests/test_memory_ordering.py.

The run is the real one (``trainer.run.train``: learner built, engine sized, evaluation, steps with the
optimizer's first step, sleep, wake weights, sync, wake KV cache, checkpoint save, and resume in a second run),
on the tiny model and the toy env. What it would take on a GPU is kept in a ledger that stands in for one 80 GiB
device and raises ``torch.OutOfMemoryError`` the way CUDA does when an allocation does not fit:
- the learner's allocations are those of a Qwen2.5-1.5B-shaped bf16 learner under DeepSpeed ZeRO-1/2 on one
  GPU (weights 2, fp32 master 4 bytes per parameter when built; fp32 gradients 4 and Adam 8 at the first
  optimizer step or when a checkpoint's optimizer states are loaded; activations and logits while it
  updates or scores), hooked onto the real ``Learner``'s methods;
- ``vllm.LLM`` is a stand-in that behaves as vLLM 0.26 with sleep mode: at start it refuses unless
  ``gpu_memory_utilization`` x total is free, then holds its weights and a KV cache filling that share; sleep
  level 2 frees both; each wake retakes its part;
- CUDA is present for the engine's sizing (``torch.cuda.mem_get_info`` answers from the ledger) and for the
  trainer's memory plan, which plans the same shape (``trainer.memory_plan.config_model_shape``).
Usage: python tests/memory_ledger.py RUN_DIR STEPS EVENTS_JSON
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import torch

REPO = Path(__file__).resolve().parents[1]
GIB = 2**30
TOTAL = 80 * GIB
PARAMS = 1_543_714_304  # Qwen2.5-1.5B (tests/data/model_shapes), biases and norms left out
CUDA_CONTEXT = GIB // 2
LEARNER_AT_BUILD = {
    "learner_weights": 2 * PARAMS,
    "master_weights": 4 * PARAMS,
    "reference_model": 2 * PARAMS,
}
LEARNER_AT_FIRST_STEP = {"gradients": 4 * PARAMS, "optimizer_states": 8 * PARAMS}
UPDATE_TRANSIENT = 14 * GIB  # activations and logits of one micro-batch
SCORE_TRANSIENT = 5 * GIB
ENGINE_WEIGHTS = 2 * PARAMS
ENGINE_PROFILE = 2 * GIB  # vLLM's profiling forward and CUDA graphs, inside its share

OVERRIDES = [
    "env.name=toy",
    "rollout.engine=vllm",
    "rollout.max_turns=2",
    "rollout.tasks_per_step=2",
    "rollout.group_size=2",
    "rollout.max_new_tokens=8",
    "model.dtype=float32",
    "model.max_context_tokens=4096",
    "model.tiny.hidden_size=32",
    "model.tiny.intermediate_size=64",
    "model.tiny.num_hidden_layers=1",
    "model.tiny.vocab_size=400",
    "learner.zero_stage=2",
    "learner.mini_batches=1",
    "algorithm.kl.coef=0.01",
    "trainer.eval_episodes=2",
    "trainer.eval_sampled=false",
    "trainer.save_every=1",
    "trainer.sft.enabled=false",
    "trainer.sft.episodes=4",  # demonstrations still build the tokenizer
    "env.num_workers=1",
    "logging.wandb.mode=disabled",
    "logging.progress=false",
    # the stand-in engine answers every prompt with one fixed token and log-prob: there is no policy for the
    # policy guard to compare (tests/test_policy_guard*.py test it)
    "trainer.max_policy_gap=1e9",
]


class DeviceLedger:
    """Named allocations against a fixed budget; an allocation that does not fit raises as CUDA does."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held: dict[str, int] = {"cuda_context": CUDA_CONTEXT}
        self.events: list[dict] = []

    @property
    def used(self) -> int:
        return sum(self.held.values())

    def mem_get_info(self, device=None) -> tuple[int, int]:
        return self.total - self.used, self.total

    def allocate(self, name: str, size: int) -> None:
        if self.used + size > self.total:
            self.events.append({"event": f"OOM allocating {name}", "gib": size / GIB})
            raise torch.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {size / GIB:.2f} GiB for {name}; "
                f"{(self.total - self.used) / GIB:.2f} GiB free of {self.total / GIB:.2f} GiB "
                f"(held: { {k: round(v / GIB, 2) for k, v in self.held.items()} })"
            )
        self.held[name] = self.held.get(name, 0) + size
        self.events.append({"event": f"+{name}", "used_gib": round(self.used / GIB, 2)})

    def free(self, name: str) -> None:
        if self.held.pop(name, None) is not None:
            self.events.append({"event": f"-{name}", "used_gib": round(self.used / GIB, 2)})


LEDGER = DeviceLedger(TOTAL)


class _Model:
    def load_weights(self, weights):
        return {name for name, _ in weights}


class LedgerLLM:
    """``vllm.LLM`` on a GPU with sleep mode, as far as memory goes; generation answers end-of-turn at once."""

    def __init__(self, model: str, gpu_memory_utilization: float = 0.9, **kwargs) -> None:
        from transformers import AutoTokenizer

        share = int(gpu_memory_utilization * LEDGER.total)
        free, _ = LEDGER.mem_get_info()
        if free < share:  # vLLM's start-up check
            raise ValueError(
                f"free memory {free / GIB:.2f} GiB is less than the requested {share / GIB:.2f} GiB"
            )
        self.kv_bytes = share - ENGINE_WEIGHTS - ENGINE_PROFILE
        if self.kv_bytes <= 0:
            raise ValueError("no memory left for the KV cache")
        LEDGER.events.append({"event": f"engine sized: share {share / GIB:.2f} GiB", "gib": share / GIB})
        LEDGER.allocate("engine_weights", ENGINE_WEIGHTS)
        LEDGER.allocate("kv_cache", self.kv_bytes)
        self.eos = AutoTokenizer.from_pretrained(model).eos_token_id
        self.model = _Model()
        self.llm_engine = SimpleNamespace(
            model_config=SimpleNamespace(
                hf_config=SimpleNamespace(tie_word_embeddings=True, eos_token_id=self.eos)
            ),
            engine_core=SimpleNamespace(shutdown=lambda: None),
        )

    def sleep(self, level: int = 1) -> None:
        LEDGER.free("engine_weights")
        LEDGER.free("kv_cache")

    def wake_up(self, tags=None) -> None:
        for tag in tags or ["weights", "kv_cache"]:
            if tag == "weights":
                LEDGER.allocate("engine_weights", ENGINE_WEIGHTS)
            else:
                LEDGER.allocate("kv_cache", self.kv_bytes)

    def apply_model(self, func):
        return [func(self.model)]

    def reset_prefix_cache(self) -> bool:
        return True

    def generate(self, requests, params, use_tqdm=False):
        assert "kv_cache" in LEDGER.held, "generate while the KV cache is not mapped"
        sample = SimpleNamespace(
            token_ids=[self.eos], logprobs=[{self.eos: SimpleNamespace(logprob=-0.1)}], finish_reason="stop"
        )
        return [SimpleNamespace(prompt_token_ids=r["prompt_token_ids"], outputs=[sample]) for r in requests]


def _fake_vllm_module() -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    module.LLM = LedgerLLM
    module.SamplingParams = lambda **kwargs: SimpleNamespace(**kwargs)
    return module


class _TorchWithCuda(types.ModuleType):
    """``torch`` as the engine module sees it: CUDA present, its memory the ledger's."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.cuda = SimpleNamespace(
            is_available=lambda: True, mem_get_info=LEDGER.mem_get_info, empty_cache=lambda: None
        )

    def __getattr__(self, name):
        return getattr(torch, name)


def _hook_learner() -> None:
    """The learner's device allocations, on the real ``Learner``'s methods (which run unchanged)."""
    from trainer.learner import Learner

    built, update, score, reference, load = (
        Learner.__init__,
        Learner.update,
        Learner.score,
        Learner.reference_logprobs,
        Learner.load_checkpoint,
    )

    def first_step_states() -> None:
        for name, size in LEARNER_AT_FIRST_STEP.items():
            if name not in LEDGER.held:
                LEDGER.allocate(name, size)

    def transient(name: str, size: int, call, *args, **kwargs):
        LEDGER.allocate(name, size)
        try:
            return call(*args, **kwargs)
        finally:
            LEDGER.free(name)

    def hooked_init(self, *args, **kwargs):
        built(self, *args, **kwargs)
        for name, size in LEARNER_AT_BUILD.items():
            LEDGER.allocate(name, size)

    def hooked_update(self, *args, **kwargs):
        def run():
            first_step_states()  # DeepSpeed creates Adam's states at the first optimizer step
            return update(self, *args, **kwargs)

        return transient("update_activations", UPDATE_TRANSIENT, run)

    def hooked_load(self, *args, **kwargs):
        first_step_states()  # loading the optimizer's states creates them
        return load(self, *args, **kwargs)

    Learner.__init__ = hooked_init
    Learner.update = hooked_update
    Learner.score = lambda self, *a, **k: transient("score_logits", SCORE_TRANSIENT, score, self, *a, **k)
    Learner.reference_logprobs = lambda self, *a, **k: transient(
        "reference_logits", SCORE_TRANSIENT, reference, self, *a, **k
    )
    Learner.load_checkpoint = hooked_load


def install() -> None:
    """Every stand-in, before the run imports anything that reads them."""
    sys.modules["vllm"] = _fake_vllm_module()
    torch.cuda.mem_get_info = LEDGER.mem_get_info
    import rollout.vllm_engine as vllm_engine
    import trainer.build as build

    vllm_engine.torch = _TorchWithCuda()
    build._cuda = lambda: True
    build._bf16 = lambda config: True  # the GPU run's dtype; the tiny learner itself runs float32
    try:
        import trainer.memory_plan as memory_plan
    except ImportError:  # a tree without the memory plan (the trainer before it)
        pass
    else:
        shape = memory_plan.read_model_shape(REPO / "tests/data/model_shapes/Qwen2.5-1.5B-Instruct")
        memory_plan.config_model_shape = lambda config: shape
    _hook_learner()


def main() -> int:
    run_dir, steps, events_file = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    install()
    from trainer.config import load_config
    from trainer.run import train

    overrides = [
        *OVERRIDES,
        f"trainer.total_steps={steps}",
        f"trainer.output_dir={run_dir.parent}",
        f"trainer.run_name={run_dir.name}",
    ]
    try:
        train(load_config(None, overrides))
    finally:
        events_file.write_text(json.dumps(LEDGER.events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
