"""Adjacency-dict graphs; neighbours are visited in insertion order, so results are deterministic."""

import heapq
from collections import deque


class CycleError(ValueError):
    pass


class Graph:
    def __init__(self, directed=False):
        self.directed = directed
        self._adj = {}

    def add_node(self, node):
        self._adj.setdefault(node, {})

    def add_edge(self, a, b, weight=1):
        if weight < 0:
            raise ValueError("negative weights are not supported")
        self.add_node(a)
        self.add_node(b)
        self._adj[a][b] = weight
        if not self.directed:
            self._adj[b][a] = weight

    def nodes(self):
        return list(self._adj)

    def neighbors(self, node):
        return list(self._adj[node])

    def edge_count(self):
        total = sum(len(targets) for targets in self._adj.values())
        return total if self.directed else total // 2

    def degree(self, node):
        return len(self._adj[node])

    def bfs(self, start):
        seen = {start}
        order = []
        queue = deque([start])
        while queue:
            node = queue.popleft()
            order.append(node)
            for nxt in self._adj[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return order

    def dfs(self, start):
        seen = set()
        order = []
        stack = [start]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            stack.extend(reversed(list(self._adj[node])))
        return order

    def shortest_path(self, start, goal):
        """Fewest edges; None when unreachable."""
        parents = {start: None}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == goal:
                path = []
                while node is not None:
                    path.append(node)
                    node = parents[node]
                return path[::-1]
            for nxt in self._adj[node]:
                if nxt not in parents:
                    parents[nxt] = node
                    queue.append(nxt)
        return None

    def dijkstra(self, start):
        """Smallest total weight from start to every reachable node."""
        dist = {start: 0}
        heap = [(0, 0, start)]
        counter = 1
        while heap:
            d, _, node = heapq.heappop(heap)
            if d > dist.get(node, float("inf")):
                continue
            for nxt, weight in self._adj[node].items():
                candidate = d + weight
                if candidate < dist.get(nxt, float("inf")):
                    dist[nxt] = candidate
                    heapq.heappush(heap, (candidate, counter, nxt))
                    counter += 1
        return dist

    def topological_sort(self):
        """Kahn's algorithm, ties broken by insertion order."""
        if not self.directed:
            raise ValueError("topological order needs a directed graph")
        indegree = {node: 0 for node in self._adj}
        for targets in self._adj.values():
            for target in targets:
                indegree[target] += 1
        ready = deque(node for node in self._adj if indegree[node] == 0)
        order = []
        while ready:
            node = ready.popleft()
            order.append(node)
            for target in self._adj[node]:
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        if len(order) != len(self._adj):
            raise CycleError("graph has a cycle")
        return order

    def connected_components(self):
        if self.directed:
            raise ValueError("components are defined here for undirected graphs")
        seen = set()
        components = []
        for node in self._adj:
            if node not in seen:
                component = self.bfs(node)
                seen.update(component)
                components.append(sorted(component))
        return components

    def has_cycle(self):
        if self.directed:
            try:
                self.topological_sort()
            except CycleError:
                return True
            return False
        return self.edge_count() > len(self._adj) - len(self.connected_components())
