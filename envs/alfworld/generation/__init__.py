"""Offline: writing ALFWorld games from the alfworld wheel's floor plans (``python -m envs.alfworld.generation.generate``).
Nothing here runs while an env plays; the env only reads the folders this writes."""
