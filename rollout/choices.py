"""Every choice list of the rollout side, in one torch-free module.

The config schema (``trainer/config.py``) builds its allowed values from these tuples and the rollout code
checks its arguments against the same ones, so a new choice is added in one place. Importing this module
imports no torch: ``rollout/__init__.py`` loads the engines and the runner only when one of its public names
is first used.
"""

ENGINE_KINDS = ("auto", "hf", "vllm")
"""Rollout engines: ``auto`` is vLLM wherever it is installed, else the HF engine."""
ACTION_FORMATS = ("think_action", "action")
"""What an answer holds: a ``<think>`` block then the action, or the action alone."""
INVALID_TURN_RULES = ("malformed", "inadmissible")
"""What may make a turn invalid: only a malformed answer, or also an action the env does not admit."""
