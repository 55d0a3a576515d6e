"""What the rest of turnrl knows about an env, in one object per env.

The trainer, the prompts, the runner, the warm start and ``turnrl doctor`` read an env's facts only from its
``EnvSpec`` (registered in ``envs/__init__.py``), never by testing its name. Adding an env is its own folder
(the gymnasium env, a ``spec.py`` with its config section and this object) and one ``register`` line.

Spec modules stay import-light (pydantic and the standard library): the config schema is built from them
before anything heavy is imported, so a typo in a config still fails in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium
from pydantic import BaseModel, ConfigDict


class EnvSection(BaseModel):
    """Base of an env's config section (``env.<name>`` in the YAML): unknown keys are errors and the attribute
    docstrings are the fields' documentation, as in every other section of the schema."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


def _as_text(expert_action: Any) -> str:
    if isinstance(expert_action, str) and expert_action:
        return expert_action
    raise ValueError(
        f"the env gives no usable info['expert_action'] ({expert_action!r}): the SFT warm start needs one"
    )


@dataclass(frozen=True)
class EnvSpec:
    """One env's registration: identity, defaults, config section, prompt wording, expert and requirements."""

    name: str
    """``env.name`` in configs, and the name of its config section."""
    gym_id: str
    """gymnasium id (``turnrl/<Name>-v0``)."""
    entry_point: str
    """``module:Class`` of the gymnasium env, imported only inside env worker processes."""
    section: type[EnvSection]
    """Its config section (``env.<name>``)."""
    make_kwargs: Callable[[Any, str, int, bool], dict[str, Any]]
    """(section, split, max_turns, with_expert) -> the env's constructor arguments. ``with_expert``: the warm
    start plays the expert, so envs whose expert costs time build it only then."""
    max_turns: int
    """Turn limit of the published setup, used when ``rollout.max_turns`` is empty."""
    train_split: str
    eval_split: str
    """Default training and held-out splits."""
    intro: Callable[[], str]
    """The prompt's opening paragraph (``rollout.instructions``), read when prompts are built."""
    tool_calls: bool = False
    """Answers are tool-call blocks (``<function=...>``) instead of ``<action>...</action>``."""
    rejection_is_feedback: bool = False
    """A rejected action (``info["valid_action"]`` false) changes nothing and its observation is only a line of
    feedback (ALFWorld's "Nothing happens."), not a description of the state: prompts then restate the state
    (``rollout.restate_after_rejection``)."""
    expert_text: Callable[[Any], str] = _as_text
    """``info["expert_action"]`` -> the text a model would write for it (the SFT label)."""
    atomic_strings: Callable[[Any], list[str]] | None = None
    """(section) -> strings the tiny model's tokenizer keeps whole, one token each: names an agent copies from
    a page into its action (WebShop's product IDs and clickables), which byte-pair merges would cut into
    pieces. Read once when the quickstart builds its tiny model; None: the plain BPE tokenizer."""
    prepare_kwargs: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Run once in the trainer's process before env workers start (e.g. build a generated data set there,
    on every core, instead of inside one worker)."""
    requirements: Callable[[], str] = lambda: "yes"
    """What ``turnrl doctor`` prints: "yes", or what is missing and how to install it."""
    data_report: Callable[[], list[str]] | None = None
    """Extra doctor lines about data the user pointed at (e.g. split sizes of an official release)."""
    path_fields: tuple[str, ...] = ()
    """Fields of the section that name files or folders: checked to exist before a run starts."""
    replayable: bool = False
    """Two episodes reset with the same task and seed and stepped with the same actions see the same
    observations, so replaying a prefix of actions reaches the state it reached the first time
    (``rollout.branch_at_failure`` needs it)."""


_SPECS: dict[str, EnvSpec] = {}


def register(spec: EnvSpec) -> EnvSpec:
    """Make ``spec`` known to turnrl (config schema, trainer, doctor) and its env to gymnasium."""
    _SPECS[spec.name] = spec
    if spec.gym_id not in gymnasium.registry:  # re-imports (notebooks) must not trip gymnasium's warning
        gymnasium.register(id=spec.gym_id, entry_point=spec.entry_point)
    return spec


def env_specs() -> dict[str, EnvSpec]:
    """Every registered env, in registration order."""
    return dict(_SPECS)


def get_spec(name: str) -> EnvSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"no env named {name!r}; registered: {', '.join(_SPECS)}") from None
