"""compiler/plan.py: the stable order, waves, critical path and fingerprint."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.model import Host, Resource, Site
from compiler.plan import Step, canonical, fingerprint
from tests.conftest import plan_of


def resources(*specs: str) -> str:
    """A definition whose resources are given as YAML flow mappings, one per spec."""
    body = "\n".join(f"  - {{{spec}, title: T, site: a, run: 'true'}}" for spec in specs)
    return f"version: 1\nplan: {{name: p, title: P}}\nsites: {{a: {{role: primary}}}}\nresources:\n{body}\n"


def test_declaration_order_is_kept_when_nothing_constrains_it(tmp_path):
    plan = plan_of(resources("id: c", "id: a", "id: b"), tmp_path)
    assert [s.id for s in plan.steps] == ["c", "a", "b"]
    assert [s.wave for s in plan.steps] == [1, 1, 1]


def test_earliest_declared_ready_step_goes_first(tmp_path):
    # x waits for z; y is free. Order: y (earliest ready), z, x.
    plan = plan_of(resources("id: x, requires: [z]", "id: y", "id: z"), tmp_path)
    assert [s.id for s in plan.steps] == ["y", "z", "x"]
    assert [s.number for s in plan.steps] == [1, 2, 3]
    assert {s.id: s.wave for s in plan.steps} == {"y": 1, "z": 1, "x": 2}


def test_after_orders_like_requires(tmp_path):
    plan = plan_of(resources("id: late, after: [early]", "id: early"), tmp_path)
    assert [s.id for s in plan.steps] == ["early", "late"]
    late = plan.steps[1]
    assert late.after == (1,) and late.requires == ()
    assert late.wave == 2


def test_wave_is_one_more_than_the_highest_wave_waited_for(tmp_path):
    plan = plan_of(
        resources("id: a", "id: b, requires: [a]", "id: c, requires: [b]", "id: d, requires: [a, c]", "id: e"),
        tmp_path,
    )
    assert {s.id: s.wave for s in plan.steps} == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 1}
    assert [[s.id for s in wave] for wave in plan.waves] == [["a", "e"], ["b"], ["c"], ["d"]]


def test_requires_and_after_are_step_numbers_in_the_plan(tmp_path):
    plan = plan_of(resources("id: b, requires: [a], after: [c]", "id: a", "id: c"), tmp_path)
    b = plan.step("b")
    assert (b.number, b.requires, b.after) == (3, (1,), (2,))


def test_critical_path_follows_the_longest_estimates(tmp_path):
    text = resources(
        "id: a, estimate: 10m",
        "id: b, estimate: 1h, requires: [a]",
        "id: c, estimate: 5m, requires: [a]",
        "id: d, estimate: 1m, after: [b, c]",
    )
    plan = plan_of(text, tmp_path)
    assert plan.critical_path == (1, 2, 4)
    assert plan.critical_path_seconds == 10 * 60 + 3600 + 60


def test_fingerprint_ignores_prose_but_not_commands(tmp_path):
    base = plan_of(resources("id: a"), tmp_path)
    retitled = plan_of(resources("id: a").replace("title: T", "title: Another title"), tmp_path)
    changed = plan_of(resources("id: a").replace("run: 'true'", "run: 'false'"), tmp_path)
    assert base.fingerprint == retitled.fingerprint
    assert base.fingerprint != changed.fingerprint
    assert len(base.fingerprint) == 64


def test_fingerprint_changes_with_the_order(tmp_path):
    one = plan_of(resources("id: a", "id: b"), tmp_path)
    two = plan_of(resources("id: b", "id: a"), tmp_path)
    assert one.fingerprint != two.fingerprint


def test_the_example_has_cross_site_dependencies():
    from compiler.pipeline import compile_file
    from tests.conftest import EXAMPLES

    for example in EXAMPLES:
        plan = compile_file(str(example))
        if len(plan.sites) < 2:
            continue
        cross = [
            (s.id, plan.steps[n - 1].id)
            for s in plan.steps
            for n in s.waits_for
            if plan.steps[n - 1].site.name != s.site.name
        ]
        assert cross, f"{example.name} has no cross-site dependency"


def test_fingerprint_ignores_the_order_in_which_dependencies_are_listed(tmp_path):
    one = plan_of(resources("id: a", "id: b", "id: c, requires: [a, b], after: [b, a]"), tmp_path)
    two = plan_of(resources("id: a", "id: b", "id: c, requires: [b, a], after: [a, b]"), tmp_path)
    assert one.fingerprint == two.fingerprint


def test_the_fingerprint_is_the_sha256_of_the_canonical_json_in_one_piece(tmp_path):
    """It is hashed a batch of steps at a time; the bytes must be those of the whole JSON."""
    import hashlib
    import json

    from compiler.plan import canonical, fingerprint

    specs = [f"id: s{i}, requires: [s{i - 1}]" if i else "id: s0" for i in range(2100)]
    plan = plan_of(resources(*specs).replace("run: 'true'", "run: 'echo \"é\"'"), tmp_path)
    for count in (0, 1, 999, 1000, 1001, 2100):
        steps = plan.steps[:count]
        whole = json.dumps(canonical(plan.info.name, steps), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert fingerprint(plan.info.name, steps) == hashlib.sha256(whole.encode("utf-8")).hexdigest()
    assert plan.fingerprint == fingerprint(plan.info.name, plan.steps)


_TEXT = st.text(alphabet=st.sampled_from(list('ab é"\\/\n\t\x00\x1b\x7f\x85\u2028\ud7ff\U0001f600')), max_size=6)
_MAYBE_TEXT = st.none() | _TEXT
_MAYBE_NUMBER = st.none() | st.integers(min_value=0, max_value=10**12)


@st.composite
def _steps(draw: st.DrawFn) -> list[Step]:
    steps = []
    for number in range(1, draw(st.integers(min_value=0, max_value=4)) + 1):
        host = draw(st.none() | st.builds(Host, name=_TEXT, site=_TEXT, address=_TEXT, user=_MAYBE_TEXT, port=_MAYBE_NUMBER))
        resource = Resource(
            id=draw(_TEXT), title=draw(_TEXT), site=draw(_TEXT), line=1,
            run=draw(_MAYBE_TEXT), verify=draw(_MAYBE_TEXT), instructions=draw(_MAYBE_TEXT),
            timeout=draw(_MAYBE_NUMBER), verify_timeout=draw(_MAYBE_NUMBER),
            requires=tuple(draw(st.lists(_TEXT, max_size=3))), after=tuple(draw(st.lists(_TEXT, max_size=3))),
        )
        steps.append(Step(number, 1, resource, Site(name=resource.site, role="primary"), host, (), (), ()))
    return steps


@settings(max_examples=500, deadline=None)
@given(_steps())
def test_each_step_is_hashed_as_the_json_of_its_canonical_entry(steps: list[Step]) -> None:
    """fingerprint writes each step's JSON itself; it must be json.dumps' text of `canonical`, byte for byte."""
    whole = json.dumps(canonical("p", steps), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert fingerprint("p", steps) == hashlib.sha256(whole.encode("utf-8")).hexdigest()
