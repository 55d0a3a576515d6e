import pytest
from graphs import CycleError, Graph


def sample():
    g = Graph()
    for a, b in [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]:
        g.add_edge(a, b)
    return g


def test_nodes_and_edges():
    g = sample()
    assert g.nodes() == ["a", "b", "c", "d", "e"]
    assert g.edge_count() == 5
    assert g.degree("d") == 3
    assert g.neighbors("a") == ["b", "c"]


def test_directed_edges():
    g = Graph(directed=True)
    g.add_edge(1, 2)
    g.add_edge(2, 3)
    assert g.neighbors(2) == [3]
    assert g.edge_count() == 2


def test_negative_weight_rejected():
    with pytest.raises(ValueError):
        Graph().add_edge(1, 2, weight=-1)


def test_bfs_order():
    assert sample().bfs("a") == ["a", "b", "c", "d", "e"]


def test_dfs_order():
    assert sample().dfs("a") == ["a", "b", "d", "c", "e"]


def test_shortest_path():
    assert sample().shortest_path("a", "e") == ["a", "b", "d", "e"]
    assert sample().shortest_path("c", "c") == ["c"]


def test_shortest_path_unreachable():
    g = sample()
    g.add_node("z")
    assert g.shortest_path("a", "z") is None


def test_dijkstra():
    g = Graph()
    g.add_edge("s", "a", 4)
    g.add_edge("s", "b", 1)
    g.add_edge("b", "a", 2)
    g.add_edge("a", "t", 1)
    g.add_edge("b", "t", 5)
    assert g.dijkstra("s") == {"s": 0, "a": 3, "b": 1, "t": 4}


def test_dijkstra_directed():
    g = Graph(directed=True)
    g.add_edge(1, 2, 7)
    g.add_edge(1, 3, 2)
    g.add_edge(3, 2, 3)
    g.add_edge(2, 4, 1)
    assert g.dijkstra(1) == {1: 0, 2: 5, 3: 2, 4: 6}
    assert g.dijkstra(4) == {4: 0}


def test_dijkstra_zero_weight():
    g = Graph()
    g.add_edge("x", "y", 0)
    assert g.dijkstra("x") == {"x": 0, "y": 0}


def test_topological_sort():
    g = Graph(directed=True)
    for a, b in [
        ("shirt", "tie"),
        ("tie", "jacket"),
        ("pants", "shoes"),
        ("pants", "belt"),
        ("belt", "jacket"),
    ]:
        g.add_edge(a, b)
    assert g.topological_sort() == ["shirt", "pants", "tie", "shoes", "belt", "jacket"]


def test_topological_sort_cycle():
    g = Graph(directed=True)
    g.add_edge(1, 2)
    g.add_edge(2, 3)
    g.add_edge(3, 1)
    with pytest.raises(CycleError):
        g.topological_sort()


def test_topological_sort_undirected():
    with pytest.raises(ValueError):
        sample().topological_sort()


def test_connected_components():
    g = sample()
    g.add_edge("x", "y")
    g.add_node("q")
    assert g.connected_components() == [["a", "b", "c", "d", "e"], ["x", "y"], ["q"]]


def test_has_cycle_undirected():
    assert sample().has_cycle()
    tree = Graph()
    tree.add_edge(1, 2)
    tree.add_edge(1, 3)
    tree.add_edge(3, 4)
    assert not tree.has_cycle()


def test_has_cycle_directed():
    g = Graph(directed=True)
    g.add_edge(1, 2)
    g.add_edge(1, 3)
    g.add_edge(2, 3)
    assert not g.has_cycle()
    g.add_edge(3, 1)
    assert g.has_cycle()
