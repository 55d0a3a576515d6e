"""Test-only probes for the policy guard: engines that serve something other than the trained policy.

Not part of the package and no config knob: each probe wraps the rollout engine the trainer builds, the way a
real bug would sit between the learner's sync and the engine's forward. Run a training with one installed:

    python tests/policy_probes.py <probe> train [overrides...]

which is ``turnrl train`` with ``trainer.loop.create_engine`` wrapped. Probes:

- ``stale``: every sync delivers the weights of the first sync (a stale copy);
- ``base``: every sync delivers the model folder's weights (an adapter that is never applied: the update's
  delta is missing);
- ``double``: every sync delivers base + 2 x (weights - base) (an adapter applied twice);
- ``prompt``: the engine sees each prompt with its first token doubled (a prompt rendered differently for the
  engine and the learner);
- ``shift=<d>``: the engine's sampling log-probs are reported ``d`` lower than it computed them (its
  full-distribution ones untouched, so the guard passes): the rollout correction's ratio is then exp(d) on
  every token;
- ``none``: the engine untouched (the control run).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
PROBES = ("none", "stale", "base", "double", "prompt", "shift")


class ProbeEngine:
    """Delegates to ``inner`` except where the probe changes what the engine receives."""

    def __init__(self, inner: Any, probe: str, model_path: str) -> None:
        probe, _, value = probe.partition("=")
        if probe not in PROBES:
            raise ValueError(f"unknown probe {probe!r}; expected one of {', '.join(PROBES)}")
        self.inner = inner
        self.probe = probe
        self.shift = float(value) if probe == "shift" else 0.0
        self.model_path = model_path
        self.first_sync: list[tuple[str, torch.Tensor]] | None = None
        self.base: dict[str, torch.Tensor] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "policy_version":  # the stamp belongs to the engine that serves
            setattr(self.inner, name, value)
        else:
            object.__setattr__(self, name, value)

    def generate(self, prompts, sampling):
        if self.probe == "prompt":
            prompts = [[p[0], *p] if p else p for p in prompts]
        completions = self.inner.generate(prompts, sampling)
        if self.probe == "shift":
            for completion in completions:
                completion.logprobs = [value - self.shift for value in completion.logprobs]
        return completions

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        sent = [(name, tensor.detach().clone()) for name, tensor in weights]
        if self.probe == "stale":
            if self.first_sync is None:
                self.first_sync = sent
            sent = self.first_sync
        elif self.probe in ("base", "double"):
            base = self._base()
            factor = 0.0 if self.probe == "base" else 2.0
            sent = [(name, base[name] + factor * (tensor - base[name])) for name, tensor in sent]
        self.inner.load_weights(iter(sent))

    def _base(self) -> dict[str, torch.Tensor]:
        if self.base is None:
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
            self.base = {n: p.detach().clone() for n, p in model.named_parameters(remove_duplicate=False)}
            if "lm_head.weight" not in self.base and model.config.tie_word_embeddings:
                self.base["lm_head.weight"] = self.base["model.embed_tokens.weight"]
        return self.base


def install(probe: str) -> None:
    """Wrap every engine ``trainer.loop`` builds from now on with ``probe``."""
    import trainer.loop as trainer_module

    build = trainer_module.create_engine

    def create_engine(kind: str, model_path: str, **kwargs: Any) -> Any:
        return ProbeEngine(build(kind, model_path, **kwargs), probe, model_path)

    trainer_module.create_engine = create_engine


def main(argv: list[str]) -> int:
    install(argv[0])
    from trainer.cli import main as cli_main

    return cli_main(argv[1:])


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
