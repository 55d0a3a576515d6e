"""ToyEnv: a tiny deterministic household text game for fast tests of rollouts and training.

It mimics ALFWorld's surface (receptacles, "go to"/"take"/"put" commands, admissible actions,
an expert, reward 10 on success) but is pure Python and builds in microseconds, so the rollout
runner, the pool and the trainer can be tested end to end without TextWorld.

Three task types, all solvable in 2-5 actions from the start:
  open  - "open the fridge"                 go, open
  pick  - "pick up the mug"                 go, [open], take
  put   - "put the apple in the fridge"     go, take, go, [open], put  (the object starts on an open surface)

Splits: every game is assigned to "train" or "test" by a hash of its content (and the seed), so
the two splits are disjoint whatever their sizes; each split lists its first ``n_tasks`` games
from a seeded stream, so task ids 0..n_tasks-1 always mean the same games.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Any

import gymnasium

from envs.text_spaces import TextSpace

#: receptacle -> (has a door, preposition for "put")
RECEPTACLES: dict[str, tuple[bool, str]] = {
    "cabinet": (True, "in"),
    "countertop": (False, "on"),
    "drawer": (True, "in"),
    "fridge": (True, "in"),
    "microwave": (True, "in"),
    "shelf": (False, "on"),
    "table": (False, "on"),
}
OBJECTS = ("apple", "bread", "egg", "knife", "mug", "plate", "potato", "spoon", "tomato")
TASK_TYPES = ("open", "pick", "put")
SPLITS = ("train", "test")
TEST_FRACTION_DENOMINATOR = 5  # one game in five belongs to the test split
INVALID_ACTION_OBS = "Nothing happens."


@dataclasses.dataclass(frozen=True)
class ToyTask:
    """One game: where the objects start and what the goal is. All doors start closed."""

    task_type: str
    placements: tuple[tuple[str, str], ...]  # (object, receptacle), sorted by object
    target_object: str | None
    target_receptacle: str | None

    def description(self) -> str:
        if self.task_type == "open":
            return f"open the {self.target_receptacle}"
        if self.task_type == "pick":
            return f"pick up the {self.target_object}"
        preposition = RECEPTACLES[self.target_receptacle][1]
        return f"put the {self.target_object} {preposition} the {self.target_receptacle}"


def _random_task(rng: random.Random) -> ToyTask:
    objects = sorted(rng.sample(OBJECTS, rng.randint(3, 5)))
    names = sorted(RECEPTACLES)
    placements = {obj: rng.choice(names) for obj in objects}
    task_type = rng.choice(TASK_TYPES)
    target_object = target_receptacle = None
    if task_type == "open":
        target_receptacle = rng.choice([r for r in names if RECEPTACLES[r][0]])
    elif task_type == "pick":
        target_object = rng.choice(objects)
    else:
        # Starting on an open surface keeps the plan within 5 actions.
        on_surfaces = [o for o in objects if not RECEPTACLES[placements[o]][0]]
        if not on_surfaces:
            target_object = objects[0]
            placements[target_object] = rng.choice([r for r in names if not RECEPTACLES[r][0]])
        else:
            target_object = rng.choice(on_surfaces)
        target_receptacle = rng.choice([r for r in names if r != placements[target_object]])
    return ToyTask(task_type, tuple(sorted(placements.items())), target_object, target_receptacle)


def _split_of(task: ToyTask, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{task!r}".encode()).digest()
    return "test" if digest[0] % TEST_FRACTION_DENOMINATOR == 0 else "train"


def generate_tasks(split: str, n_tasks: int, seed: int) -> list[ToyTask]:
    """The first ``n_tasks`` distinct games of ``split`` for ``seed``; deterministic across processes."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"toy/{seed}/{split}")
    tasks: list[ToyTask] = []
    seen: set[ToyTask] = set()
    attempts = 0
    while len(tasks) < n_tasks:
        attempts += 1
        if attempts > 50 * n_tasks + 1000:
            raise ValueError(f"could not find {n_tasks} distinct {split} games; ask for fewer")
        task = _random_task(rng)
        if task not in seen and _split_of(task, seed) == split:
            seen.add(task)
            tasks.append(task)
    return tasks


def _with_article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _listing(nouns: list[str]) -> str:
    if not nouns:
        return "nothing"
    items = [_with_article(n) for n in nouns]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f", and {items[-1]}"


class ToyEnv(gymnasium.Env):
    """Deterministic text game; reset/step info carries the keys every turnrl env puts in ``info``."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        split: str = "train",
        n_tasks: int = 64,
        seed: int = 0,
        max_steps: int = 10,
        success_reward: float = 10.0,
    ):
        if max_steps < 2:
            raise ValueError(f"max_steps must be >= 2 (the shortest task needs 2 actions), got {max_steps}")
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
        self.split = split
        self.max_steps = max_steps
        self.success_reward = float(success_reward)
        self._tasks = generate_tasks(split, n_tasks, seed)
        self.task_ids: list[int] = list(range(n_tasks))
        self.observation_space = TextSpace(max_length=4096)
        self.action_space = TextSpace(max_length=1024)
        self._task: ToyTask | None = None
        self._task_id: int | None = None
        self._done = True
        self._anchor = ""

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        task_id = (options or {}).get("task_id")
        if task_id is None:
            task_id = int(self.np_random.integers(len(self._tasks)))
        if not isinstance(task_id, int) or isinstance(task_id, bool) or not 0 <= task_id < len(self._tasks):
            raise ValueError(f"task_id must be an int in [0, {len(self._tasks)}), got {task_id!r}")
        self._task_id, self._task = task_id, self._tasks[task_id]
        self._location: str | None = None
        self._is_open = {name: False for name, (has_door, _) in RECEPTACLES.items() if has_door}
        self._where = dict(self._task.placements)  # object -> receptacle, for objects not held
        self._holding: str | None = None
        self._steps = 0
        self._done = False
        obs = f"{self._room_view()}\n\nYour task is to: {self._task.description()}."
        return obs, self._info(obs, valid_action=True)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("ToyEnv.step called after the episode ended (or before reset); call reset")
        self._steps += 1
        command = " ".join(action.lower().split()) if isinstance(action, str) else None
        valid = command is not None and command in self._admissible()
        obs = self._apply(command) if valid else INVALID_ACTION_OBS
        won = self._won()
        terminated = won
        truncated = not won and self._steps >= self.max_steps
        self._done = terminated or truncated
        reward = self.success_reward if won else 0.0
        return obs, reward, terminated, truncated, self._info(obs, valid_action=valid)

    # ------------------------------------------------------------------ game rules

    def _visible(self, receptacle: str) -> bool:
        return self._is_open.get(receptacle, True)

    def _contents(self, receptacle: str) -> list[str]:
        return sorted(obj for obj, where in self._where.items() if where == receptacle)

    def _describe(self, receptacle: str) -> str:
        if not self._visible(receptacle):
            return f"The {receptacle} is closed."
        if receptacle in self._is_open:
            return f"The {receptacle} is open. In it, you see {_listing(self._contents(receptacle))}."
        return f"On the {receptacle}, you see {_listing(self._contents(receptacle))}."

    def _room_view(self) -> str:
        return (
            "You are in the middle of a room. Looking quickly around you, you see "
            f"{_listing(sorted(RECEPTACLES))}."
        )

    def _admissible(self) -> list[str]:
        actions = [f"go to {r}" for r in sorted(RECEPTACLES) if r != self._location]
        here = self._location
        if here is not None:
            if here in self._is_open:
                actions.append(f"{'close' if self._is_open[here] else 'open'} {here}")
            if self._visible(here):
                if self._holding is None:
                    actions += [f"take {obj} from {here}" for obj in self._contents(here)]
                else:
                    actions.append(f"put {self._holding} {RECEPTACLES[here][1]} {here}")
        return actions + ["inventory", "look"]

    def _apply(self, command: str) -> str:
        """Execute an admissible command and describe the result."""
        if command.startswith("go to "):
            self._location = command.removeprefix("go to ")
            return f"You arrive at the {self._location}. {self._describe(self._location)}"
        if command.startswith("open "):
            self._is_open[self._location] = True
            return (
                f"You open the {self._location}. In it, you see {_listing(self._contents(self._location))}."
            )
        if command.startswith("close "):
            self._is_open[self._location] = False
            return f"You close the {self._location}."
        if command.startswith("take "):
            obj = command.split()[1]
            del self._where[obj]
            self._holding = obj
            return f"You pick up the {obj} from the {self._location}."
        if command.startswith("put "):
            obj, self._holding = self._holding, None
            self._where[obj] = self._location
            return f"You put the {obj} {RECEPTACLES[self._location][1]} the {self._location}."
        if command == "inventory":
            return (
                f"You are carrying: {_with_article(self._holding)}."
                if self._holding
                else "You are not carrying anything."
            )
        if self._location is None:
            return self._room_view()
        return f"You are facing the {self._location}. {self._describe(self._location)}"

    def _won(self) -> bool:
        task = self._task
        if task.task_type == "open":
            return self._is_open[task.target_receptacle]
        if task.task_type == "pick":
            return self._holding == task.target_object
        return self._where.get(task.target_object) == task.target_receptacle

    def _expert_action(self) -> str | None:
        """Shortest next command towards the goal from the current state; None once won."""
        if self._won():
            return None
        task = self._task
        if task.task_type == "open":
            return self._step_towards_open(task.target_receptacle, then=f"open {task.target_receptacle}")
        if self._holding == task.target_object:  # only "put" reaches here holding the target
            target = task.target_receptacle
            return self._step_towards_open(
                target, then=f"put {self._holding} {RECEPTACLES[target][1]} {target}"
            )
        if self._holding is not None:  # holding something else: set it down first
            here = self._location
            return self._step_towards_open(here, then=f"put {self._holding} {RECEPTACLES[here][1]} {here}")
        source = self._where[task.target_object]
        return self._step_towards_open(source, then=f"take {task.target_object} from {source}")

    def _step_towards_open(self, receptacle: str, then: str) -> str:
        if self._location != receptacle:
            return f"go to {receptacle}"
        if not self._visible(receptacle):
            return f"open {receptacle}"
        return then

    def _info(self, obs: str, valid_action: bool) -> dict[str, Any]:
        if valid_action:  # an invalid command changes nothing: the state keeps its anchor (as in ALFWorld)
            self._anchor = obs
        return {
            "task": self._task.description(),
            "task_id": self._task_id,
            "task_type": self._task.task_type,
            "admissible_actions": self._admissible(),
            "won": self._won(),
            "anchor": self._anchor,
            "valid_action": valid_action,
            "expert_action": self._expert_action(),
        }
