"""Writing a sampled scene as an ALFWorld game file (``game.tw-pddl``) and its ``traj_data.json``.

The game file is the exact format ALFWorld's TextWorld backend loads: the PDDL domain and the
text grammar shipped in the alfworld wheel, the grammar's "UNKNOWN GOAL" replaced by the task
sentence, and a per-game PDDL problem. The problem's goal comes verbatim from the wheel's goal
library (``alfworld.gen.goal_library``), so "won" means what it means in the official games.

Things the Fast Downward fork parses strictly (learned the hard way):
sections must come in the order objects / init / goal (no ``:metric`` before ``:objects``),
every receptacle/object class pair that may hold needs a ``canContain`` fact, and the type
constants the domain names (SinkBasinType, MicrowaveType, FridgeType, KnifeType, ...) must be
declared even when absent from the room.
"""

from __future__ import annotations

import random
from pathlib import Path

from alfworld import info as alfworld_info
from alfworld.gen import goal_library

from envs.alfworld.generation import catalog
from envs.alfworld.generation.scene import Scene

# Class constants the domain's actions refer to by name.
_DOMAIN_RTYPES = ("SinkBasin", "Microwave", "Fridge")
_DOMAIN_OTYPES = ("Knife", "ButterKnife")

_MANGLE = (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))


def mangle(alfred_id: str) -> str:
    """ALFRED ids hold characters PDDL forbids; ALFWorld encodes them this way (undone by its Demangler)."""
    for char, code in _MANGLE:
        alfred_id = alfred_id.replace(char, code)
    return alfred_id


def domain_text() -> str:
    return Path(alfworld_info.ALFRED_PDDL_PATH).read_text()


def grammar_template() -> str:
    return Path(alfworld_info.ALFRED_TWL2_PATH).read_text()


def task_description(scene: Scene, rng: random.Random) -> str:
    """One of the goal library's sentence templates for this task, filled with lower-case class names."""
    task = scene.task
    template = rng.choice(goal_library.gdict[task.task_type]["templates"])
    return template.format(
        obj=task.object_type.lower(),
        recep=task.receptacle_type.lower(),
        toggle=task.toggle_type.lower(),
        mrecep="",
    )


def goal_pddl(scene: Scene) -> str:
    task = scene.task
    text = goal_library.gdict[task.task_type]["pddl"].format(
        obj=task.object_type, recep=task.receptacle_type, toggle=task.toggle_type, mrecep=""
    )
    return text.replace("#", "-")  # the library writes PDDL types as "?x # type"


def _location(index: int, pose: tuple[int, int, int, int]) -> str:
    """Each piece of furniture gets its own location, named after its standing pose."""
    return mangle("loc|{}|{}|{}|{}|{}".format(index, *pose))


def problem_pddl(scene: Scene, problem_name: str) -> str:
    task = scene.task
    recep_names = {r.obj_id: mangle(r.obj_id) for r in scene.receptacles}
    recep_loc = {r.obj_id: _location(i + 1, r.pose) for i, r in enumerate(scene.receptacles)}
    start_loc = mangle("loc|0|0|0|0|0")

    rtypes = sorted({r.rtype for r in scene.receptacles} | set(_DOMAIN_RTYPES))
    otypes = sorted({o.otype for o in scene.objects} | set(_DOMAIN_OTYPES) | {task.object_type})

    objects = ["agent1 - agent", f"{start_loc} - location"]
    objects += [f"{loc} - location" for loc in recep_loc.values()]
    objects += [f"{name} - receptacle" for name in recep_names.values()]
    objects += [f"{mangle(o.obj_id)} - object" for o in scene.objects]
    objects += [f"{t}Type - otype" for t in otypes]
    objects += [f"{t}Type - rtype" for t in rtypes]

    init = [f"(atLocation agent1 {start_loc})"]
    openable = catalog.openable_types()
    for r in scene.receptacles:
        name = recep_names[r.obj_id]
        init.append(f"(receptacleType {name} {r.rtype}Type)")
        init.append(f"(receptacleAtLocation {name} {recep_loc[r.obj_id]})")
        if r.rtype in openable:
            init.append(f"(openable {name})")

    table = catalog.can_contain()
    present_otypes = {o.otype for o in scene.objects}
    for rtype in rtypes:
        for otype in sorted(present_otypes & table.get(rtype, frozenset())):
            init.append(f"(canContain {rtype}Type {otype}Type)")

    affordances = {
        "cleanable": catalog.action_types("Cleanable"),
        "heatable": catalog.action_types("Heatable"),
        "coolable": catalog.action_types("Coolable"),
    }
    for o in scene.objects:
        name = mangle(o.obj_id)
        init.append(f"(objectType {name} {o.otype}Type)")
        init.append(f"(inReceptacle {name} {recep_names[o.receptacle_id]})")
        init.append(f"(objectAtLocation {name} {recep_loc[o.receptacle_id]})")
        if o.otype in catalog.LAMP_TYPES:
            init.append(f"(toggleable {name})")
            continue
        init.append(f"(pickupable {name})")
        init.extend(f"({fact} {name})" for fact, kinds in affordances.items() if o.otype in kinds)

    lines = [f"(define (problem {problem_name})", "    (:domain alfred)", "    (:objects"]
    lines += [f"        {entry}" for entry in objects]
    lines += ["    )", "    (:init"]
    lines += [f"        {fact}" for fact in init]
    lines += ["    )", goal_pddl(scene)]
    return "\n".join(lines) + "\n"


def game_json(scene: Scene, task_text: str, problem: str, walkthrough: list[str]) -> dict:
    """The ``game.tw-pddl`` payload; ``solvable`` is only ever written for planner-checked games."""
    return {
        "pddl_domain": domain_text(),
        "grammar": grammar_template().replace("UNKNOWN GOAL", task_text),
        "pddl_problem": problem,
        "solvable": True,
        "walkthrough": walkthrough,
    }


def traj_json(scene: Scene, task_text: str, game_id: str, walkthrough: list[str]) -> dict:
    """The subset of ALFRED's ``traj_data.json`` ALFWorld reads, plus our provenance fields."""
    task = scene.task
    return {
        "task_id": game_id,
        "task_type": task.task_type,
        "pddl_params": {
            "object_target": task.object_type,
            "parent_target": task.receptacle_type,
            "toggle_target": task.toggle_type,
            "mrecep_target": "",
            "object_sliced": False,
        },
        "scene": {"floor_plan": scene.floor_plan.name, "scene_num": scene.floor_plan.number},
        "task_desc": task_text,
        "room_type": scene.floor_plan.room_type,
        "expert_plan": walkthrough,
        "generator": "turnrl.envs.alfworld",
    }
