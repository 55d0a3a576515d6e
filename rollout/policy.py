"""Who chooses the next action of each live episode: the episode runner's one seam for its policy.

The runner owns how an episode is played (resets, memory, steps, turn limit, env errors, refilled slots); a
policy only answers what each live episode does next. The default is the engine: every live episode's prompt in
one ``generate`` call, each answer parsed into an action. The SFT warm start passes the env's expert instead, so
its demonstrations are played by the same loop as the rollouts they prepare for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rollout.engine import Completion, Engine, SamplingParams
from rollout.parse import ParsedAction, parse_action, parse_tool_call
from rollout.policy_version import PolicyVersion
from rollout.prompts import EpisodeMemory, PromptBuilder
from rollout.trajectory import Trajectory


@dataclass
class LiveEpisode:
    """An episode in play: its trajectory so far, what its next prompt shows, and the env's latest ``info``
    (where an env's expert puts its next action)."""

    traj: Trajectory
    memory: EpisodeMemory
    info: dict[str, Any]
    anchor: str
    """The env state the next action is taken in (GiGPO's step groups)."""


@dataclass
class Choice:
    """A policy's answer for one episode: the action the env is stepped with, and the prompt and completion the
    learner trains on (a policy that is not a model leaves the prompt and the completion's tokens empty)."""

    action: ParsedAction
    prompt_ids: list[int]
    completion: Completion


class Policy(Protocol):
    policy_version: PolicyVersion | None
    """The stamp of the weights that choose, recorded on each trajectory (None: not a model)."""

    def choose(self, episodes: Sequence[LiveEpisode], sampling: SamplingParams) -> list[Choice]:
        """One choice per episode, in the order given."""
        ...

    def drain(self) -> None:
        """Called when a run has no more episodes to ask about (see ``Engine.drain``)."""
        ...


class EnginePolicy:
    """The model served by an engine: prompts built from each episode's memory, answers parsed into actions."""

    def __init__(self, engine: Engine, builder: PromptBuilder, max_action_chars: int) -> None:
        self.engine = engine
        self.builder = builder
        self.max_action_chars = max_action_chars

    @property
    def policy_version(self) -> PolicyVersion:
        return self.engine.policy_version

    def choose(self, episodes: Sequence[LiveEpisode], sampling: SamplingParams) -> list[Choice]:
        prompts = [self.builder.build(episode.memory).token_ids for episode in episodes]
        completions = self.engine.generate(prompts, sampling)
        if len(completions) != len(prompts):
            raise RuntimeError(f"engine returned {len(completions)} completions for {len(prompts)} prompts")
        return [
            Choice(self._parse(completion.text, episode.memory.admissible_actions), prompt, completion)
            for episode, prompt, completion in zip(episodes, prompts, completions)
        ]

    def drain(self) -> None:
        self.engine.drain()

    def _parse(self, text: str, admissible: list[str] | None) -> ParsedAction:
        config = self.builder.config
        if config.tool_calls:
            return parse_tool_call(text)
        return parse_action(
            text,
            admissible,
            require_think=config.action_format == "think_action",
            max_action_chars=self.max_action_chars,
        )
