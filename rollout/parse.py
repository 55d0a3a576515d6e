"""Model text -> env action, with a validity verdict that never raises.

Policy for an invalid turn (no or malformed tag, empty or over-long action, garbage bytes, an action not
in the env's admissible list, a missing ``<think>`` block when that format is required): the env is still
stepped, with the *text the model wrote* (the tag's content when there is one, else the cleaned tail of
the response; ``INVALID_ACTION_TEXT`` when nothing printable is left). Text envs answer such input as a
no-op (ALFWorld: "Nothing happens."), so the episode goes on and the turn is only flagged ``valid=False``;
the advantage estimator turns that flag into ``invalid_penalty`` (the runner never changes rewards).

SWE is different: the action is the ``<function=NAME>...</function>`` tool-call block and the env parses
it, so here we only find the block.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

INVALID_ACTION_TEXT = "invalid action"
NOT_ADMISSIBLE = "not_admissible"  # well-formed, but not one of the env's admissible actions

_ACTION_RE = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FUNCTION_RE = re.compile(r"<function\s*=\s*[^>\s]+\s*>.*?</function>", re.DOTALL | re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"<[^<>]+>")  # "search[<your query>]": any text may fill the slot
_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class ParsedAction:
    action: str  # what the env is stepped with
    valid: bool
    reason: str = ""  # empty when valid; otherwise why (for logs and metrics)


def clean_text(text: object) -> str:
    """Drop undecodable bytes (U+FFFD) and control characters other than newline and tab."""
    if not isinstance(text, str):
        return ""
    return "".join(
        ch for ch in text if ch in "\n\t" or (ch != "\ufffd" and not unicodedata.category(ch).startswith("C"))
    )


def normalize_action(text: str) -> str:
    """Comparison key: case, surrounding quotes/periods and runs of whitespace do not matter."""
    return _SPACES_RE.sub(" ", text).strip().strip("'\"`.").strip().lower()


class AdmissibleMatcher:
    """Maps a proposed action to the env's canonical spelling, honouring ``<placeholder>`` slots."""

    def __init__(self, admissible: Sequence[str]) -> None:
        self.exact: dict[str, str] = {}
        self.patterns: list[re.Pattern[str]] = []
        for entry in admissible:
            key = normalize_action(entry)
            if _PLACEHOLDER_RE.search(key):
                pieces = _PLACEHOLDER_RE.split(key)
                self.patterns.append(re.compile(".+".join(re.escape(p) for p in pieces), re.DOTALL))
            else:
                self.exact.setdefault(key, entry)

    def match(self, action: str) -> str | None:
        key = normalize_action(action)
        if key in self.exact:
            return self.exact[key]
        if any(pattern.fullmatch(key) for pattern in self.patterns):
            return action.strip()
        return None


def _fallback_action(text: str, max_chars: int) -> str:
    tail = text.strip()[-max_chars:].strip()
    return tail or INVALID_ACTION_TEXT


def parse_action(
    text: object,
    admissible: Sequence[str] | None = None,
    *,
    require_think: bool = False,
    max_action_chars: int = 300,
) -> ParsedAction:
    """Extract the ``<action>`` content and judge it. Works on any input, including non-strings."""
    cleaned = clean_text(text)
    found = _ACTION_RE.search(cleaned)
    if found is None:
        return ParsedAction(_fallback_action(cleaned, max_action_chars), False, "no_action_tag")
    action = found.group(1).strip()
    if not action:
        return ParsedAction(INVALID_ACTION_TEXT, False, "empty_action")
    if len(action) > max_action_chars:
        return ParsedAction(action[:max_action_chars], False, "too_long")
    if require_think and not _THINK_RE.search(cleaned[: found.start()]):
        return ParsedAction(action, False, "missing_think")
    if admissible is not None:
        canonical = AdmissibleMatcher(admissible).match(action)
        if canonical is None:
            return ParsedAction(action, False, NOT_ADMISSIBLE)
        action = canonical
    return ParsedAction(action, True)


def parse_tool_call(text: object, *, max_action_chars: int = 20000) -> ParsedAction:
    """SWE: the first complete ``<function=NAME>...</function>`` block, handed to the env unparsed."""
    cleaned = clean_text(text)
    found = _FUNCTION_RE.search(cleaned)
    if found is None:
        return ParsedAction(_fallback_action(cleaned, max_action_chars), False, "no_tool_call")
    block = found.group(0)
    if len(block) > max_action_chars:
        return ParsedAction(block[:max_action_chars], False, "too_long")
    return ParsedAction(block, True)
