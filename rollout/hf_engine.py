"""Hugging Face engine: the CPU path used by tests and the quickstart.

Our own KV-cached decoding loop instead of ``model.generate``: it gives exactly the sampling semantics and
logprobs of ``rollout.sampling`` (shared with the vLLM path), per-row stop strings, and it drops finished
rows from the batch and the cache, so one long response does not make every short one pay for its steps.
Identical prompts (a group's start, replayed turns) are prefilled once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from rollout.engine import FINISH_LENGTH, FINISH_STOP, Completion, SamplingParams
from rollout.lifecycle import EngineLifecycle
from rollout.policy_version import MODEL_FOLDER
from rollout.sampling import completion_text, policy_stats, sample_tokens, stop_token_ids_of

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFEngine:
    """Batched generation with left padding on a ``transformers`` causal LM (one process, no server)."""

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        dtype: str | torch.dtype = "float32",
        device: str | torch.device = "cpu",
        max_batch_size: int = 64,
        score_sampled_distribution: bool = False,
    ) -> None:
        """``model`` is a local folder or an already built ``PreTrainedModel`` (then ``tokenizer`` is required).
        ``score_sampled_distribution``: the learner scores the distribution the rollout samples from, so the
        policy log-probs and entropies reported are within top-k / top-p (``rollout.sampling.policy_stats``)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = _DTYPES[dtype] if isinstance(dtype, str) else dtype
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_dir():
                raise FileNotFoundError(
                    f"HFEngine: model folder {path} does not exist (nothing is downloaded)"
                )
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        elif tokenizer is None:
            raise ValueError("HFEngine: pass the tokenizer when giving a model object")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.model = model.to(device=device, dtype=torch_dtype).eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.max_batch_size = max_batch_size
        self.score_sampled_distribution = score_sampled_distribution
        self.stop_token_ids = stop_token_ids_of(
            tokenizer, getattr(model.generation_config, "eos_token_id", None)
        )
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else next(iter(self.stop_token_ids)))
        self.vocab_size = int(model.config.vocab_size)
        self.lifecycle = EngineLifecycle("HFEngine")
        self.policy_version = MODEL_FOLDER

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Completion]:
        """One completion per prompt, in order. Prompts are token ids (already chat-rendered)."""
        self.lifecycle.check_generate()
        for i, prompt in enumerate(prompts):
            if not prompt:
                raise ValueError(f"prompt {i} is empty")
            bad = [t for t in prompt if not 0 <= int(t) < self.vocab_size]
            if bad:
                raise ValueError(
                    f"prompt {i} has token ids outside the vocabulary (size {self.vocab_size}): {bad[:5]}"
                )
        generator = None
        if sampling.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(sampling.seed)
        results: list[Completion] = []
        for start in range(0, len(prompts), self.max_batch_size):
            results.extend(
                self._generate_batch(prompts[start : start + self.max_batch_size], sampling, generator)
            )
        return results

    @torch.inference_mode()
    def _generate_batch(
        self, prompts: list[list[int]], sampling: SamplingParams, generator: torch.Generator | None
    ) -> list[Completion]:
        from transformers import DynamicCache

        batch = len(prompts)
        # A group's members start from the same prompt (and often replay the same turns): prefill each
        # distinct prompt once and give every copy its own view of that cache before sampling diverges.
        first_copy: dict[tuple[int, ...], int] = {}
        source = [first_copy.setdefault(tuple(prompt), len(first_copy)) for prompt in prompts]
        distinct = list(first_copy)
        width = max(len(p) for p in distinct)
        input_ids = torch.full((len(distinct), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(distinct), width), dtype=torch.long)
        for row, prompt in enumerate(distinct):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        ).logits[:, -1, :]
        if len(distinct) < batch:
            copies = torch.tensor(source, device=self.device)
            cache.batch_select_indices(copies)
            logits, attention_mask, positions = logits[copies], attention_mask[copies], positions[copies]
        next_positions = positions[:, -1:] + 1

        tokens: list[list[int]] = [[] for _ in range(batch)]
        logprobs: list[list[float]] = [[] for _ in range(batch)]
        policy_logprobs: list[list[float]] = [[] for _ in range(batch)]
        policy_entropy: list[list[float]] = [[] for _ in range(batch)]
        finish: list[str] = [FINISH_LENGTH] * batch
        live = list(range(batch))  # original row index of each row still in the batch
        stop_window = max((len(s) for s in sampling.stop), default=0) + 4
        for step in range(sampling.max_new_tokens):
            new_tokens, new_logprobs = sample_tokens(logits, sampling, generator)
            step_policy, step_entropy = policy_stats(
                logits, new_tokens, sampling, self.score_sampled_distribution
            )
            keep: list[int] = []
            for pos, (row, token, logprob, policy, entropy) in enumerate(
                zip(
                    live,
                    new_tokens.tolist(),
                    new_logprobs.tolist(),
                    step_policy.tolist(),
                    step_entropy.tolist(),
                )
            ):
                tokens[row].append(token)
                logprobs[row].append(logprob)
                policy_logprobs[row].append(policy)
                policy_entropy[row].append(entropy)
                if token in self.stop_token_ids or self._hit_stop_string(tokens[row], sampling, stop_window):
                    finish[row] = FINISH_STOP
                else:
                    keep.append(pos)
            if not keep or step == sampling.max_new_tokens - 1:
                break
            if len(keep) < len(live):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                attention_mask, next_positions, new_tokens = (
                    attention_mask[index],
                    next_positions[index],
                    new_tokens[index],
                )
                live = [live[pos] for pos in keep]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(live), 1))], dim=1)
            logits = self.model(
                input_ids=new_tokens.unsqueeze(-1),
                attention_mask=attention_mask,
                position_ids=next_positions,
                past_key_values=cache,
                use_cache=True,
            ).logits[:, -1, :]
            next_positions = next_positions + 1

        return [
            Completion(
                token_ids=tokens[row],
                text=completion_text(self.tokenizer, tokens[row], self.stop_token_ids, sampling.stop),
                logprobs=logprobs[row],
                finish_reason=finish[row],
                policy_logprobs=policy_logprobs[row],
                policy_entropy=policy_entropy[row],
            )
            for row in range(batch)
        ]

    def _hit_stop_string(self, ids: list[int], sampling: SamplingParams, window: int) -> bool:
        if not sampling.stop:
            return False
        tail = self.tokenizer.decode(ids[-window:], skip_special_tokens=False)
        return any(stop in tail for stop in sampling.stop)

    @torch.no_grad()
    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy tensors into the model's parameters in place (names as in ``state_dict``; a subset is fine).

        Tied weights (``lm_head.weight`` = ``embed_tokens.weight``) share storage, so sending either updates both.
        """
        self.lifecycle.check_load()
        targets = dict(self.model.named_parameters(remove_duplicate=False))
        targets.update(self.model.named_buffers(remove_duplicate=False))
        count = 0
        for name, tensor in weights:
            target = targets.get(name)
            if target is None:
                raise KeyError(f"HFEngine.load_weights: the model has no weight named {name!r}")
            if tuple(target.shape) != tuple(tensor.shape):
                raise ValueError(
                    f"HFEngine.load_weights: {name} has shape {tuple(tensor.shape)}, the model expects "
                    f"{tuple(target.shape)}"
                )
            target.copy_(tensor.to(device=target.device, dtype=target.dtype))
            count += 1
        self.lifecycle.loaded()
        log.debug("HFEngine: loaded %d tensors in place", count)

    def sleep(self, level: int = 1) -> None:
        """Frees nothing (no KV cache outlives a ``generate`` call) but enters the same states as vLLM's sleep."""
        self.lifecycle.sleep(level)

    def wake_up(self, tags: Sequence[str] | None = None) -> None:
        self.lifecycle.wake_up(tags)

    def drain(self) -> None:
        """Nothing to wait for: the HF engine serves this rank alone (the engine protocol's ``drain``)."""

    def close(self) -> None:
        """Nothing to shut down (the engine protocol's ``close``)."""
