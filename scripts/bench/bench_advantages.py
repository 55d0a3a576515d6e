"""Time each advantage estimator on a large synthetic batch and print a markdown table.

Default: N = 16,384 turns x T = 1,024 tokens in 256 groups (8 trajectories x 8 turns each), anchors
drawn from a few long observation strings per group (so step groups have many members), random
response lengths, invalid actions and sparse success rewards. Target: < 0.25 s per estimator.

    python scripts/bench/bench_advantages.py [--rows 16384] [--tokens 1024] [--groups 256] [--repeats 5]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

from algorithms import StepBatch, estimate

TARGET_S = 0.25


def synthetic_batch(rows: int, tokens: int, groups: int, seed: int = 0) -> StepBatch:
    generator = torch.Generator().manual_seed(seed)
    turns = 8
    trajectories = rows // turns
    per_group = max(trajectories // groups, 1)
    group_id, traj_id, step, anchor = [], [], [], []
    state_of = torch.randint(0, 6, (rows,), generator=generator).tolist()
    for traj in range(trajectories):
        group = min(traj // per_group, groups - 1)
        for turn in range(turns):
            row = traj * turns + turn
            group_id.append(f"task-{group}")
            traj_id.append(traj)
            step.append(turn)
            room = 0 if turn == 0 else state_of[row]
            anchor.append(
                f"Task {group}: put a clean mug in the coffeemachine. You are in room {room}. "
                "On the countertop 1 you see a mug 1, a knife 2 and a lettuce 3. Admissible actions: go to, take."
            )
    n = len(group_id)
    success = torch.rand(trajectories, generator=generator) < 0.4
    reward = torch.zeros(trajectories, turns)
    reward[:, -1] = success.float() * 10.0
    lengths = torch.randint(1, tokens + 1, (n,), generator=generator)
    mask = (torch.arange(tokens)[None, :] < lengths[:, None]).float()
    return StepBatch(
        group_id=group_id,
        traj_id=traj_id,
        step=step,
        reward=reward.reshape(-1),
        anchor=anchor,
        valid=torch.rand(n, generator=generator) > 0.05,
        response_mask=mask,
        old_logprobs=-torch.rand(n, tokens, generator=generator) * mask,
        entropy=torch.rand(n, tokens, generator=generator) * 2 * mask,
    )


def best_time(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads): on a shared, loaded machine the CPU
    time shows the work itself while the wall time also counts waiting for a core."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16_384)
    parser.add_argument("--tokens", type=int, default=1_024)
    parser.add_argument("--groups", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    build_start = time.perf_counter()
    batch = synthetic_batch(args.rows, args.tokens, args.groups)
    build_s = time.perf_counter() - build_start
    cases = [
        ("grpo", {}),
        ("gigpo", {}),
        ("epo", {"base": "grpo"}),
        ("aem", {"base": "grpo"}),
        ("aem", {"base": "gigpo", "uncertainty": "relative_surprisal"}),
        ("gigpo", {"similarity_threshold": 0.95}),
    ]
    results = []
    for name, params in cases:
        wall, cpu = best_time(lambda name=name, params=params: estimate(name, batch, **params), args.repeats)
        results.append((name, params, wall, cpu))

    cpu = platform.processor() or platform.machine()
    try:
        model = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line)
        cpu = model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    print(
        f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(f"command: python {' '.join(sys.argv)}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(
        f"batch: {batch.num_rows} rows x {batch.response_length} tokens, {args.groups} groups "
        f"(StepBatch construction incl. validation: {build_s:.3f} s)"
    )
    print()
    print(
        f"| estimator | params | wall s (best of {args.repeats}) | CPU s, all threads | wall < {TARGET_S:.2f} s |"
    )
    print("|---|---|---|---|---|")
    for name, params, wall, cpu in results:
        text = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        ok = "yes" if wall < TARGET_S else "NO"
        print(f"| {name} | {text} | {wall:.3f} | {cpu:.3f} | {ok} |")


if __name__ == "__main__":
    main()
