"""LoRA on the learner's policy (peft): wrapping, parameter counts, merged weights and the adapter folder.

The policy stays one peft model: the adapters train, the base weights are frozen, and the KL reference is the
same model with its adapters switched off (``disable_adapter``), so no second copy of the model exists.
The rollout engine expects plain Hugging Face names and weights; ``merged_weights`` streams, tensor by tensor,
``W + delta`` (peft's own ``get_delta_weight``) under the base model's names, so the engine's in-place update
path serves LoRA exactly as it serves full fine-tuning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from trainer.config import LoRAConfig

ADAPTER_NAME = "default"
"""peft's name of the one adapter a policy carries."""
_PEFT_PREFIX = "base_model.model."
_BASE_LAYER = ".base_layer"
_ADAPTER_PARTS = (
    ".lora_A.",
    ".lora_B.",
    ".lora_embedding_A.",
    ".lora_embedding_B.",
    ".lora_magnitude_vector.",
)


def wrap_with_lora(model: torch.nn.Module, lora: LoRAConfig) -> torch.nn.Module:
    """The peft model around ``model``: adapters (initialised so the policy starts as the base model) on
    ``lora.target_modules``, every base weight frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config, adapter_name=ADAPTER_NAME)


def is_peft(module: torch.nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(module, PeftModel)


def trainable_parameter_count(module: torch.nn.Module) -> int:
    """Parameters that get gradients and optimizer states: the adapters under LoRA, everything otherwise."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def hf_parameter_name(name: str) -> str | None:
    """The base model's Hugging Face name of a peft parameter (``base_model.model.`` and ``.base_layer``
    dropped); None for an adapter's own parameters. Plain HF names come back unchanged."""
    if any(part in name for part in _ADAPTER_PARTS):
        return None
    if name.startswith(_PEFT_PREFIX):
        name = name[len(_PEFT_PREFIX) :]
    return name.replace(_BASE_LAYER, "")


def merged_weights(peft_model: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF name, tensor) of the policy as one plain model: each adapted layer's weight is ``W + delta``,
    computed for that tensor alone (peak extra memory: one weight), every other parameter as it is (aliasing
    the live one: copy what you keep). Tied names come under each name, as ``weights.iter_full_weights``."""
    from peft.tuners.lora import LoraLayer

    adapted = {
        name: module
        for name, module in peft_model.named_modules()
        if isinstance(module, LoraLayer) and ADAPTER_NAME in module.lora_A
    }
    for name, param in peft_model.named_parameters(remove_duplicate=False):
        hf_name = hf_parameter_name(name)
        if hf_name is None:
            continue
        tensor = param.detach()
        owner, _, leaf = name.rpartition(_BASE_LAYER + ".")
        if leaf == "weight" and owner in adapted and not adapted[owner].merged:
            with torch.no_grad():
                tensor = tensor + adapted[owner].get_delta_weight(ADAPTER_NAME).to(tensor.dtype)
        yield hf_name, tensor


def save_adapter(peft_model: torch.nn.Module, directory: str | Path, base_model_path: str) -> None:
    """peft's adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``), naming the base model
    folder it applies to; ``PeftModel.from_pretrained(base, directory)`` loads it."""
    peft_model.peft_config[ADAPTER_NAME].base_model_name_or_path = str(base_model_path)
    peft_model.save_pretrained(str(directory), selected_adapters=[ADAPTER_NAME], safe_serialization=True)


def merge_adapter(adapter: str | Path, out: str | Path) -> Path:
    """Write base model + adapter as one plain Hugging Face folder (weights, config, the base's tokenizer) in
    ``out``; the base is the folder named in the adapter's ``adapter_config.json``."""
    from peft import PeftConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_path = PeftConfig.from_pretrained(str(adapter)).base_model_name_or_path
    if not base_path or not Path(base_path).is_dir():
        raise FileNotFoundError(
            f"the adapter in {adapter} names the base model {base_path!r}, which is not a local folder"
        )
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto", local_files_only=True)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(base_path).save_pretrained(str(out))
    return Path(out)
