"""Turn an episode's state into prompt token ids: per-env wording, a history window, a hard token budget.

Each turn is rendered from scratch (task, last K turns, current observation, admissible actions, output
format) rather than appended to a growing chat: that keeps prompts short and bounded, as verl-agent does
with its window of 2. When the rendering is longer than the budget the oldest history goes first, then the
observation is cut in its middle, then the action list and the task; the last resort keeps the prompt's
tail. No input makes ``build`` raise: a bad prompt is a worse turn, a crash is a lost run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from rollout.choices import ACTION_FORMATS

log = logging.getLogger(__name__)

ActionFormat = Literal[ACTION_FORMATS]

_FORMATS = {
    ("think_action", False): (
        "Think step by step inside <think> </think>, then give exactly one action inside <action> </action>."
    ),
    ("action", False): "Reply with exactly one action inside <action> </action> and nothing else.",
    ("think_action", True): (
        "Think step by step inside <think> </think>, then write exactly one tool call "
        "<function=NAME>...</function> at the end of your reply."
    ),
    ("action", True): "Reply with exactly one tool call <function=NAME>...</function> and nothing else.",
}

_CUT_MARK = " [...] "


@dataclass(frozen=True, kw_only=True)
class PromptConfig:
    """How prompts are written. The trainer fills every field from its config schema (``rollout.*``) and the
    env's spec; the defaults here are the schema's (a test keeps them equal). ``action_format`` and
    ``max_prompt_tokens`` (the budget after the chat template is applied, derived from the model's context)
    have none: a caller always chooses them."""

    action_format: ActionFormat
    max_prompt_tokens: int
    intro: str = ""
    """The env's opening paragraph (its ``EnvSpec.intro``), shown when ``instructions`` is on."""
    tool_calls: bool = False
    """Answers are tool-call blocks (the env's ``EnvSpec.tool_calls``), so the format line asks for one."""
    history_window: int = 2
    full_history: bool = False
    instructions: bool = True
    """Open with the env's introduction and close with the answer-format line. A model that cannot read them
    (one trained from scratch) only pays for their tokens."""
    restate_after_rejection: bool = False
    """After an action the env rejected, show the state the agent is still in beside the env's answer (the
    env's ``EnvSpec.rejection_is_feedback``). Without it, ALFWorld's "Nothing happens." replaces the room
    description and, once it fills the history window too, the prompt no longer says where the agent is."""

    def __post_init__(self) -> None:
        if self.action_format not in ACTION_FORMATS:
            raise ValueError(f"action_format must be one of {ACTION_FORMATS}, got {self.action_format!r}")
        if self.history_window < 0:
            raise ValueError(f"history_window must be >= 0, got {self.history_window}")
        if self.max_prompt_tokens < 16:
            raise ValueError(f"max_prompt_tokens must be >= 16, got {self.max_prompt_tokens}")


@dataclass
class PastTurn:
    observation: str  # what the agent saw when it acted
    action: str  # what was sent to the env


STILL_MARK = "Still:"


@dataclass
class EpisodeMemory:
    """Everything a prompt may show about one episode so far."""

    task: str
    observation: str
    admissible_actions: list[str] | None = None
    turns: list[PastTurn] = field(default_factory=list)
    state: str = ""
    """The observation of the last action the env accepted (the reset's at first): where the agent is."""

    def __post_init__(self) -> None:
        self.state = self.state or self.observation

    def record(
        self,
        action: str,
        next_observation: str,
        admissible_actions: list[str] | None,
        *,
        restate: bool = False,
    ) -> None:
        """Append a turn. ``restate``: the env rejected ``action`` and changed nothing, so ``next_observation``
        is only its answer ("Nothing happens."); the current observation then adds the unchanged state."""
        self.turns.append(PastTurn(self.observation, action))
        if restate:
            self.observation = f"{next_observation} {STILL_MARK} {self.state}"
        else:
            self.observation = self.state = next_observation
        self.admissible_actions = admissible_actions


@dataclass
class Prompt:
    token_ids: list[int]
    history_shown: int  # past turns that made it into the prompt
    cut: bool  # something beyond the history window had to be shortened


class PromptBuilder:
    """Renders an ``EpisodeMemory`` with the tokenizer's chat template under a token budget."""

    def __init__(self, tokenizer, config: PromptConfig) -> None:
        self.tokenizer = tokenizer
        self.config = config

    def build(self, memory: EpisodeMemory) -> Prompt:
        config = self.config
        window = (
            memory.turns if config.full_history else memory.turns[len(memory.turns) - config.history_window :]
        )
        first_step = len(memory.turns) - len(window)
        fields = {
            "task": memory.task,
            "observation": memory.observation,
            "actions": memory.admissible_actions,
        }

        ids = self._encode(fields, window, first_step)
        if len(ids) <= config.max_prompt_tokens:
            return Prompt(ids, len(window), False)
        dropped = self._fewest_dropped(fields, window, first_step)
        if dropped is not None:
            kept = window[dropped:]
            return Prompt(self._encode(fields, kept, first_step + dropped), len(kept), False)
        return self._cut_fields(fields, len(memory.turns))

    def _fewest_dropped(self, fields: dict, window: list[PastTurn], first_step: int) -> int | None:
        """Binary search for the fewest oldest turns to drop so the prompt fits; None if even 0 turns is too long."""
        if len(self._encode(fields, [], len(window) + first_step)) > self.config.max_prompt_tokens:
            return None
        low, high = 1, len(window)  # dropping `high` turns fits; dropping 0 does not
        while low < high:
            mid = (low + high) // 2
            if len(self._encode(fields, window[mid:], first_step + mid)) <= self.config.max_prompt_tokens:
                high = mid
            else:
                low = mid + 1
        return high

    def _cut_fields(self, fields: dict, step: int) -> Prompt:
        """No history fits: shorten the observation, then the action list, then the task."""
        budget = self.config.max_prompt_tokens
        fields = dict(fields)
        for name in ("observation", "actions", "task"):
            for _ in range(4):  # BPE merges make lengths non-additive: re-measure and cut again
                ids = self._encode(fields, [], step)
                if len(ids) <= budget:
                    return Prompt(ids, 0, True)
                fields[name] = self._shorten(fields[name], len(ids) - budget + 8)
        ids = self._encode(fields, [], step)
        if len(ids) > budget:
            log.warning(
                "prompt still %d tokens after cutting every field; keeping its last %d", len(ids), budget
            )
            ids = ids[-budget:]
        return Prompt(ids, 0, True)

    def _shorten(self, value, excess_tokens: int):
        if value is None:
            return None
        if isinstance(value, list):  # admissible actions: drop whole entries from the middle of the list
            if not value:
                return value
            list_tokens = max(1, len(self.tokenizer.encode("\n".join(value), add_special_tokens=False)))
            keep = min(len(value) - 1, int(len(value) * max(0.0, 1.0 - excess_tokens / list_tokens)))
            head = keep // 2
            return value[:head] + value[len(value) - (keep - head) :]
        ids = self.tokenizer.encode(value, add_special_tokens=False)
        keep = len(ids) - excess_tokens
        if keep <= 0:
            return _CUT_MARK.strip()
        head = keep // 3
        tail = keep - head
        return self.tokenizer.decode(ids[:head]) + _CUT_MARK + self.tokenizer.decode(ids[len(ids) - tail :])

    def render_text(self, fields: dict, window: list[PastTurn], first_step: int) -> str:
        """The user message (before the chat template): our own wording, one layout for every env."""
        config = self.config
        parts = [config.intro] if config.instructions and config.intro else []
        parts.append(f"Your task: {fields['task']}")
        if window:
            lines = [f"Your previous {len(window)} step(s):"]
            for offset, turn in enumerate(window):
                number = first_step + offset + 1
                lines.append(f"Step {number} observation: {turn.observation}")
                lines.append(f"Step {number} action: {turn.action}")
            parts.append("\n".join(lines))
        current_step = first_step + len(window) + 1
        parts.append(f"Current observation (step {current_step}): {fields['observation']}")
        actions = fields["actions"]
        if actions is not None:
            parts.append("Admissible actions:\n" + "\n".join(f"- {a}" for a in actions))
        if config.instructions:
            parts.append(_FORMATS[(config.action_format, config.tool_calls)])
        return "\n\n".join(parts)

    def _encode(self, fields: dict, window: list[PastTurn], first_step: int) -> list[int]:
        text = self.render_text(fields, window, first_step)
        rendered = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer.encode(rendered, add_special_tokens=False)
