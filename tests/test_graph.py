"""compiler/graph.py and the plan's order and waves, on random graphs (hypothesis).

Graphs are lists `deps` where deps[i] holds what node i waits for, exactly as the planner
and the validator build them from `requires` and `after`.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
from graphlib import CycleError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.errors import DefinitionError
from compiler.graph import find_cycles, stable_order
from compiler.load import load_bytes
from compiler.model import build_definition
from compiler.plan import Plan, make_plan
from compiler.schema import check_schema
from compiler.validate import check_semantics
from tests.conftest import ROOT

Deps = list[list[int]]


# --- strategies -------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25) -> Deps:
    """A random DAG whose hidden topological ranking differs from the numbering."""
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    rank = draw(st.permutations(range(n)))
    deps: Deps = [[] for _ in range(n)]
    for i in range(n):
        earlier = [j for j in range(n) if rank[j] < rank[i]]
        if earlier:
            deps[i] = sorted(draw(st.sets(st.sampled_from(earlier), max_size=4)))
    return deps


@st.composite
def digraphs(draw: st.DrawFn, max_nodes: int = 12) -> Deps:
    """Any directed graph, self-loops included: cycles appear often."""
    n = draw(st.integers(min_value=1, max_value=max_nodes))
    return [sorted(draw(st.sets(st.integers(0, n - 1), max_size=3))) for _ in range(n)]


# --- reference implementations, naive on purpose -------------------------------------


def reference_order(deps: Deps) -> list[int]:
    """The contract, word for word: repeatedly take the earliest-declared ready node."""
    placed: set[int] = set()
    order: list[int] = []
    while len(order) < len(deps):
        ready = [i for i in range(len(deps)) if i not in placed and all(d in placed for d in deps[i])]
        if not ready:
            raise CycleError("no node is ready")
        order.append(ready[0])
        placed.add(ready[0])
    return order


def reachable(deps: Deps) -> list[set[int]]:
    """reach[i]: every node i waits for, directly or through others."""
    reach = []
    for start in range(len(deps)):
        seen: set[int] = set()
        todo = list(deps[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(deps[node])
        reach.append(seen)
    return reach


def is_dag(deps: Deps) -> bool:
    return all(i not in reach for i, reach in enumerate(reachable(deps)))


# --- definitions built from graphs ----------------------------------------------------


def definition_text(deps: Deps, *, seed: int = 0) -> str:
    """A definition with one resource per node (one flow mapping per line), edges split
    between `requires` and `after` at random."""
    rng = random.Random(seed)
    lines = [
        "version: 1",
        "plan: {name: graph, title: Random graph}",
        "sites: {a: {role: primary}, b: {role: dr}}",
        "resources:",
    ]
    for i, waits in enumerate(deps):
        requires = [f"r{d}" for d in waits if rng.random() < 0.5]
        after = [f"r{d}" for d in waits if f"r{d}" not in requires]
        site = "a" if i % 2 else "b"
        lines.append(
            f"  - {{id: r{i}, title: Step {i}, site: {site}, run: 'true', "
            f"requires: [{', '.join(requires)}], after: [{', '.join(after)}]}}"
        )
    return "\n".join(lines) + "\n"


def plan_of_text(text: str) -> Plan:
    doc = load_bytes(text.encode(), "graph.yaml")
    problems = check_schema(doc) + check_semantics(doc)
    if problems:
        raise DefinitionError(problems)
    return make_plan(build_definition(doc))


def problems_of_text(text: str) -> list:
    doc = load_bytes(text.encode(), "graph.yaml")
    return check_schema(doc) + check_semantics(doc)


# --- the stable order -------------------------------------------------------------------


@given(dags())
def test_every_edge_is_respected_by_the_order(deps: Deps) -> None:
    order = stable_order(deps)
    assert sorted(order) == list(range(len(deps)))
    position = {node: n for n, node in enumerate(order)}
    for node, waits in enumerate(deps):
        for dep in waits:
            assert position[dep] < position[node]


@given(dags())
def test_order_is_the_contract_earliest_declared_ready_first(deps: Deps) -> None:
    assert stable_order(deps) == reference_order(deps)


@given(dags())
def test_order_is_deterministic(deps: Deps) -> None:
    shuffled = [list(reversed(waits)) for waits in deps]  # the order edges are listed in
    assert stable_order(deps) == stable_order(deps) == stable_order(shuffled)


@given(digraphs())
def test_stable_order_refuses_a_graph_with_a_cycle(deps: Deps) -> None:
    if is_dag(deps):
        assert stable_order(deps) == reference_order(deps)
    else:
        with pytest.raises(CycleError):
            stable_order(deps)


def test_a_long_chain_declared_backwards_is_ordered_without_recursion() -> None:
    n = 50_000
    deps: Deps = [[i + 1] if i + 1 < n else [] for i in range(n)]
    assert stable_order(deps) == list(range(n - 1, -1, -1))
    assert find_cycles(deps) == []


# --- the plan: order, numbers and waves --------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(dags(max_nodes=15), st.integers(0, 1000))
def test_plan_orders_numbers_and_waves_as_the_contract_says(deps: Deps, seed: int) -> None:
    plan = plan_of_text(definition_text(deps, seed=seed))
    expected = [f"r{i}" for i in reference_order(deps)]
    assert [s.id for s in plan.steps] == expected
    assert [s.number for s in plan.steps] == list(range(1, len(deps) + 1))

    number = {s.id: s.number for s in plan.steps}
    wave = {s.id: s.wave for s in plan.steps}
    for i, waits in enumerate(deps):
        step = plan.step(f"r{i}")
        assert step.waits_for == tuple(sorted(number[f"r{d}"] for d in waits))
        assert sorted(step.requires + step.after) == sorted(step.waits_for)
        # A wave is 1 + the highest wave of what the step waits for (1 when nothing).
        assert wave[f"r{i}"] == 1 + max((wave[f"r{d}"] for d in waits), default=0)

    # Steps of one wave are mutually independent, even through other steps.
    reach = reachable(deps)
    for group in plan.waves:
        members = {int(s.id[1:]) for s in group}
        assert [s.number for s in group] == sorted(s.number for s in group)
        for member in members:
            assert not (reach[member] & members)
    assert [s for group in plan.waves for s in group] == sorted(plan.steps, key=lambda s: (s.wave, s.number))


@settings(max_examples=30, deadline=None)
@given(dags(max_nodes=12), st.integers(0, 1000))
def test_plan_is_the_same_value_when_compiled_twice(deps: Deps, seed: int) -> None:
    text = definition_text(deps, seed=seed)
    one, two = plan_of_text(text), plan_of_text(text)
    assert one == two
    assert one.fingerprint == two.fingerprint


def test_plan_order_is_the_same_under_any_hash_seed(tmp_path: Path) -> None:
    rng = random.Random(2024)
    n = 40
    rank = list(range(n))
    rng.shuffle(rank)
    deps: Deps = [
        sorted(rng.sample([j for j in range(n) if rank[j] < rank[i]], min(3, rank[i])))
        for i in range(n)
    ]
    path = tmp_path / "graph.yaml"
    path.write_text(definition_text(deps, seed=7), encoding="utf-8")
    outputs = set()
    for seed in ("0", "1", "42", "31337"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(
            [sys.executable, "-m", "compiler", "plan", "--format", "json", str(path)],
            cwd=ROOT, env=env, capture_output=True, timeout=120, check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    steps = json.loads(outputs.pop())["steps"]
    assert [s["id"] for s in steps] == [f"r{i}" for i in reference_order(deps)]


# --- cycles -------------------------------------------------------------------------------


@given(digraphs())
def test_reported_cycles_are_real_cycles_and_found_whenever_there_is_one(deps: Deps) -> None:
    cycles = find_cycles(deps)
    for cycle in cycles:
        assert len(cycle) >= 2 and cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1  # a simple cycle: no node twice
        for a, b in zip(cycle, cycle[1:]):
            assert b in deps[a], f"{a} -> {b} is not an edge"
    assert bool(cycles) == (not is_dag(deps))


@given(digraphs())
def test_one_cycle_per_tangle_sorted_and_deterministic(deps: Deps) -> None:
    """Each strongly connected tangle is reported once, starting at its lowest node."""
    reach = reachable(deps)
    tangles = {
        frozenset(j for j in range(len(deps)) if j == i or (j in reach[i] and i in reach[j]))
        for i in range(len(deps))
        if i in reach[i]
    }
    cycles = find_cycles(deps)
    assert len(cycles) == len(tangles)
    found = [next(t for t in tangles if cycle[0] in t) for cycle in cycles]
    assert len(set(found)) == len(found)
    for cycle, tangle in zip(cycles, found):
        assert cycle[0] == min(tangle)
        assert set(cycle) <= tangle
    assert [c[0] for c in cycles] == sorted(c[0] for c in cycles)
    assert find_cycles(deps) == cycles


def test_a_cycle_through_a_long_chain_is_found_without_recursion() -> None:
    n = 50_000
    deps: Deps = [[(i + 1) % n] for i in range(n)]
    (cycle,) = find_cycles(deps)
    assert cycle == list(range(n)) + [0]


_CYCLE = re.compile(r"^graph\.yaml:(\d+):(\d+): error: dependency cycle: (.+?); ")
_NOTE = re.compile(r"^graph\.yaml:(\d+):(\d+): note: '([^']+)' (requires|comes after) '([^']+)'$")


@settings(max_examples=80, deadline=None)
@given(digraphs(max_nodes=10), st.integers(0, 1000))
def test_validator_prints_each_cycle_with_every_edge_located(deps: Deps, seed: int) -> None:
    text = definition_text(deps, seed=seed)
    lines = text.splitlines()
    problems = problems_of_text(text)
    cycles = [p for p in problems if "dependency cycle" in p.message]
    assert len(cycles) == len(find_cycles(deps))
    assert bool(cycles) == (not is_dag(deps))
    assert len(problems) == len(cycles)  # nothing else is wrong with these definitions
    for problem in cycles:
        rendered = problem.render().splitlines()
        head = _CYCLE.match(rendered[0])
        assert head, rendered[0]
        chain = head[3].split(" -> ")
        assert chain[0] == chain[-1]
        notes = rendered[1:]
        assert len(notes) == len(chain) - 1
        assert rendered[0].startswith(notes[0].split(": note: ")[0] + ": error: ")
        for note, a, b in zip(notes, chain, chain[1:]):
            match = _NOTE.match(note)
            assert match, note
            line, column, source, verb, target = match.groups()
            assert (source, target) == (a, b)
            assert int(b[1:]) in deps[int(a[1:])]
            # The note points at the very mention of the target, in the source's own list.
            source_line = lines[int(line) - 1]
            assert f"id: {a}," in source_line
            assert source_line[int(column) - 1 :].startswith(b)
            key = "requires" if verb == "requires" else "after"
            assert source_line[: int(column) - 1].rstrip(" [,r0123456789").endswith(f"{key}:")


def test_cycle_message_on_the_command_line(tmp_path: Path) -> None:
    deps: Deps = [[2], [0], [1], []]
    path = tmp_path / "graph.yaml"
    path.write_text(definition_text(deps, seed=1), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "compiler", "validate", "graph.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].endswith("error: dependency cycle: r0 -> r2 -> r1 -> r0; remove one of these dependencies to break the cycle")
    assert [line.split(": note: ")[1] for line in lines[1:]] in (
        [f"'r0' {v0} 'r2'", f"'r2' {v2} 'r1'", f"'r1' {v1} 'r0'"]
        for v0 in ("requires", "comes after")
        for v2 in ("requires", "comes after")
        for v1 in ("requires", "comes after")
    )
