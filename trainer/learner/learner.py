"""The learner: scoring, PPO updates, weight streaming and checkpoints of a DeepSpeed ZeRO policy.

Every public method is SPMD: all ranks call it with their own rows (ranks may hold different numbers of
rows and tokens), because ZeRO communicates inside forward, backward and weight gathering.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from rollout.policy_version import MODEL_FOLDER, PolicyVersion
from trainer import dist as tdist
from trainer.learner.deepspeed_init import (
    AdapterOffReference,
    ReferenceModel,
    effective_zero_stage,
    init_policy,
    resolve_dtype,
)
from trainer.learner.export import export_hf_folder
from trainer.learner.flops import inference_flops, matmul_params, mfu, peak_flops
from trainer.learner.learner_setup import LearnerSetup
from trainer.learner.lora import merged_weights, save_adapter, trainable_parameter_count
from trainer.learner.scoring import score_sequences
from trainer.learner.update import ExtraLossFn, ModelFacts, PPOUpdater, prepare_batch, summarize_steps
from trainer.learner.weights import NameMap, WeightFingerprint, iter_full_weights, sync_weights

log = logging.getLogger("turnrl")

Tokens = Sequence[Sequence[int]]
_CKPT_TAG = "state"


class Learner:
    """A DeepSpeed ZeRO policy (+ frozen reference when ``kl.coef > 0``) that scores and updates on turns."""

    def __init__(self, setup: LearnerSetup, weight_name_map: NameMap | None = None) -> None:
        self.dist = tdist.init_distributed()
        requested = setup.learner.zero_stage
        stage = effective_zero_stage(
            requested, self.dist.world_size, resolve_dtype(setup), setup.learner.offload_optimizer
        )
        if stage != requested:
            log.info(
                "learner: ZeRO stage %d runs as stage %d here (%d rank(s), %s)",
                requested,
                stage,
                self.dist.world_size,
                resolve_dtype(setup),
            )
            # a copy: the caller's config section keeps the stage it asked for
            setup = setup.model_copy(
                update={"learner": setup.learner.model_copy(update={"zero_stage": stage})}
            )
        self.setup = setup
        self.weight_name_map = weight_name_map
        self.policy = init_policy(setup)
        self.ds_engine = self.policy.ds_engine
        self.device = self.policy.device
        config = self.ds_engine.module.config
        self.model_config = config
        self.filler_token = int(config.pad_token_id if config.pad_token_id is not None else 0)
        self.lora = setup.learner.lora.enabled
        self.reference: ReferenceModel | AdapterOffReference | None = None
        if setup.uses_reference:
            self.reference = (
                AdapterOffReference(self.ds_engine) if self.lora else ReferenceModel(setup, self.device)
            )
        self.update_calls = 0
        self.policy_version = MODEL_FOLDER  # the stamp of the last sync (rollout.policy_version)
        self.facts = self._model_facts()
        self.peak_flops = peak_flops(torch.cuda.get_device_name() if torch.cuda.is_available() else None)
        stage0_manual = stage == 0 and not self.ds_engine.bfloat16_enabled()
        self.updater = PPOUpdater(self.ds_engine, setup, self.filler_token, stage0_manual_skip=stage0_manual)
        self._tokenizer = None
        self._engine_adapters: tempfile.TemporaryDirectory | None = None  # removed with the learner
        self._engine_adapter_syncs = 0
        self.last_scoring: dict[str, float] = {}

    # ----------------------------------------------------------------------------------------- scoring
    def score(
        self, prompts: Tokens, responses: Tokens, with_entropy: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Current-policy log-probs and entropies of the response tokens: ([N, T], [N, T]) float32 on CPU,
        row i's tokens left-aligned (the StepBatch layout), T = longest response of this rank, zero elsewhere."""
        start = time.perf_counter()
        self.ds_engine.eval()
        logprobs, entropy, lengths = score_sequences(
            self.ds_engine, prompts, responses, self.device, **self._score_kwargs(with_entropy)
        )
        self._log_scoring("policy", lengths, time.perf_counter() - start)
        return logprobs, entropy

    def reference_logprobs(self, prompts: Tokens, responses: Tokens) -> torch.Tensor | None:
        """Frozen-reference log-probs [N, T]; None (and no forward) when the KL coefficient is 0."""
        if self.reference is None:
            return None
        start = time.perf_counter()
        with self.reference as module:
            logprobs, _, lengths = score_sequences(
                module, prompts, responses, self.device, **self._score_kwargs(False)
            )
        self._log_scoring("reference", lengths, time.perf_counter() - start)
        return logprobs

    # ------------------------------------------------------------------------------------------ update
    def update(
        self,
        prompts: Tokens,
        responses: Tokens,
        advantages: torch.Tensor,
        old_logprobs: torch.Tensor,
        ref_logprobs: torch.Tensor | None = None,
        extra_loss_fn: ExtraLossFn | None = None,
        pg_weights: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """PPO-clip update on this rank's rows: ``ppo_epochs`` x ``mini_batches`` optimizer steps.

        ``pg_weights`` [N, T] multiply each token's policy-gradient loss (the rollout correction's weights).

        ``extra_loss_fn(entropy[R, T] with grad, mask[R, T]) -> (loss, metrics)`` is added to every
        micro-batch's loss (EPO's entropy terms) and must aggregate with ``loss_agg_mode``: the learner
        rescales it to the whole mini-batch like the built-in terms. Returns means over optimizer steps
        (``actor/...``) and throughput (``perf/...``); a step with a non-finite loss or gradient is skipped,
        counted in ``actor/skipped_steps`` and logged.
        """
        batch = prepare_batch(prompts, responses, advantages, old_logprobs, ref_logprobs, pg_weights)
        start = time.perf_counter()
        steps, seq_lengths = self.updater.run(batch, self.update_calls, extra_loss_fn)
        seconds = time.perf_counter() - start
        self.update_calls += 1
        return summarize_steps(steps, seq_lengths, seconds, self.facts, self.peak_flops)

    # ----------------------------------------------------------------------------------------- weights
    def named_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Full (name, tensor) pairs of the policy incl. tied ``lm_head.weight``; collective under ZeRO-3.
        Under LoRA: the merged weights (base + adapter delta) under the base model's names."""
        return self._hf_weights(self.weight_name_map)

    def sync_to(self, engine: Any) -> float:
        """Push the current policy into an inference engine and stamp both with its version (updates so far,
        fingerprint of what was sent); returns the seconds it took. In place from memory, except LoRA's
        ``sync: adapter``, which writes the adapter folder the engine's LoRA kernels load (the fingerprint is then
        the adapters')."""
        start = time.perf_counter()
        if self.lora and self.setup.learner.lora.sync == "adapter":
            stream = WeightFingerprint(
                (name, p) for name, p in self.ds_engine.module.named_parameters() if p.requires_grad
            )
            for _ in stream:  # digest the adapters the folder holds
                pass
            engine.load_adapter(self._adapter_for_engine())
        else:
            stream = WeightFingerprint(self.named_weights())
            sync_weights(iter(stream), engine)
        self.policy_version = PolicyVersion(self.update_calls, stream.digest())
        engine.policy_version = self.policy_version
        return time.perf_counter() - start

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The full HF state dict (unmapped names, CPU copies; LoRA merged) on every rank; collective under ZeRO-3."""
        return {name: t.detach().cpu().clone() for name, t in self._hf_weights(None)}

    @property
    def trainable_parameters(self) -> int:
        """Parameters with gradients and optimizer states (the adapters under LoRA)."""
        return trainable_parameter_count(self.ds_engine.module)

    # -------------------------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, directory: str | os.PathLike) -> None:
        """DeepSpeed checkpoint (model, optimizer, LR scheduler) + learner counters; collective."""
        self.ds_engine.save_checkpoint(
            str(directory), tag=_CKPT_TAG, client_state={"update_calls": self.update_calls}
        )

    def load_checkpoint(self, directory: str | os.PathLike) -> None:
        path, client_state = self.ds_engine.load_checkpoint(
            str(directory), tag=_CKPT_TAG, load_optimizer_states=True, load_lr_scheduler_states=True
        )
        if path is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint (tag {_CKPT_TAG!r}) under {directory}")
        self.update_calls = int(client_state.get("update_calls", 0))

    def export_hf(self, directory: str | os.PathLike) -> None:
        """Write a Hugging Face folder (weights, config, tokenizer) that transformers and vLLM load; collective.
        Streamed layer by layer (``export.export_hf_folder``): no rank ever holds a full copy."""
        streams_everywhere = self.policy.zero_stage == 3
        if streams_everywhere or tdist.is_main_process():
            export_hf_folder(
                self.ds_engine.module.get_base_model() if self.lora else self.ds_engine.module,
                self._hf_weights(None),
                self.tokenizer,
                Path(directory),
                is_main=tdist.is_main_process(),
            )
        tdist.barrier()

    def export_adapter(self, directory: str | os.PathLike) -> None:
        """Write the LoRA adapter in peft's folder format (rank 0; ZeRO 0-2 hold it whole); collective."""
        if not self.lora:
            raise RuntimeError("export_adapter needs learner.lora.rank > 0")
        if tdist.is_main_process():
            save_adapter(self.ds_engine.module, directory, self.setup.model_path)
        tdist.barrier()

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                self.setup.learner.tokenizer_path or self.setup.model_path
            )
        return self._tokenizer

    # ---------------------------------------------------------------------------------------- internals
    def _hf_weights(self, name_map: NameMap | None) -> Iterator[tuple[str, torch.Tensor]]:
        if not self.lora:
            return iter_full_weights(self.ds_engine.module, self.policy.zero_stage == 3, name_map)
        merged = merged_weights(self.ds_engine.module)
        if name_map is None:
            return merged
        return ((mapped, t) for name, t in merged if (mapped := name_map(name)) is not None)

    def _adapter_for_engine(self) -> str:
        """A fresh folder per sync (the engine tells adapters apart by folder and id), the previous one removed."""
        if self._engine_adapters is None:
            self._engine_adapters = tempfile.TemporaryDirectory(prefix="turnrl-adapter-")
        root = Path(self._engine_adapters.name)
        shutil.rmtree(root / f"sync-{self._engine_adapter_syncs}", ignore_errors=True)
        self._engine_adapter_syncs += 1
        folder = root / f"sync-{self._engine_adapter_syncs}"
        save_adapter(self.ds_engine.module, folder, self.setup.model_path)
        return str(folder)

    def _score_kwargs(self, with_entropy: bool) -> dict[str, Any]:
        s = self.setup
        return {
            "max_tokens": s.score_token_budget,
            "temperature": s.temperature,
            "top_p": s.scored_top_p,
            "top_k": s.scored_top_k,
            "with_entropy": with_entropy,
            "chunk_size": s.learner.logits_chunk_size,
            "filler_token": self.filler_token,
            "packed": s.packed_layout,
        }

    def _model_facts(self) -> ModelFacts:
        config = self.model_config
        if self.policy.zero_stage == 3:
            total = sum(int(getattr(p, "ds_numel", p.numel())) for p in self.ds_engine.module.parameters())
        else:
            total = sum(p.numel() for p in self.ds_engine.module.parameters())
        heads = int(config.num_attention_heads)
        head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
        return ModelFacts(
            n_matmul_params=matmul_params(
                total, int(config.vocab_size), int(config.hidden_size), bool(config.tie_word_embeddings)
            ),
            num_layers=int(config.num_hidden_layers),
            attention_width=heads * head_dim,
        )

    def _log_scoring(self, what: str, lengths: list[int], seconds: float) -> None:
        local = torch.tensor(
            [
                float(sum(lengths)),
                inference_flops(
                    lengths, self.facts.n_matmul_params, self.facts.num_layers, self.facts.attention_width
                ),
            ],
            dtype=torch.float64,
        )
        tokens, flops = tdist.all_reduce(local).tolist()
        self.last_scoring.update(
            {
                f"perf/{what}_score_time_s": seconds,
                f"perf/{what}_score_tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            }
        )
        value = mfu(flops, seconds, self.peak_flops, self.dist.world_size)
        if value is not None:
            self.last_scoring[f"perf/{what}_score_mfu"] = value
