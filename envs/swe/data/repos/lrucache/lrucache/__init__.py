"""A least-recently-used cache."""

from lrucache.cache import CacheStats, LRUCache, memoize

__all__ = ["CacheStats", "LRUCache", "memoize"]
