"""compiler/validate.py, suggest.py and errors.py: semantic checks and how problems are told."""

from __future__ import annotations

import pytest

import compiler.suggest as suggest
from compiler.errors import DefinitionError, Diagnostic, Location
from compiler.load import load_bytes
from compiler.schema import check_schema
from compiler.suggest import Suggestions, did_you_mean, listed, printable, shown
from compiler.validate import check_semantics
from tests.conftest import MINIMAL


def _semantic(text: str) -> list[str]:
    return [d.render() for d in check_semantics(load_bytes(text.encode(), "p.yaml"))]


def _all(text: str) -> list[str]:
    doc = load_bytes(text.encode(), "p.yaml")
    return [d.render() for d in DefinitionError(check_schema(doc) + check_semantics(doc)).diagnostics]


def _resources(*lines: str) -> str:
    head = "version: 1\nplan: {name: p, title: P}\nsites: {a: {role: primary, hosts: {h1: {address: x}}}, b: {role: dr}}\nresources:\n"
    return head + "".join(f"  - {{{line}, title: T, run: 'true'}}\n" for line in lines)


# --- the checks stay quiet where the schema has spoken --------------------------------------------


@pytest.mark.parametrize(
    "sites",
    ["", "sites: []\n", "sites: {}\n", "sites: fra\n", "sites:\n"],
    ids=["missing", "list", "empty", "text", "null"],
)
def test_without_usable_sites_only_the_schema_complains(sites: str) -> None:
    text = MINIMAL.replace("sites:\n  a:\n    role: primary\n    hosts:\n      h1: {address: 10.0.0.1, user: root}\n", sites)
    assert _semantic(text) == []
    assert len(_all(text)) == 1


@pytest.mark.parametrize(
    "resources",
    ["resources: {}\n", "resources: one\n", "resources:\n  - one\n  - [two]\n  - \n"],
)
def test_resources_of_the_wrong_shape_do_not_crash_the_checks(resources: str) -> None:
    text = MINIMAL.split("resources:")[0] + resources
    assert _semantic(text) == []


def test_wrongly_typed_fields_are_skipped_not_misread() -> None:
    text = _resources("id: x, site: [a], host: 5, requires: y, after: {z: 1}", "id: 7, site: a")
    assert _semantic(text) == []


# --- references ----------------------------------------------------------------------------------


def test_host_of_another_site_names_the_first_site_that_has_it() -> None:
    text = (
        "version: 1\nplan: {name: p, title: P}\n"
        "sites: {a: {role: primary}, b: {role: dr, hosts: {db: {address: x}}}, c: {role: other, hosts: {db: {address: y}}}}\n"
        "resources:\n  - {id: x, title: T, site: a, host: db, run: 'true'}\n"
    )
    assert _semantic(text) == [
        "p.yaml:5:38: error: resource 'x': host 'db' belongs to site 'b', not to site 'a'; "
        "change 'site' to 'b' or pick a host of 'a'"
    ]


def test_references_resolve_to_the_first_of_duplicate_ids() -> None:
    text = _resources("id: a, site: a", "id: b, site: a, requires: [a]", "id: a, site: b")
    assert _semantic(text) == [
        "p.yaml:7:10: error: duplicate resource id 'a' (first used on line 5); ids must be unique: rename one"
    ]


def test_a_dependency_in_both_requires_and_after_is_one_edge() -> None:
    text = _resources("id: a, site: a", "id: b, site: a, requires: [a], after: [a]")
    assert _semantic(text) == []


def test_a_cycle_through_requires_and_after_names_the_key_of_each_edge() -> None:
    text = _resources("id: a, site: a, after: [b]", "id: b, site: a, requires: [a]")
    assert _semantic(text) == [
        "p.yaml:5:30: error: dependency cycle: a -> b -> a; remove one of these dependencies to break the cycle\n"
        "p.yaml:5:30: note: 'a' comes after 'b'\n"
        "p.yaml:6:33: note: 'b' requires 'a'"
    ]


def test_cycles_and_other_errors_are_reported_together_sorted_by_position() -> None:
    text = _resources("id: a, site: zz, requires: [b]", "id: b, site: a, requires: [a, c]")
    assert _all(text) == [
        "p.yaml:5:19: error: resource 'a': unknown site 'zz' (sites: a, b)",
        "p.yaml:5:34: error: dependency cycle: a -> b -> a; remove one of these dependencies to break the cycle\n"
        "p.yaml:5:34: note: 'a' requires 'b'\n"
        "p.yaml:6:33: note: 'b' requires 'a'",
        "p.yaml:6:36: error: resource 'b': 'requires' names unknown resource 'c'",
    ]


def test_many_bad_references_are_all_reported() -> None:
    lines = [f"id: s{i}, site: a, requires: [missing-{i}]" for i in range(3000)]
    problems = _semantic(_resources(*lines))
    assert len(problems) == 3000
    assert problems[0] == "p.yaml:5:34: error: resource 's0': 'requires' names unknown resource 'missing-0'"
    assert problems[-1].startswith("p.yaml:3004:")


# --- suggestions and quoting -----------------------------------------------------------------------


def test_did_you_mean_by_spelling_then_by_case() -> None:
    assert did_you_mean("promte-db", ["promote-db", "fence-db"]) == "; did you mean 'promote-db'?"
    assert did_you_mean("DR", ["primary", "dr", "other"]) == "; did you mean 'dr'?"
    assert did_you_mean("paris", ["fra", "dub"]) == ""
    assert did_you_mean("x", []) == ""


def test_suggestions_are_deterministic_whatever_the_candidate_order() -> None:
    one = did_you_mean("promote", ["promote-a", "promote-b"])
    assert one == did_you_mean("promote", ["promote-b", "promote-a"]) == "; did you mean 'promote-b'?"


def test_suggestions_stop_when_their_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suggest, "_COMPARISON_BUDGET", 10)
    names = Suggestions(["alpha", "beta", "gamma", "delta"])
    assert names("alpah") == "; did you mean 'alpha'?"  # 4 comparisons
    assert names("alpah") == "; did you mean 'alpha'?"  # remembered, free
    assert names("betta") == "; did you mean 'beta'?"  # 8
    assert names("gama") == ""  # 12 would pass the budget: no suggestion, no slowdown


def test_shown_quotes_escapes_and_shortens() -> None:
    assert shown("promote-db") == "'promote-db'"
    assert shown("a\nb\x1b[31m") == "'a\\x0ab\\x1b[31m'"
    assert shown("\u202e") == "'\\u202e'"
    assert shown(None) == "'null'" and shown(True) == "'true'" and shown(8) == "'8'"
    assert shown("x" * 100) == "'" + "x" * 57 + "...'"
    assert printable("tab\there") == "tab\\x09here"


def test_listed_keeps_long_lists_short() -> None:
    assert listed(["a", "b"]) == "a, b"
    assert listed([f"s{i}" for i in range(57)]) == ", ".join(f"s{i}" for i in range(20)) + ", ... (57 in all)"


# --- diagnostics -------------------------------------------------------------------------------------


def test_diagnostics_render_and_sort_by_file_line_column() -> None:
    late = Diagnostic(Location("p.yaml", 10, 2), "late")
    early = Diagnostic(Location("p.yaml", 2, 30), "early", notes=(Diagnostic(Location("p.yaml", 9, 1), "why"),))
    error = DefinitionError([late, early])
    assert [d.message for d in error.diagnostics] == ["early", "late"]
    assert str(error) == "p.yaml:2:30: error: early\np.yaml:9:1: note: why\np.yaml:10:2: error: late"
    assert Diagnostic(Location("p.yaml"), "no position").render() == "p.yaml: error: no position"
