"""Semantic versions (semver.org 2.0.0)."""

from semver.version import Version, max_satisfying, satisfies

__all__ = ["Version", "max_satisfying", "satisfies"]
