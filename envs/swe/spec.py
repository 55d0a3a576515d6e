"""SWE's registration: its config section (``env.swe``), defaults, tool-call answers, the expert's calls as text."""

from __future__ import annotations

import shutil
from typing import Any, Literal

from pydantic import Field

from envs.spec import EnvSection, EnvSpec


class SWEEnvConfig(EnvSection):
    """SWE options."""

    data_dir: str | None = None
    """SWE-bench / SWE-Gym / R2E JSON(L) tasks; empty: the shipped task set."""
    backend: Literal["bwrap", "docker"] = "bwrap"
    """Sandbox: bubblewrap (no daemon needed) or Docker (official SWE-bench images)."""
    grading_slots: int = Field(2, ge=1)
    """Hidden-test gradings allowed at once across all env workers."""
    show_hints: bool = False
    """Append the instance's ``hints_text`` to the problem statement."""


def make_kwargs(section: SWEEnvConfig, split: str, max_turns: int, with_expert: bool) -> dict[str, Any]:
    return {
        "split": split,
        "data_dir": section.data_dir,
        "max_turns": max_turns,
        "backend": section.backend,
        "grading_slots": section.grading_slots,
        "show_hints": section.show_hints,
        # the rollout prompt opens with the tool manual already (the spec's intro); the env need not repeat it
        "tool_prompt_in_obs": False,
    }


def intro() -> str:
    """The env's own tool manual, so the prompt and the env never describe the tools differently."""
    from envs.swe.tools import TOOL_PROMPT

    return TOOL_PROMPT.strip()


def expert_text(expert_action: Any) -> str:
    """The expert's structured call (``{"tool": ...}``) as the call block a model writes."""
    from envs.swe.tools import format_action

    if isinstance(expert_action, dict):
        return format_action(expert_action)
    if isinstance(expert_action, str) and expert_action:
        return expert_action
    raise ValueError(f"the SWE env gave no usable info['expert_action'] ({expert_action!r})")


def requirements() -> str:
    return "yes (bubblewrap)" if shutil.which("bwrap") else "no (apt-get install bubblewrap)"


SWE = EnvSpec(
    name="swe",
    gym_id="turnrl/SWE-v0",
    entry_point="envs.swe.env:SWEEnv",
    section=SWEEnvConfig,
    make_kwargs=make_kwargs,
    max_turns=40,
    train_split="train",
    eval_split="test",
    intro=intro,
    tool_calls=True,
    expert_text=expert_text,
    requirements=requirements,
    path_fields=("data_dir",),
)
