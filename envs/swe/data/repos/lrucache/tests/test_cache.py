import pytest
from lrucache import LRUCache, memoize


def test_put_and_get():
    cache = LRUCache(2)
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert len(cache) == 1


def test_missing_key_returns_default():
    cache = LRUCache(2)
    assert cache.get("zzz") is None
    assert cache.get("zzz", 7) == 7


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        LRUCache(0)


def test_evicts_least_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert "a" not in cache
    assert "b" in cache
    assert "c" in cache
    assert len(cache) == 2


def test_get_refreshes_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert "a" in cache
    assert "b" not in cache


def test_put_existing_updates_value_and_recency():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("a") == 10
    assert "b" not in cache
    assert len(cache) == 2


def test_keys_order_most_recent_first():
    cache = LRUCache(3)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    cache.get("a")
    assert cache.keys() == ["a", "c", "b"]


def test_peek_does_not_change_order():
    cache = LRUCache(3)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.peek("a") == 1
    assert cache.keys() == ["b", "a"]
    assert cache.peek("x", 5) == 5


def test_delete():
    cache = LRUCache(3)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert cache.keys() == ["b"]


def test_delete_tail_then_evict():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.delete("a")
    cache.put("c", 3)
    cache.put("d", 4)
    assert cache.keys() == ["d", "c"]


def test_delete_head_keeps_links():
    cache = LRUCache(3)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    cache.delete("c")
    assert cache.keys() == ["b", "a"]
    cache.put("d", 4)
    assert cache.keys() == ["d", "b", "a"]


def test_stats_hits_and_misses():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.get("a")
    cache.get("a")
    cache.get("b")
    assert cache.stats.hits == 2
    assert cache.stats.misses == 1
    assert cache.stats.hit_rate == pytest.approx(2 / 3)


def test_stats_empty_hit_rate():
    assert LRUCache(1).stats.hit_rate == 0.0


def test_stats_evictions():
    cache = LRUCache(1)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.stats.evictions == 2


def test_resize_shrinks():
    cache = LRUCache(4)
    for i in range(4):
        cache.put(i, i)
    cache.resize(2)
    assert cache.keys() == [3, 2]
    assert cache.capacity == 2


def test_resize_rejects_zero():
    cache = LRUCache(2)
    with pytest.raises(ValueError):
        cache.resize(0)


def test_clear():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.clear()
    assert len(cache) == 0
    assert cache.keys() == []
    cache.put("b", 2)
    assert cache.keys() == ["b"]


def test_single_slot_cache():
    cache = LRUCache(1)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") is None
    assert cache.get("b") == 2


def test_memoize_caches_calls():
    calls = []

    @memoize(capacity=2)
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert calls == [3]


def test_memoize_evicts():
    calls = []

    @memoize(capacity=1)
    def double(x):
        calls.append(x)
        return 2 * x

    double(1)
    double(2)
    double(1)
    assert calls == [1, 2, 1]
    assert double.cache.stats.misses == 3


def test_memoize_keeps_name():
    @memoize()
    def some_function(x):
        return x

    assert some_function.__name__ == "some_function"
    assert some_function(None) is None
