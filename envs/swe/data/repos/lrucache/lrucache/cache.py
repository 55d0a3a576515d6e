"""LRU cache on a dict plus a doubly linked list (most recent at the head)."""

import functools


class _Node:
    __slots__ = ("key", "value", "prev", "next")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.prev = None
        self.next = None


class CacheStats:
    def __init__(self):
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def hit_rate(self):
        total = self.hits + self.misses
        if total == 0:
            return 0.0
        return self.hits / total


class LRUCache:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._map = {}
        self._head = None
        self._tail = None
        self.stats = CacheStats()

    def __len__(self):
        return len(self._map)

    def __contains__(self, key):
        return key in self._map

    def _unlink(self, node):
        if node.prev is not None:
            node.prev.next = node.next
        else:
            self._head = node.next
        if node.next is not None:
            node.next.prev = node.prev
        else:
            self._tail = node.prev
        node.prev = None
        node.next = None

    def _push_front(self, node):
        node.next = self._head
        node.prev = None
        if self._head is not None:
            self._head.prev = node
        self._head = node
        if self._tail is None:
            self._tail = node

    def get(self, key, default=None):
        node = self._map.get(key)
        if node is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        self._unlink(node)
        self._push_front(node)
        return node.value

    def peek(self, key, default=None):
        """Read without touching recency or statistics."""
        node = self._map.get(key)
        return default if node is None else node.value

    def put(self, key, value):
        node = self._map.get(key)
        if node is not None:
            node.value = value
            self._unlink(node)
            self._push_front(node)
            return
        node = _Node(key, value)
        self._map[key] = node
        self._push_front(node)
        if len(self._map) > self.capacity:
            self._evict()

    def _evict(self):
        oldest = self._tail
        self._unlink(oldest)
        del self._map[oldest.key]
        self.stats.evictions += 1

    def delete(self, key):
        node = self._map.pop(key, None)
        if node is None:
            return False
        self._unlink(node)
        return True

    def keys(self):
        """Keys from most to least recently used."""
        out = []
        node = self._head
        while node is not None:
            out.append(node.key)
            node = node.next
        return out

    def resize(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        while len(self._map) > self.capacity:
            self._evict()

    def clear(self):
        self._map.clear()
        self._head = None
        self._tail = None


def memoize(capacity=128):
    """Decorator caching results of a function of hashable positional arguments."""

    def decorate(func):
        cache = LRUCache(capacity)
        missing = object()

        @functools.wraps(func)
        def wrapper(*args):
            value = cache.get(args, missing)
            if value is missing:
                value = func(*args)
                cache.put(args, value)
            return value

        wrapper.cache = cache
        return wrapper

    return decorate
