"""WebShop env speed: steps/s of one env in one process (= per worker), search latency, catalog build.

    python scripts/bench/bench_webshop.py [--products 5000] [--steps 20000] [--queries 2000] [--pool]

Steps: the acting policy mimics an early RL policy (the expert's action half the time, a random
admissible action 40 %, malformed text 10 %; ``search[<your query>]`` gets a goal's words), with
a reset whenever an episode ends; every step builds the full info (admissible actions, anchor,
expert action). Search: distinct, uncached queries (goal instructions and expert queries) against
a BM25 index over ``--products`` generated products. ``--pool`` adds steps/s through ``EnvPool``
with one worker. Prints a markdown table.
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
import time
from dataclasses import replace

from envs.webshop.catalog import builtin_catalog
from envs.webshop.env import WebShopEnv
from envs.webshop.expert import expert_query
from envs.webshop.generation.generate import PRESETS, generate_catalog
from envs.webshop.shop import ShopSession


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pick_action(info: dict, queries: list[str], rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5 and info["expert_action"] is not None:
        return info["expert_action"]
    if roll < 0.9 and info["admissible_actions"]:
        return rng.choice(info["admissible_actions"]).replace("<your query>", rng.choice(queries))
    return rng.choice(["click[nothing]", "I think I should buy it", "search[]"])


def env_steps(env: WebShopEnv, steps: int, seed: int = 0) -> tuple[float, float, int]:
    """(wall s, cpu s, episodes) for ``steps`` env steps, resets included."""
    rng = random.Random(seed)
    queries = [" ".join(env.catalog.goals[t].instruction_text.split()[:6]) for t in env.task_ids[:200]]
    _, info = env.reset(options={"task_id": rng.choice(env.task_ids)})
    episodes = 1
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(pick_action(info, queries, rng))
        if terminated or truncated:
            _, info = env.reset(options={"task_id": rng.choice(env.task_ids)})
            episodes += 1
    return time.perf_counter() - wall, cpu_seconds() - cpu, episodes


def pool_steps_per_s(kwargs: dict, steps: int) -> float:
    from envs.pool import EnvPool

    rng = random.Random(0)
    with EnvPool("turnrl/WebShop-v0", kwargs, num_envs=8, num_workers=1) as pool:
        slots = list(range(8))
        infos = {s: i for s, (_, i) in zip(slots, pool.reset(slots, rng.sample(pool.task_ids, 8)))}
        queries = ["shampoo for dry hair", "usb c charger", "office chair"]
        done = 0
        start = time.perf_counter()
        while done < steps:
            results = pool.step(slots, [pick_action(infos[s], queries, rng) for s in slots])
            done += len(slots)
            ended = [s for s, r in zip(slots, results) if r.terminated or r.truncated]
            infos.update({s: r.info for s, r in zip(slots, results)})
            if ended:
                resets = pool.reset(ended, [rng.choice(pool.task_ids) for _ in ended])
                infos.update({s: info for s, (_, info) in zip(ended, resets)})
        return done / (time.perf_counter() - start)


def search_latency(num_products: int, num_queries: int) -> tuple[float, list[float], float]:
    """(catalog load s, wall ms per query, mean CPU ms per query): CPU time is immune to a busy machine."""
    config = replace(PRESETS["default"], num_products=num_products)
    start = time.perf_counter()
    catalog = builtin_catalog(config)
    build_s = time.perf_counter() - start
    queries: list[str] = []
    for goal in catalog.goals[: num_queries // 2]:
        queries += [goal.instruction_text, expert_query(ShopSession(catalog, goal))]
    queries = list(dict.fromkeys(queries))[:num_queries]
    latencies = []
    cpu = time.process_time()
    for query in queries:
        t = time.perf_counter()
        catalog.search._search(query)  # uncached path
        latencies.append((time.perf_counter() - t) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / len(queries)
    return build_s, latencies, cpu_ms


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000, help="catalog size for the search benchmark")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--pool", action="store_true", help="also measure through EnvPool (1 worker)")
    args = parser.parse_args()

    start = time.perf_counter()
    generated = generate_catalog(replace(PRESETS["default"], num_products=args.products))
    gen_s = time.perf_counter() - start
    rows = [(f"generate {len(generated['products'])} products (raw records)", f"{gen_s:.2f} s")]
    build_s, latencies, cpu_ms = search_latency(args.products, args.queries)
    latencies.sort()
    rows += [
        (f"load catalog ({args.products} products: cache/generate, goals, BM25 index)", f"{build_s:.2f} s"),
        (
            f"search latency, {len(latencies)} uncached queries: mean wall",
            f"{statistics.mean(latencies):.3f} ms",
        ),
        ("search latency: mean CPU time per query", f"{cpu_ms:.3f} ms"),
        (
            "search latency wall p50 / p99",
            f"{latencies[len(latencies) // 2]:.3f} / {latencies[int(len(latencies) * 0.99)]:.3f} ms",
        ),
    ]
    for preset in ("default", "small"):
        env = WebShopEnv(split="train", catalog=preset)
        wall, cpu, episodes = env_steps(env, args.steps)
        rows.append(
            (
                f"env steps/s, 1 process, {preset} catalog ({len(env.catalog.products)} products)",
                f"{args.steps / wall:,.0f} (wall), {args.steps / cpu:,.0f} (per CPU s); {episodes} episodes",
            )
        )
    if args.pool:
        rows.append(
            (
                "env steps/s through EnvPool, 1 worker x 8 envs",
                f"{pool_steps_per_s({'split': 'train'}, args.steps):,.0f}",
            )
        )

    print(f"machine: {machine()}  ")
    print(f"command: python {' '.join(sys.argv)}  ")
    print(f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
