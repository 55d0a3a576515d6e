"""Playing ALFWorld game files with TextWorld's PDDL backend, cheaply enough for RL rollouts.

A `GameSession` is the same wrapper stack ALFWorld's own ``AlfredTWEnv`` builds (PDDL env +
``AlfredDemangler`` + ``AlfredInfos`` + the planner ``AlfredExpert``), owning one private copy of
the Fast Downward library, so several sessions can live in one worker process.

Why the caches: TextWorld re-runs the Fast Downward PDDL->SAS translation twice on every
``reset`` and re-parses the grammar and domain on every ``load``, which is most of the cost of
starting an episode; and every step re-parses the same few dozen text templates and logic
queries with a PEG parser to write the feedback and the admissible commands, and replans with
the planner. All of these are pure functions of their inputs (strings, or the planning task and
its exact state), so one process keeps their results (bounded LRU, or a plain memo for the
handful of templates) and hands out fresh copies where TextWorld mutates them. The game itself
(state, text, planner search) still runs exactly as TextWorld does it; a test plays games with
and without the memos and compares every observation, admissible list and expert action.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fast_downward
import textworld
from alfworld.agents.environment.alfred_tw_env import (
    AlfredDemangler,
    AlfredExpert,
    AlfredExpertType,
    AlfredInfos,
)
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl import textgen
from textworld.envs.pddl.pddl import PddlEnv
from textworld.logic import Rule

PLAN_CACHE_SIZE = 20_000  # planner answers, ~1 KB each
TRANSLATION_CACHE_SIZE = 128  # two translations per game
GAME_CACHE_SIZE = 64  # ~4 MB per full-room game in a process


class _LRU:
    """A small thread-safe least-recently-used memo (values are computed outside the lock)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        value = compute()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value

    def discard(self, key: Any) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


_plans = _LRU(PLAN_CACHE_SIZE)
_translations = _LRU(TRANSLATION_CACHE_SIZE)
_game_data = _LRU(GAME_CACHE_SIZE)
_game_logic = _LRU(GAME_CACHE_SIZE)


def translate_pddl(domain: str, problem: str, verbose: bool = False, optimize: bool = False):
    """Fast Downward's translation, memoised; it also overwrites ``sys.argv``, which we undo."""

    def compute():
        saved_argv = sys.argv
        try:
            return fast_downward.pddl2sas(domain, problem, verbose=verbose, optimize=optimize)
        finally:
            sys.argv = saved_argv

    return _translations.get_or_compute((domain, problem, optimize), compute)


class _FastDownwardWithMemo(types.ModuleType):
    """Stands in for the ``fast_downward`` module inside TextWorld's PDDL logic only."""

    def __init__(self) -> None:
        super().__init__("fast_downward")
        self.pddl2sas = translate_pddl

    def __getattr__(self, name: str) -> Any:
        return getattr(fast_downward, name)


def _memo_template_parser(parse: Callable[..., list]) -> Callable[..., list]:
    """Grammar templates parse to symbol lists that derivation mutates: cache, hand out copies."""
    parsed: dict[tuple, list] = {}

    def parse_template(text: str, **kwargs: Any) -> list:
        key = (text, tuple(sorted(kwargs.items())))
        if key not in parsed:
            parsed[key] = parse(text, **kwargs)
        return copy.deepcopy(parsed[key])

    return parse_template


def _memo_query_parser(parse: Callable[[str], Rule]) -> Callable[[str], Rule]:
    """Conjunctive queries parse to Rules that are only read, so one instance per text is shared."""
    return functools.lru_cache(maxsize=4096)(parse)


def _copy_context(context: dict) -> dict:
    """TextWorld deep-copies the variable bindings for every symbol it derives, although it only
    ever adds bindings to the copies (the entity infos inside are read, never written); copying
    the two dicts one level deep gives the same text at a fraction of the cost."""
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def _memo_replan(replan: Callable[..., list]) -> Callable[..., list]:
    """The expert's plan is a function of the planning task and the exact current state.

    The state is read from Fast Downward itself (every state variable), so two equal keys mean
    the same search from the same state; the search is deterministic. Resets of the same game
    (a GRPO group) and commands that change nothing then cost a lookup instead of a search,
    which in large kitchens takes up to ~0.6 s. The plan is returned as commands written with the
    grammar's action templates, which differ between game releases of the same planning task
    (``put {o} in/on {r}`` in 2.1.1, ``move {o} to {r}`` in 2.1.2), so the templates are part of the key.
    """

    def replan_memo(state: Any, infos: dict) -> list:
        lib = state.downward_lib
        atoms = (fast_downward.Atom * lib.get_state_size())()
        lib.get_state(atoms)
        task = getattr(state, "_turnrl_task_digest", None)
        if task is None:
            templates = sorted((name, action.template) for name, action in state._logic.actions.items())
            text = state.sas_replan + repr(templates)
            task = state._turnrl_task_digest = hashlib.sha1(text.encode()).digest()
        key = (task, hashlib.sha1(b"\n".join(atom._name for atom in atoms)).digest())
        return list(_plans.get_or_compute(key, lambda: replan(state, infos)))

    return replan_memo


def plain_textworld() -> bool:
    """``TURNRL_ALFWORLD_PLAIN=1`` runs TextWorld unmodified (the equivalence test compares both)."""
    return os.environ.get("TURNRL_ALFWORLD_PLAIN") == "1"


@functools.cache
def install_memos() -> None:
    """Swap TextWorld's pure parsing/translation helpers for memoised ones (once per process)."""
    if plain_textworld():
        return
    pddl_logic.fast_downward = _FastDownwardWithMemo()
    textgen._parse_and_convert = _memo_template_parser(textgen._parse_and_convert)
    textgen.copy_context = _copy_context
    Rule.parse_conjunctive_query = staticmethod(_memo_query_parser(Rule.parse_conjunctive_query))
    pddl_logic.PddlState.replan = _memo_replan(pddl_logic.PddlState.replan)


def read_game(path: str) -> dict:
    """The parsed ``game.tw-pddl`` of a path (memoised; game files never change under us)."""

    def compute():
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read ALFWorld game file {path}: {err}") from err
        missing = {"pddl_domain", "grammar", "pddl_problem"} - set(data)
        if missing:
            raise ValueError(f"{path} is not a game.tw-pddl file: missing {sorted(missing)}")
        return data

    return _game_data.get_or_compute(path, compute)


# The "task" rule of a game's grammar: the one line in which the grammars of two games of one domain differ.
_TASK_RULE = re.compile(r'"task": \[\s*\{\s*"rhs": ("(?:[^"\\]|\\.)*")\s*\}\s*\]')
_TASK_PLACEHOLDER = '"TASK"'


def game_logic(domain: str, grammar: str) -> pddl_logic.GameLogic:
    """The parsed domain and grammar of a game, sharing one parse among every game of the domain.

    Parsing them costs ~0.1 s (a PEG parser over 13 KB), paid at the first reset of every game in every
    worker. Generated grammars differ only in the task sentence, so the rest is parsed once per process and
    each game gets a shallow copy with its own task rule; a grammar of any other shape is parsed whole.
    """
    match = None if plain_textworld() else _TASK_RULE.search(grammar)
    if match is None:
        return _game_logic.get_or_compute(
            (domain, grammar), lambda: pddl_logic.GameLogic(domain=domain, grammar=grammar)
        )
    template = grammar[: match.start(1)] + _TASK_PLACEHOLDER + grammar[match.end(1) :]
    shared = _game_logic.get_or_compute(
        (domain, template), lambda: pddl_logic.GameLogic(domain=domain, grammar=template)
    )
    task_rule = textgen.ContextSensitiveGrammar.parse(
        json.dumps({"task": [{"rhs": json.loads(match.group(1))}]})
    )
    logic = copy.copy(shared)
    logic.grammar = textgen.ContextSensitiveGrammar()
    logic.grammar.update(shared.grammar)
    logic.grammar._rules["task"] = task_rule._rules["task"]
    return logic


class _CachedPddlEnv(PddlEnv):
    """TextWorld's PDDL env whose ``load`` reuses the parsed game file and game logic."""

    def load(self, filename_or_data: str) -> None:
        data = read_game(filename_or_data)
        self._game_file = filename_or_data
        self._game_data = data
        self.walkthrough = data.get("walkthrough")
        self._logic = game_logic(data["pddl_domain"], data["grammar"])
        self._pddl_state = pddl_logic.PddlState(self.downward_lib, data["pddl_problem"], self._logic)
        self._entity_infos = self._get_entity_infos()


def forget_game(path: str) -> None:
    """Drop a memoised game file (the generator rewrites files it has just played)."""
    _game_data.discard(path)


def cache_stats() -> dict[str, int]:
    return {
        "translation_hits": _translations.hits,
        "translation_misses": _translations.misses,
        "logic_hits": _game_logic.hits,
        "logic_misses": _game_logic.misses,
        "plan_hits": _plans.hits,
        "plan_misses": _plans.misses,
    }


def clear_caches() -> None:
    """Forget every memoised game (benchmarks use it to time cold loads)."""
    for cache in (_plans, _translations, _game_data, _game_logic):
        cache.clear()


NOTHING_HAPPENS = "Nothing happens."


class GameSession:
    """One playable ALFWorld game at a time; ``load`` switches games, ``reset`` restarts one.

    With ``expert=True`` the PDDL planner expert (ALFWorld's ``AlfredExpert`` in planner mode)
    replans after every step; that search is most of a step's cost, so RL runs that never read
    the expert can turn it off.
    """

    def __init__(self, expert: bool = True) -> None:
        install_memos()
        self.expert = expert
        extras = ["gamefile", "expert_plan"] if expert else ["gamefile"]
        env: Any = _CachedPddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, extras=extras))
        wrappers: list[Any] = [AlfredDemangler(shuffle=False), AlfredInfos]
        if expert:
            wrappers.append(AlfredExpert(expert_type=AlfredExpertType.PLANNER))
        for wrapper in wrappers:
            env = wrapper(env)
        self._env = env
        self._skip_unknown_commands = not plain_textworld()
        self.game_file: str | None = None
        self.state: Any = None

    def load(self, game_file: str) -> None:
        if game_file != self.game_file:
            self.game_file = None
            self._env.load(game_file)
            self.game_file = game_file

    def reset(self) -> Any:
        if self.game_file is None:
            raise RuntimeError("GameSession.reset called before a game was loaded")
        self.state = self._env.reset()
        return self.state

    @property
    def expert_plan(self) -> list[str] | None:
        return self.state["extra.expert_plan"] if self.expert else None

    def step(self, command: str) -> str:
        """Play a command and return the game's answer; ``self.state`` is the new state.

        TextWorld answers a command that is not among the admissible ones (help included) with
        "Nothing happens." and leaves the game untouched, yet recomputes every admissible command
        and replans; we give the same answer without that work.
        """
        if self.state is None:
            raise RuntimeError("GameSession.step called before reset")
        command = command.strip()
        if self._skip_unknown_commands and command not in self.state["admissible_commands"]:
            return NOTHING_HAPPENS
        self.state, _, _ = self._env.step(command)
        return self.state["feedback"]

    def close(self) -> None:
        self._env.close()
