"""Sampling one ALFWorld game: a task, a room built from a real floor plan, and where things lie.

The task is drawn first (type, object class, destination class, lamp) among what the floor
plan can support, then the room is cut down to at most ``max_receptacles`` pieces of furniture
(always keeping the ones the task needs) and filled with the task's objects plus distractors.
The solver check happens later (see ``planner``); this module only guarantees that the goal is
not already true at the start and that every object lies in furniture that can hold it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from envs.alfworld.dataset import SUPPORTED_TASK_TYPES
from envs.alfworld.generation import catalog
from envs.alfworld.generation.catalog import FloorPlan, ReceptacleSpec

TASK_TYPES: tuple[str, ...] = SUPPORTED_TASK_TYPES  # ALFWorld's six, in its order

# Where a state-changing task does its work; ALFRED never makes that appliance the destination.
_STATION = {
    "pick_clean_then_place_in_recep": ("SinkBasin", "Cleanable"),
    "pick_heat_then_place_in_recep": ("Microwave", "Heatable"),
    "pick_cool_then_place_in_recep": ("Fridge", "Coolable"),
}


@dataclass(frozen=True)
class SceneKnobs:
    """Difficulty of the generated games (see ``generate.PRESETS`` for named settings)."""

    task_types: tuple[str, ...] = TASK_TYPES
    room_types: tuple[str, ...] = catalog.ROOM_TYPES
    max_receptacles: int | None = None  # None keeps the floor plan's full furniture
    distractors: tuple[int, int] = (4, 12)  # inclusive range of distractor object instances
    max_targets: int = 3  # instances of the task's object class (pick_two: at least 2)

    def __post_init__(self) -> None:
        unknown = set(self.task_types) - set(TASK_TYPES)
        if unknown or not self.task_types:
            raise ValueError(f"task_types must be a non-empty subset of {TASK_TYPES}, got {self.task_types}")
        bad_rooms = set(self.room_types) - set(catalog.ROOM_TYPES)
        if bad_rooms or not self.room_types:
            raise ValueError(
                f"room_types must be a non-empty subset of {catalog.ROOM_TYPES}, got {self.room_types}"
            )
        if self.max_receptacles is not None and self.max_receptacles < 2:
            raise ValueError(f"max_receptacles must be >= 2 or None, got {self.max_receptacles}")
        lo, hi = self.distractors
        if not 0 <= lo <= hi:
            raise ValueError(
                f"distractors must be a range (lo, hi) with 0 <= lo <= hi, got {self.distractors}"
            )
        if self.max_targets < 2:
            raise ValueError(f"max_targets must be >= 2 (pick_two needs two), got {self.max_targets}")


@dataclass(frozen=True)
class Task:
    task_type: str
    object_type: str
    receptacle_type: str  # destination class; for look_at_obj_in_light the lamp's stand is used instead
    toggle_type: str = ""  # lamp class for look_at_obj_in_light


@dataclass(frozen=True)
class PlacedObject:
    obj_id: str
    otype: str
    receptacle_id: str


@dataclass
class Scene:
    floor_plan: FloorPlan
    task: Task
    receptacles: list[ReceptacleSpec]
    objects: list[PlacedObject] = field(default_factory=list)


class NoTaskFits(ValueError):
    """The floor plan cannot host any task of the requested kinds."""


def room_types_for(task_type: str) -> set[str]:
    """Rooms ALFRED allows for a task type (e.g. heating only happens in kitchens)."""
    return set(catalog.constants.GOALS_VALID[task_type])


def _lamp_stands(plan: FloorPlan) -> list[ReceptacleSpec]:
    return [r for r in plan.receptacles if r.rtype in catalog.LAMP_STANDS]


def _starting_places(plan: FloorPlan, otype: str, goal_rtype: str) -> list[ReceptacleSpec]:
    """Furniture where a task object may start: it must fit there and not already satisfy the goal."""
    table = catalog.can_contain()
    return [r for r in plan.receptacles if r.rtype != goal_rtype and otype in table.get(r.rtype, ())]


def candidate_tasks(plan: FloorPlan, task_type: str) -> list[Task]:
    """Every (object, destination, lamp) combination of this type the floor plan supports."""
    table = catalog.can_contain()
    rtypes = sorted(plan.receptacle_types())
    if task_type == "look_at_obj_in_light":
        if not plan.lamp_types or not _lamp_stands(plan):
            return []
        return [
            Task(task_type, otype, "", lamp)
            for otype in plan.object_types
            for lamp in plan.lamp_types
            if _starting_places(plan, otype, "")
        ]
    station, affordance = _STATION.get(task_type, (None, None))
    if station is not None and station not in rtypes:
        return []
    objects = plan.object_types
    if affordance is not None:
        objects = tuple(o for o in objects if o in catalog.action_types(affordance))
    return [
        Task(task_type, otype, rtype)
        for otype in objects
        for rtype in rtypes
        if rtype != station and otype in table[rtype] and _starting_places(plan, otype, rtype)
    ]


def _mangle_coord(value: float) -> str:
    return f"{value:+06.2f}"


def _object_id(otype: str, rng: random.Random) -> str:
    """ALFRED object ids are the class plus a 3-D position; the position only makes ids unique."""
    x, y, z = (rng.uniform(-4.0, 4.0) for _ in range(3))
    return f"{otype}|{_mangle_coord(x)}|{_mangle_coord(y)}|{_mangle_coord(z)}"


def _required_receptacles(plan: FloorPlan, task: Task, rng: random.Random) -> list[ReceptacleSpec]:
    required: list[ReceptacleSpec] = []
    if task.task_type == "look_at_obj_in_light":
        required.append(rng.choice(_lamp_stands(plan)))
    else:
        required.append(rng.choice([r for r in plan.receptacles if r.rtype == task.receptacle_type]))
    station = _STATION.get(task.task_type, (None, None))[0]
    if station is not None:
        required.append(rng.choice([r for r in plan.receptacles if r.rtype == station]))
    starts = [r for r in _starting_places(plan, task.object_type, task.receptacle_type) if r not in required]
    if starts:
        required.append(rng.choice(starts))
    return required


def _choose_receptacles(
    plan: FloorPlan, task: Task, knobs: SceneKnobs, rng: random.Random
) -> list[ReceptacleSpec]:
    required = _required_receptacles(plan, task, rng)
    others = [r for r in plan.receptacles if r not in required]
    rng.shuffle(others)
    budget = (
        len(plan.receptacles) if knobs.max_receptacles is None else max(knobs.max_receptacles, len(required))
    )
    chosen = set(required) | set(others[: budget - len(required)])
    return [r for r in plan.receptacles if r in chosen]  # floor-plan order keeps ids stable


def sample_scene(plan: FloorPlan, task: Task, knobs: SceneKnobs, rng: random.Random) -> Scene:
    """Furnish the room and place the task objects, an optional lamp and the distractors."""
    receptacles = _choose_receptacles(plan, task, knobs, rng)
    table = catalog.can_contain()
    scene = Scene(plan, task, receptacles)
    used_ids: set[str] = {r.obj_id for r in receptacles}

    def place(otype: str, spots: list[ReceptacleSpec]) -> None:
        obj_id = _object_id(otype, rng)
        while obj_id in used_ids:
            obj_id = _object_id(otype, rng)
        used_ids.add(obj_id)
        scene.objects.append(PlacedObject(obj_id, otype, rng.choice(spots).obj_id))

    starts = [
        r
        for r in receptacles
        if r.rtype != task.receptacle_type and task.object_type in table.get(r.rtype, ())
    ]
    low = 2 if task.task_type == "pick_two_obj_and_place" else 1
    for _ in range(rng.randint(low, knobs.max_targets)):
        place(task.object_type, starts)

    if task.toggle_type:
        stands = [r for r in receptacles if r.rtype in catalog.LAMP_STANDS]
        place(task.toggle_type, stands)

    distractor_types = [o for o in plan.object_types if o != task.object_type]
    hosts = {o: [r for r in receptacles if o in table.get(r.rtype, ())] for o in distractor_types}
    distractor_types = [o for o in distractor_types if hosts[o]]
    if distractor_types:
        for _ in range(rng.randint(*knobs.distractors)):
            otype = rng.choice(distractor_types)
            place(otype, hosts[otype])
    return scene
