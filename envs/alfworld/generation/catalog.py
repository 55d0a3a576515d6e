"""What a room may contain, read from the tables the alfworld wheel ships.

The generator never invents furniture: receptacles come from the AI2-THOR floor plans
(``gen/layouts/FloorPlan*-openable.json`` gives real receptacle ids, ``*-objects.json`` the
object classes present in each plan), what fits where comes from
``constants.VAL_RECEPTACLE_OBJECTS`` and which objects can be cleaned / heated / cooled / toggled
from ``constants.VAL_ACTION_OBJECTS``. Seen/unseen floor plans follow ALFRED's own split
(``constants.TRAIN_SCENE_NUMBERS`` / ``TEST_SCENE_NUMBERS``), so "out of distribution" means
room layouts that never appear in training, as in the official benchmark.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from alfworld.gen import constants

ROOM_TYPES: tuple[str, ...] = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")

# Lamps are toggled where they stand; ALFRED puts desk and floor lamps next to these pieces.
LAMP_TYPES: frozenset[str] = frozenset({"DeskLamp", "FloorLamp"})
LAMP_STANDS: frozenset[str] = frozenset({"Desk", "SideTable", "Dresser", "Shelf", "CoffeeTable", "TVStand"})

# Receptacle classes a plan lists without an interaction pose get this many instances.
_DEFAULT_INSTANCES = {"StoveBurner": 4}

_BASIN_OWNERS = {"Sink": "SinkBasin", "Bathtub": "BathtubBasin"}


@dataclass(frozen=True)
class ReceptacleSpec:
    """One piece of furniture of a floor plan: ALFRED object id, class, and standing pose."""

    obj_id: str
    rtype: str
    pose: tuple[int, int, int, int]


@dataclass(frozen=True)
class FloorPlan:
    """A real AI2-THOR room: its receptacles and the movable object classes it holds."""

    name: str
    number: int
    room_type: str
    receptacles: tuple[ReceptacleSpec, ...]
    object_types: tuple[str, ...]
    lamp_types: tuple[str, ...]

    def receptacle_types(self) -> set[str]:
        return {r.rtype for r in self.receptacles}


def layouts_dir() -> Path:
    return Path(constants.__file__).resolve().parent / "layouts"


@functools.cache
def can_contain() -> dict[str, frozenset[str]]:
    """Receptacle class -> object classes it accepts (sliced variants and lamps excluded)."""
    table: dict[str, frozenset[str]] = {}
    for rtype, otypes in constants.VAL_RECEPTACLE_OBJECTS.items():
        table[rtype] = frozenset(o for o in otypes if not o.endswith("Sliced"))
    return table


@functools.cache
def pickupable_types() -> frozenset[str]:
    """Object classes that fit in some receptacle, i.e. the ones an agent can carry around."""
    return frozenset().union(*can_contain().values())


def action_types(kind: str) -> frozenset[str]:
    """Object classes with an ALFRED affordance: 'Cleanable', 'Heatable', 'Coolable', 'Toggleable'."""
    return frozenset(constants.VAL_ACTION_OBJECTS[kind])


def openable_types() -> frozenset[str]:
    return frozenset(constants.OPENABLE_CLASS_LIST)


def room_type_of(number: int) -> str:
    for room, numbers in constants.SCENE_TYPE.items():
        if number in numbers:
            return room
    raise ValueError(f"floor plan number {number} belongs to no ALFRED room type")


def _grid_pose(values: list[float]) -> tuple[int, int, int, int]:
    """ALFRED locations are grid cells of 0.25 m plus rotation and camera horizon."""
    x, z, rotation, horizon = values
    return (round(x / 0.25), round(z / 0.25), int(rotation), int(horizon))


def _class_of(obj_id: str) -> str:
    parts = obj_id.split("|")
    return parts[-1] if parts[0] in _BASIN_OWNERS and len(parts) == 5 else parts[0]


def _synthetic_pose(plan: str, obj_id: str) -> tuple[int, int, int, int]:
    """A stable pose for furniture the plan lists without one (stove burners, toilets, ...)."""
    digest = hashlib.sha256(f"{plan}:{obj_id}".encode()).digest()
    return (digest[0] % 32 - 16, digest[1] % 32 - 16, 90 * (digest[2] % 4), 30)


def _synthetic_id(rtype: str, plan: str, index: int) -> str:
    digest = hashlib.sha256(f"{plan}:{rtype}:{index}".encode()).digest()
    x, y, z = ((digest[i] - 128) / 40.0 for i in range(3))
    return f"{rtype}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"


@functools.cache
def load_floor_plan(number: int) -> FloorPlan:
    name = f"FloorPlan{number}"
    base = layouts_dir()
    try:
        posed = json.loads((base / f"{name}-openable.json").read_text())
        classes = json.loads((base / f"{name}-objects.json").read_text())
    except FileNotFoundError as err:
        raise ValueError(f"{name} is not shipped in the alfworld wheel ({base})") from err

    accepted = set(can_contain())
    receptacles = [
        ReceptacleSpec(obj_id, _class_of(obj_id), _grid_pose(pose))
        for obj_id, pose in sorted(posed.items())
        if _class_of(obj_id) in accepted
    ]
    posed_classes = {r.rtype for r in receptacles}
    for cls in sorted(set(classes)):
        rtype = _BASIN_OWNERS.get(cls, cls)
        if rtype not in accepted or rtype in posed_classes or rtype in constants.MOVABLE_RECEPTACLES_SET:
            continue
        posed_classes.add(rtype)
        for index in range(_DEFAULT_INSTANCES.get(rtype, 1)):
            obj_id = _synthetic_id(rtype, name, index)
            if rtype in _BASIN_OWNERS.values():
                owner = next(k for k, v in _BASIN_OWNERS.items() if v == rtype)
                obj_id = f"{owner}|{obj_id.split('|', 1)[1]}|{rtype}"
            receptacles.append(ReceptacleSpec(obj_id, rtype, _synthetic_pose(name, obj_id)))

    pickable = pickupable_types()
    object_types = tuple(sorted(c for c in set(classes) if c in pickable))
    lamps = tuple(sorted(c for c in set(classes) if c in LAMP_TYPES))
    return FloorPlan(name, number, room_type_of(number), tuple(receptacles), object_types, lamps)


def floor_plan_numbers(seen: bool) -> list[int]:
    """ALFRED's seen (training) or unseen (test) floor plans that the wheel ships."""
    numbers = constants.TRAIN_SCENE_NUMBERS if seen else constants.TEST_SCENE_NUMBERS
    base = layouts_dir()
    return sorted(n for n in numbers if (base / f"FloorPlan{n}-openable.json").exists())
