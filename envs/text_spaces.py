"""Gymnasium space for free-form natural-language observations and actions.

``gymnasium.spaces.Text`` decides membership by a finite charset. Env text is arbitrary
Unicode (product titles, source code, tracebacks), and enumerating every printable code point
as a charset costs ~25 MB and ~0.4 s per space. ``TextSpace`` keeps a small ASCII charset for
sampling but accepts any printable string (plus tab/newline/carriage return) of allowed length.
"""

import string

from gymnasium.spaces import Text

DEFAULT_MAX_TEXT_LENGTH = 100_000

#: Characters ``sample()`` draws from: printable ASCII including space and newline.
SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"

_LAYOUT_WHITESPACE = str.maketrans("", "", "\n\t\r")


def is_printable_text(text: str) -> bool:
    """True if ``text`` has only printable characters or layout whitespace (tab, newline, CR)."""
    return text.translate(_LAYOUT_WHITESPACE).isprintable()


class TextSpace(Text):
    """Any printable string of ``min_length..max_length`` characters."""

    def __init__(
        self, max_length: int = DEFAULT_MAX_TEXT_LENGTH, *, min_length: int = 0, seed: int | None = None
    ):
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)

    def contains(self, x: object) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length and is_printable_text(x)

    def __repr__(self) -> str:
        return f"TextSpace({self.min_length}, {self.max_length}, any printable text)"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TextSpace)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((TextSpace, self.min_length, self.max_length))
