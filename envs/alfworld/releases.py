"""Which ALFWorld game release a ``game.tw-pddl`` file belongs to, read from its own grammar.

Two releases of the official games are in users' hands, both unpacked under ``json_2.1.1/``:

* ``2.1.1`` (alfworld < 0.4, the games of the original paper and of most published numbers): the
  put command is ``put {o} in/on {r}``, arriving somewhere says ``You arrive at loc 12.`` and there
  is no ``help`` command.
* ``2.1.2`` (``json_2.1.2_tw-pddl.zip``, what ``alfworld-download`` of alfworld 0.4.x fetches):
  ``move {o} to {r}``, ``You arrive at countertop 1.`` and a ``help`` action in domain and grammar.
  Games written by ``envs.alfworld.generation.generate`` use the grammar of the installed alfworld wheel, which
  is this release's grammar.

Both play unchanged: the game's own grammar and domain make TextWorld's admissible commands and
observations, so an agent trained on one release sees the other release's commands as invalid.
That is why a split must not mix releases, and why the release is reported with every split count.
"""

from __future__ import annotations

from pathlib import Path

RELEASE_2_1_1 = "2.1.1"
RELEASE_2_1_2 = "2.1.2"
RELEASES: tuple[str, ...] = (RELEASE_2_1_1, RELEASE_2_1_2)

# The put command's template as it appears in the JSON text of a game file.
_PUT_TEMPLATES = {
    RELEASE_2_1_1: 'template :: \\"put {o} in/on {r}\\"',
    RELEASE_2_1_2: 'template :: \\"move {o} to {r}\\"',
}
_REQUIRED_KEYS = ("pddl_domain", "grammar", "pddl_problem")


class GameFileError(ValueError):
    """A game file that cannot be one of the supported releases (names the file and the defect)."""


def release_of_text(text: str, path: str | Path) -> str:
    """The release of a game file from its raw JSON text, without parsing the whole (large) file.

    Raises ``GameFileError`` for a truncated file (an interrupted download or unzip), a file missing
    one of the three parts TextWorld loads, or a grammar of neither release.
    """
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise GameFileError(f"{path}: not a complete JSON object (truncated download or unzip?)")
    missing = [key for key in _REQUIRED_KEYS if f'"{key}"' not in text]
    if missing:
        raise GameFileError(f"{path}: not an ALFWorld game.tw-pddl file, missing {missing}")
    found = [release for release, template in _PUT_TEMPLATES.items() if template in text]
    if len(found) != 1:
        raise GameFileError(
            f"{path}: grammar has {'both' if found else 'neither'} of the put commands of ALFWorld "
            f"releases {RELEASE_2_1_1} ('put {{o}} in/on {{r}}') and {RELEASE_2_1_2} ('move {{o}} to {{r}}')"
        )
    return found[0]
