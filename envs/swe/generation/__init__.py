"""Offline: building the shipped SWE task set by bug injection (``python -m envs.swe.generation.generate``).
Nothing here runs while the env plays; it reads the task records and repositories this writes."""
