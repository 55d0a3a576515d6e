"""Generate ALFWorld games offline: ``python -m envs.alfworld.generation.generate --out DIR --n N --seed S``.

Each game is sampled from a real AI2-THOR floor plan (see ``catalog`` / ``scene``), written in
the official ``json_2.1.1`` layout (``pddl``), then kept only if the PDDL planner expert's plan
wins it when actually played through TextWorld; that plan is its walkthrough. Splits:
``train`` and ``eval_in_distribution`` use ALFRED's seen floor plans, ``eval_out_of_distribution``
its unseen ones. Game ``i`` of a split depends only on (seed, split, i, settings), never on the
number of worker processes, so a seed always gives the same files.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import multiprocessing
import os
import random
import resource
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm.auto import tqdm

from envs.alfworld import dataset
from envs.alfworld.generation import catalog, pddl
from envs.alfworld.generation.scene import (
    TASK_TYPES,
    NoTaskFits,
    SceneKnobs,
    candidate_tasks,
    room_types_for,
    sample_scene,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2
MANIFEST = "manifest.json"
MAX_ATTEMPTS = 60
PLANNER_CPU_LIMIT_S = 20


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that decides the games besides (split, index): part of the manifest."""

    knobs: SceneKnobs = field(default_factory=SceneKnobs)
    min_plan_len: int = 1
    max_plan_len: int | None = None

    def __post_init__(self) -> None:
        if self.min_plan_len < 1:
            raise ValueError(f"min_plan_len must be >= 1, got {self.min_plan_len}")
        if self.max_plan_len is not None and self.max_plan_len < self.min_plan_len:
            raise ValueError(f"max_plan_len ({self.max_plan_len}) < min_plan_len ({self.min_plan_len})")

    def accepts_plan_length(self, length: int) -> bool:
        return length >= self.min_plan_len and (self.max_plan_len is None or length <= self.max_plan_len)


PRESETS: dict[str, GenerationConfig] = {
    # All six task types in real floor plans, up to 20 pieces of furniture (84 of the 120 plans
    # have fewer) and a few distractors: the planner expert's search grows steeply with both
    # (pick_two in a 54-piece kitchen with 8 distractors: minutes per plan). Full rooms:
    # --max-receptacles 0, at that cost.
    "standard": GenerationConfig(knobs=SceneKnobs(max_receptacles=20, distractors=(2, 8))),
    # CPU quickstart: few pieces of furniture, few distractors, expert plans of 2-6 steps.
    "small": GenerationConfig(
        knobs=SceneKnobs(
            task_types=("pick_and_place_simple", "look_at_obj_in_light", "pick_clean_then_place_in_recep"),
            max_receptacles=5,
            distractors=(1, 3),
            max_targets=2,
        ),
        min_plan_len=2,
        max_plan_len=6,
    ),
    # Smallest useful setting: pick-and-place only in rooms of four pieces of furniture.
    "tiny": GenerationConfig(
        knobs=SceneKnobs(
            task_types=("pick_and_place_simple",), max_receptacles=4, distractors=(0, 2), max_targets=2
        ),
        min_plan_len=2,
        max_plan_len=5,
    ),
}


@dataclass(frozen=True)
class GameJob:
    root: str
    split: str
    index: int
    seed: int
    config: GenerationConfig


@functools.cache
def _solver_lib():
    import fast_downward

    return fast_downward.load_lib()


class PlannerTooSlow(Exception):
    """The planner used more than PLANNER_CPU_LIMIT_S of CPU on a game's first plan."""


def _quick_plan_length(problem: str) -> int | None:
    """Planner check on the translated task before paying for a full TextWorld load.

    Uses the same optimised translation TextWorld's expert uses (memoised in ``game``), so the
    later load reuses it. Returns None when the planner finds no plan. The search runs in a
    forked child under a CPU-time limit: Fast Downward's search has no effort bound, and in
    cluttered rooms it can take minutes, for which the game would also be useless (its expert
    replans every step). CPU time, not wall time, so machine load does not change which games
    are kept; only a game whose search is within a small factor of the limit could go either
    way on a much slower CPU.
    """
    from envs.alfworld.game import translate_pddl

    _, sas = translate_pddl(pddl.domain_text(), problem, optimize=True)
    lib = _solver_lib()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: search, report the plan length (-1: no plan), exit without cleanup
        os.close(read_end)
        resource.setrlimit(resource.RLIMIT_CPU, (PLANNER_CPU_LIMIT_S, PLANNER_CPU_LIMIT_S + 5))
        length = lib.get_last_plan_length() if lib.solve_sas(sas.encode("utf-8"), False) else -1
        os.write(write_end, str(length).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        reply = answer.read()
    _, status = os.waitpid(pid, 0)
    if not reply:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            raise PlannerTooSlow(f"no plan within {PLANNER_CPU_LIMIT_S} s of CPU")
        raise RuntimeError(f"the planner child died without an answer (wait status {status})")
    length = int(reply)
    return None if length < 0 else length


def _expert_walkthrough(game_file: str) -> list[str] | None:
    """The planner expert's plan from the start, kept only if playing it through TextWorld wins.

    The plan is asked once (at reset) and then played open-loop in a second session without
    the expert: replanning after every step would cost one planner search per step.
    """
    from envs.alfworld.game import forget_game

    expert, player = _session(True), _session(False)
    try:
        expert.load(game_file)
        expert.reset()
        plan = list(expert.expert_plan or [])
        player.load(game_file)
        player.reset()
        for command in plan:
            if command not in player.state["admissible_commands"]:
                return None
            player.step(command)
        return plan if plan and player.state["won"] else None
    finally:  # the file is rewritten with its walkthrough next: never reuse these loads
        expert.game_file = player.game_file = None
        forget_game(game_file)


@functools.cache
def _session(expert: bool):
    from envs.alfworld.game import GameSession

    return GameSession(expert=expert)


def _floor_plans(split: str, task_type: str, knobs: SceneKnobs) -> list[int]:
    seen = split != "eval_out_of_distribution"
    rooms = set(knobs.room_types) & room_types_for(task_type)
    return [n for n in catalog.floor_plan_numbers(seen) if catalog.room_type_of(n) in rooms]


def _task_folder(task, floor_plan: catalog.FloorPlan) -> str:
    target = task.toggle_type or task.receptacle_type
    return f"{task.task_type}-{task.object_type}-None-{target}-{floor_plan.number}"


def build_game(job: GameJob) -> dict:
    """Sample attempts until one game passes the expert check; returns its manifest entry."""
    knobs = job.config.knobs
    task_type = knobs.task_types[job.index % len(knobs.task_types)]
    plans = _floor_plans(job.split, task_type, knobs)
    reasons: dict[str, int] = {}
    for attempt in range(MAX_ATTEMPTS):
        rng = random.Random(f"{job.seed}:{job.split}:{job.index}:{attempt}")
        order = sorted(plans)
        rng.shuffle(order)
        plan = task = None
        for number in order:
            options = candidate_tasks(catalog.load_floor_plan(number), task_type)
            if options:
                plan, task = catalog.load_floor_plan(number), rng.choice(options)
                break
        if plan is None:
            raise NoTaskFits(
                f"no floor plan of split {job.split} in rooms {knobs.room_types} supports {task_type}"
            )
        scene = sample_scene(plan, task, knobs, rng)
        text = pddl.task_description(scene, rng)
        trial = f"trial_s{job.seed}_{job.index:05d}"
        problem = pddl.problem_pddl(scene, f"{trial}_{job.split}")
        try:  # reject cheaply before paying for a TextWorld load
            length = _quick_plan_length(problem)
        except PlannerTooSlow:
            reasons["planner too slow"] = reasons.get("planner too slow", 0) + 1
            continue
        if length is None or not job.config.accepts_plan_length(length):
            reason = "unsolvable" if length is None else "plan length"
            reasons[reason] = reasons.get(reason, 0) + 1
            continue

        game_dir = dataset.split_dir(job.root, job.split) / _task_folder(task, plan) / trial
        game_dir.mkdir(parents=True, exist_ok=True)
        game_file = game_dir / "game.tw-pddl"
        game_file.write_text(json.dumps(pddl.game_json(scene, text, problem, walkthrough=None)))
        (game_dir / "traj_data.json").write_text(json.dumps(pddl.traj_json(scene, text, trial, [])))
        walkthrough = _expert_walkthrough(str(game_file))
        if walkthrough is None or not job.config.accepts_plan_length(len(walkthrough)):
            shutil.rmtree(game_dir)
            reason = "expert lost" if walkthrough is None else "plan length"
            reasons[reason] = reasons.get(reason, 0) + 1
            continue
        game_file.write_text(
            json.dumps(pddl.game_json(scene, text, problem, walkthrough=walkthrough), indent=1)
        )
        (game_dir / "traj_data.json").write_text(
            json.dumps(pddl.traj_json(scene, text, trial, walkthrough), indent=1)
        )
        return {
            "split": job.split,
            "task_id": game_dir.relative_to(dataset.split_dir(job.root, job.split)).as_posix(),
            "task_type": task_type,
            "room_type": plan.room_type,
            "floor_plan": plan.name,
            "task": text,
            "num_receptacles": len(scene.receptacles),
            "num_objects": len(scene.objects),
            "expert_plan_length": len(walkthrough),
            "expert_plan": walkthrough,
        }
    raise RuntimeError(
        f"could not generate {job.split} game {job.index} ({task_type}) in {MAX_ATTEMPTS} attempts: "
        f"rejections {reasons}; loosen the plan-length bounds or the scene knobs"
    )


def _config_dict(config: GenerationConfig) -> dict:
    data = asdict(config)
    data["knobs"]["task_types"] = list(config.knobs.task_types)
    data["knobs"]["room_types"] = list(config.knobs.room_types)
    data["knobs"]["distractors"] = list(config.knobs.distractors)
    return data


def generate(
    out: str | os.PathLike,
    sizes: dict[str, int],
    seed: int = 0,
    config: GenerationConfig | str = "standard",
    workers: int | None = None,
) -> dict:
    """Write ``sizes[split]`` games per split under ``out`` plus ``manifest.json``; return the manifest.

    ``out`` must be empty or absent (a half-written set is never mixed with another).
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose from {sorted(PRESETS)}")
        preset, config = config, PRESETS[config]
    else:
        preset = "custom"
    sizes = {dataset.canonical_split(k): int(v) for k, v in sizes.items()}
    if any(n < 0 for n in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {sizes}")
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty; generate into a fresh folder")
    root.mkdir(parents=True, exist_ok=True)

    jobs = [GameJob(str(root), split, i, seed, config) for split, n in sizes.items() for i in range(n)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    start = time.perf_counter()
    bar = functools.partial(tqdm, total=len(jobs), desc="ALFWorld games", unit="game", disable=None)
    if workers == 1:
        entries = list(bar(map(build_game, jobs)))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            chunks = max(1, min(16, len(jobs) // (4 * workers)))
            entries = list(bar(pool.map(build_game, jobs, chunksize=chunks)))
    elapsed = time.perf_counter() - start

    manifest = {
        "generator": "turnrl envs.alfworld.generation.generate",
        "generator_version": GENERATOR_VERSION,
        "preset": preset,
        "config": _config_dict(config),
        "seed": seed,
        "splits": {split: {"dir": dataset.SPLIT_DIRS[split], "count": n} for split, n in sizes.items()},
        "games": entries,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    log.info(
        "generated %d ALFWorld games in %.1f s with %d workers -> %s", len(entries), elapsed, workers, root
    )
    return manifest


def _parse_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return (int(lo), int(hi or lo))


def _config_from_args(args: argparse.Namespace) -> GenerationConfig:
    config = PRESETS[args.preset]
    knobs = config.knobs
    if args.task_types:
        knobs = replace(knobs, task_types=tuple(args.task_types.split(",")))
    if args.room_types:
        knobs = replace(knobs, room_types=tuple(args.room_types.split(",")))
    if args.max_receptacles is not None:
        knobs = replace(knobs, max_receptacles=args.max_receptacles or None)
    if args.distractors is not None:
        knobs = replace(knobs, distractors=_parse_range(args.distractors))
    config = replace(config, knobs=knobs)
    if args.min_plan_len is not None:
        config = replace(config, min_plan_len=args.min_plan_len)
    if args.max_plan_len is not None:
        config = replace(config, max_plan_len=args.max_plan_len or None)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m envs.alfworld.generation.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, help="empty or new folder to write the json_2.1.1 tree into")
    parser.add_argument("--n", type=int, required=True, help="number of train games")
    parser.add_argument(
        "--n-eval", type=int, default=None, help="games per eval split (default: n // 10, at least 1)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="standard")
    parser.add_argument("--task-types", help=f"comma-separated subset of {','.join(TASK_TYPES)}")
    parser.add_argument("--room-types", help=f"comma-separated subset of {','.join(catalog.ROOM_TYPES)}")
    parser.add_argument("--max-receptacles", type=int, help="furniture per room (0 = whole floor plan)")
    parser.add_argument("--distractors", help="distractor objects per room, N or LO-HI")
    parser.add_argument("--min-plan-len", type=int)
    parser.add_argument("--max-plan-len", type=int, help="longest expert plan kept (0 = no bound)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    n_eval = args.n_eval if args.n_eval is not None else max(1, args.n // 10)
    sizes = {"train": args.n, "eval_in_distribution": n_eval, "eval_out_of_distribution": n_eval}
    try:
        config = _config_from_args(args)
        start = time.perf_counter()
        manifest = generate(args.out, sizes, seed=args.seed, config=config, workers=args.workers)
    except (ValueError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    counts: dict[str, int] = {}
    for entry in manifest["games"]:
        counts[entry["task_type"]] = counts.get(entry["task_type"], 0) + 1
    print(f"{len(manifest['games'])} games in {elapsed:.1f} s -> {args.out}")
    for task_type, count in sorted(counts.items()):
        print(f"  {task_type}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
