"""Env throughput: steps/s through ``EnvPool`` per worker count, reset latency, game generation time.

    python scripts/bench/bench_envs.py --env alfworld [--games 100] [--preset standard] [--workers 1,2,4]
    python scripts/bench/bench_envs.py --env toy

The acting policy mimics an early RL policy: the expert's action half of the time, otherwise a
random admissible command (seeded), with a reset whenever an episode ends, so the mix of game
states resembles a rollout. Steps/s counts env steps (one per slot per ``pool.step``) after the
pool has started and every slot has been reset once. For ALFWorld, reset latency is measured in
this process: cold = the first reset of a game (file read, PDDL translation, grammar parse),
warm = a reset of a game the process has already played.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import envs  # noqa: F401  (registers the turnrl env ids)
from envs.pool import EnvPool

ENV_IDS = {"alfworld": "turnrl/ALFWorld-v0", "toy": "turnrl/Toy-v0"}


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children: robust to other load on the machine."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pick_action(info: dict, rng: random.Random) -> str:
    admissible = info.get("admissible_actions") or ["look"]
    expert = info.get("expert_action")
    if expert is not None and rng.random() < 0.5:
        return expert
    return rng.choice(admissible)


def pool_steps_per_s(env_id: str, env_kwargs: dict, workers: int, envs_per_worker: int, rounds: int) -> float:
    rng = random.Random(0)
    num_envs = workers * envs_per_worker
    with EnvPool(env_id, env_kwargs, num_envs=num_envs, num_workers=workers) as pool:
        task_ids = pool.task_ids
        slots = list(range(num_envs))
        infos = {
            s: info for s, (_, info) in zip(slots, pool.reset(slots, [rng.choice(task_ids) for _ in slots]))
        }
        steps = 0
        start = time.perf_counter()
        for _ in range(rounds):
            results = pool.step(slots, [pick_action(infos[s], rng) for s in slots])
            steps += len(slots)
            done = [s for s, r in zip(slots, results) if r.terminated or r.truncated]
            for s, r in zip(slots, results):
                if "env_error" in r.info:
                    raise RuntimeError(f"slot {s} failed: {r.info['env_error']}")
                infos[s] = r.info
            if done:
                for s, (_, info) in zip(done, pool.reset(done, [rng.choice(task_ids) for _ in done])):
                    infos[s] = info
        return steps / (time.perf_counter() - start)


def alfworld_reset_latency(data_dir: str, count: int) -> tuple[float, float]:
    from envs.alfworld import game
    from envs.alfworld.env import ALFWorldEnv

    game.clear_caches()
    env = ALFWorldEnv(data_dir=data_dir, split="train")
    task_ids = env.task_ids[:count]
    cold, warm = [], []
    for task_id in task_ids:
        start = time.perf_counter()
        env.reset(options={"task_id": task_id})
        cold.append(time.perf_counter() - start)
    for task_id in task_ids:
        start = time.perf_counter()
        env.reset(options={"task_id": task_id})
        warm.append(time.perf_counter() - start)
    return statistics.median(cold), statistics.median(warm)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(ENV_IDS), required=True)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated pool worker counts")
    parser.add_argument("--envs-per-worker", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=60, help="pool.step calls per worker count")
    parser.add_argument("--games", type=int, default=100, help="ALFWorld: games to generate (train split)")
    parser.add_argument("--preset", default="standard", help="ALFWorld: generator preset")
    parser.add_argument(
        "--gen-workers", type=int, default=None, help="ALFWorld: generator processes (default: all cores)"
    )
    parser.add_argument("--data-dir", help="ALFWorld: play this json_2.1.1 set instead of generating one")
    parser.add_argument("--reset-games", type=int, default=20, help="ALFWorld: games timed for reset latency")
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    env_kwargs: dict = {}
    tmp = None
    if args.env == "alfworld":
        from envs.alfworld.generation import generate

        data_dir = args.data_dir
        if data_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="bench_alfworld_")
            data_dir = str(Path(tmp.name) / "games")
            sizes = {"train": args.games, "eval_in_distribution": 0, "eval_out_of_distribution": 0}
            cpu_before = _cpu_seconds()
            start = time.perf_counter()
            generate.generate(data_dir, sizes, seed=0, config=args.preset, workers=args.gen_workers)
            elapsed = time.perf_counter() - start
            cpu_per_game = (_cpu_seconds() - cpu_before) / args.games
            gen_workers = args.gen_workers or os.cpu_count()
            rows.append(
                (
                    f"generate {args.games} games ({args.preset}, {gen_workers} procs), wall",
                    f"{elapsed:.1f} s",
                )
            )
            rows.append(
                ("projected wall time for 1,000 games", f"{1000 * elapsed / args.games / 60:.1f} min")
            )
            rows.append(("generation CPU time per game (all processes)", f"{cpu_per_game:.2f} s"))
            rows.append(
                (
                    f"1,000 games on {gen_workers} idle cores (from CPU time)",
                    f"{1000 * cpu_per_game / gen_workers / 60:.1f} min",
                )
            )
        cold, warm = alfworld_reset_latency(data_dir, args.reset_games)
        rows.append((f"reset latency, cold (median of {args.reset_games} games)", f"{cold * 1000:.0f} ms"))
        rows.append(("reset latency, warm (same games again)", f"{warm * 1000:.1f} ms"))
        env_kwargs = {"data_dir": data_dir, "split": "train"}

    variants = [("", env_kwargs)]
    if args.env == "alfworld":  # the planner expert's replanning is most of a step; show both
        variants = [(", expert on", env_kwargs), (", expert off", {**env_kwargs, "expert": None})]
    for label, kwargs in variants:
        for workers in (int(w) for w in args.workers.split(",")):
            rate = pool_steps_per_s(ENV_IDS[args.env], kwargs, workers, args.envs_per_worker, args.rounds)
            rows.append(
                (f"env steps/s, {workers} pool worker(s) x {args.envs_per_worker} envs{label}", f"{rate:.1f}")
            )
    if tmp is not None:
        tmp.cleanup()

    print(f"\n### Env benchmark: {args.env}\n")
    print(
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"- command: `python {' '.join(sys.argv)}`")
    print(f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
