"""Benchmark the SWE env: grading time per instance and env steps per second (markdown table).

    python scripts/bench/bench_swe.py [--instances 12] [--episodes 6] [--split test]

Grading: each instance graded with its gold patch and with an empty patch (each grading = fresh
sandboxed copy, git apply, hidden tests). Steps: expert-driven episodes interleaved with cheap
`bash ls` / `view` steps, timed per tool kind; reset time is reported separately.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from envs.swe.bwrap import BwrapBackend
from envs.swe.dataset import load_split
from envs.swe.env import SWEEnv
from envs.swe.grading import grade
from envs.swe.repo_store import RepoStore
from envs.swe.sandbox import WorkspaceSpec


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.mean(values):.3f} / {statistics.median(values):.3f} / {p90:.3f}"


def bench_grading(split: str, count: int, cache: Path) -> dict[str, list[float]]:
    instances = load_split(split)
    step = max(1, len(instances) // count)
    picked = instances[::step][:count]
    backend = BwrapBackend(cache_dir=cache)
    store = RepoStore(cache)
    times: dict[str, list[float]] = {"gold": [], "empty": []}
    for inst in picked:
        spec = WorkspaceSpec(inst.instance_id, inst.base_commit, git_dir=store.git_dir(inst))
        for kind, patch in (("gold", inst.patch), ("empty", "")):
            start = time.perf_counter()
            result = grade(backend, spec, inst, patch)
            times[kind].append(time.perf_counter() - start)
            if result.resolved != (kind == "gold"):
                raise RuntimeError(f"{inst.instance_id}: {kind} patch resolved={result.resolved}")
    return times


def bench_steps(split: str, episodes: int, cache: Path) -> dict[str, list[float]]:
    env = SWEEnv(split=split, cache_dir=cache, max_turns=40)
    times: dict[str, list[float]] = {"reset": [], "bash": [], "str_replace_editor": [], "submit": []}
    try:
        for task_id in env.task_ids[:episodes]:
            start = time.perf_counter()
            _, info = env.reset(options={"task_id": task_id})
            times["reset"].append(time.perf_counter() - start)
            filler = [
                {"tool": "bash", "command": "ls"},
                {"tool": "str_replace_editor", "command": "view", "path": "/testbed"},
                {"tool": "bash", "command": "git status --short"},
            ]
            for action in filler:
                start = time.perf_counter()
                _, _, _, _, info = env.step(action)
                times[action["tool"]].append(time.perf_counter() - start)
            while True:
                action = info["expert_action"]
                start = time.perf_counter()
                _, _, terminated, truncated, info = env.step(action)
                times[action["tool"]].append(time.perf_counter() - start)
                if terminated or truncated:
                    break
    finally:
        env.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--instances", type=int, default=12)
    parser.add_argument("--episodes", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        grading = bench_grading(args.split, args.instances, cache)
        steps = bench_steps(args.split, args.episodes, cache)
    non_submit = steps["bash"] + steps["str_replace_editor"]
    print(
        f"Machine: {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()})  "
    )
    print(f"Command: `python {' '.join(sys.argv)}`  ")
    print(f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}\n")
    print("| measure | n | mean / median / p90 (s) |")
    print("|---|---|---|")
    print(f"| grading, gold patch (resolved) | {len(grading['gold'])} | {spread(grading['gold'])} |")
    print(f"| grading, empty patch (unresolved) | {len(grading['empty'])} | {spread(grading['empty'])} |")
    print(f"| env.reset (fresh sandboxed copy) | {len(steps['reset'])} | {spread(steps['reset'])} |")
    print(f"| env.step bash | {len(steps['bash'])} | {spread(steps['bash'])} |")
    print(
        f"| env.step str_replace_editor | {len(steps['str_replace_editor'])} | {spread(steps['str_replace_editor'])} |"
    )
    print(f"| env.step submit (incl. grading) | {len(steps['submit'])} | {spread(steps['submit'])} |")
    for label, values in (("bash + editor", non_submit), ("bash only", steps["bash"])):
        rate = len(values) / sum(values) if values else 0.0
        print(f"\nEnv steps/s ({label}, one process): {rate:.1f}", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
