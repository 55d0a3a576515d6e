"""An expert that knows only what the agent has seen: the planner's moves, minus its clairvoyance.

The PDDL planner knows where every object lies, so its first move in a new room is straight to the
hidden object. A policy that imitates it learns "the object is wherever I go first", which is wrong
on every unseen game, and RL on top of it made the quickstart model worse, not better. ``SearchingExpert``
follows the planner only where the planner's move needs no hidden knowledge; while the thing to
fetch has not been seen it opens the closed receptacle it stands at, or walks to the first receptacle
it has not looked into yet, in the order of the admissible list (sorted, so a policy that sees the
list can follow the same order).
"""

from __future__ import annotations

import re

_GO_TO = "go to "
_OPEN = "open "
# Plan steps that act on something found at the receptacle just walked to: its place must be known.
_FETCHES = ("take ", "use ")


def _kind(receptacle: str) -> str:
    """``drawer 2`` -> ``drawer``."""
    return receptacle.rsplit(" ", 1)[0]


class SearchingExpert:
    """One episode's searcher; call ``observe`` after every step and ``act`` for the next command."""

    def __init__(self, task: str) -> None:
        self.task_words = set(re.findall(r"[a-z]+", task.lower()))
        self.location: str | None = None
        self.checked: set[str] = set()

    def observe(self, command: str, observation: str) -> None:
        """Track where the agent stands and which receptacles it has looked into."""
        if command.startswith(_GO_TO) and observation.startswith("You arrive at"):
            self.location = command[len(_GO_TO) :]
            if "is closed" not in observation:
                self.checked.add(self.location)
        elif command.startswith(_OPEN) and observation.startswith("You open the"):
            self.checked.add(command[len(_OPEN) :])

    def act(self, plan: list[str], admissible: list[str]) -> str | None:
        """The planner's next command when it relies on nothing unseen, else the next search move."""
        if not plan:
            return None
        if not self._needs_unseen(plan):
            return plan[0]
        here = self.location
        if here is not None and here not in self.checked and f"{_OPEN}{here}" in admissible:
            return f"{_OPEN}{here}"
        places = [a[len(_GO_TO) :] for a in admissible if a.startswith(_GO_TO)]
        unchecked = [p for p in places if p not in self.checked and p != here]
        # The task's own receptacle (the "desk" of "put a book on desk") is where things go, not
        # where they are: look there last.
        unchecked.sort(key=lambda p: _kind(p) in self.task_words)
        return f"{_GO_TO}{unchecked[0]}" if unchecked else plan[0]

    def _needs_unseen(self, plan: list[str]) -> bool:
        """True when the plan walks to a receptacle not yet looked into in order to fetch from it."""
        first = plan[0]
        if not first.startswith(_GO_TO):
            return False
        target = first[len(_GO_TO) :]
        if target in self.checked:
            return False
        following = [step for step in plan[1:] if step != f"{_OPEN}{target}"]
        return bool(following) and following[0].startswith(_FETCHES)
