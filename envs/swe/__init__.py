"""SWE env: repository bug fixing in a bubblewrap sandbox, graded by hidden tests (see README.md).

Kept import-light: the env class lives in `envs.swe.env` (registered as turnrl/SWE-v0).
"""

from envs.swe.tools import TOOL_PROMPT

__all__ = ["TOOL_PROMPT"]
