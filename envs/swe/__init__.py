"""SWE env: repository bug fixing in a bubblewrap sandbox, graded by hidden tests (see README.md).

Kept import-light: the env class lives in `envs.swe.env` (registered as turnrl/SWE-v0).
"""

from envs.swe.tools import TOOL_PROMPT, format_action, parse_action

__all__ = ["TOOL_PROMPT", "format_action", "parse_action"]
