"""Graphs with hashable nodes and numeric edge weights."""

from graphs.graph import CycleError, Graph

__all__ = ["CycleError", "Graph"]
