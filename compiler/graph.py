"""Graph algorithms over steps numbered 0..n-1, where deps[i] lists what i waits for."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from graphlib import CycleError


def stable_order(deps: Sequence[Sequence[int]]) -> list[int]:
    """The stable topological order: repeatedly take the lowest-numbered ready node.

    Raises graphlib.CycleError when there is none. O((V + E) log V); Kahn's algorithm with
    a heap, directly on the lists (graphlib's bookkeeping cost three times as much).
    """
    count = len(deps)
    waiting = [0] * count  # how many of its dependencies are not placed yet
    followers: list[list[int]] = [[] for _ in range(count)]
    for node, waits_for in enumerate(deps):
        waiting[node] = len(waits_for)
        for dependency in waits_for:
            followers[dependency].append(node)
    ready = [node for node in range(count) if not waiting[node]]  # ascending: already a heap
    order: list[int] = []
    pop, push = heapq.heappop, heapq.heappush
    while ready:
        node = pop(ready)
        order.append(node)
        for follower in followers[node]:
            waiting[follower] -= 1
            if not waiting[follower]:
                push(ready, follower)
    if len(order) < count:
        stuck = [node for node in range(count) if waiting[node]]
        raise CycleError("nodes are in a cycle", stuck)
    return order


def find_cycles(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    """One cycle per strongly connected component that has one, each as [a, b, ..., a].

    Each cycle starts at its lowest-numbered node; cycles are sorted by that node.
    """
    cycles = []
    for component in _strongly_connected(deps):
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in deps[start]:
            continue
        cycles.append(_cycle_through(start, members, deps))
    return sorted(cycles, key=lambda cycle: cycle[0])


def _cycle_through(start: int, members: set[int], deps: Sequence[Sequence[int]]) -> list[int]:
    """Shortest cycle from `start` back to itself, by breadth-first search inside its component."""
    parent: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(deps[node]):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = parent[node]
                    path.append(start)
                    # path runs backwards from the closing edge; the cycle follows the edges.
                    return [start] + path[1:-1][::-1] + [start]
                if nxt not in parent:
                    parent[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError("a strongly connected component always has a cycle")  # pragma: no cover


def _strongly_connected(deps: Sequence[Sequence[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative so that long chains do not hit the recursion limit."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[list[int]] = []
    counter = 0
    for root in range(len(deps)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child_pos = work.pop()
            if child_pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = deps[node]
            if child_pos < len(children):
                work.append((node, child_pos + 1))
                child = children[child_pos]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            for child in children:
                if child in on_stack:
                    low[node] = min(low[node], low[child])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


__all__ = ["CycleError", "find_cycles", "stable_order"]
