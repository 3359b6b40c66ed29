"""compiler/schema_fast.py: the compiled check answers exactly as jsonschema does.

check_schema() skips jsonschema when the compiled check says a document is valid, so that
yes must never be wrong. These tests compare both answers on the examples, on every
fixture of the invalid corpus, and on random documents: valid ones mutated at random
places with random values of every JSON type (hypothesis).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.errors import DefinitionError
from compiler.load import load_file
from compiler.schema import _validator, schema
from compiler.schema_fast import NotCompilable, Unsure, compile_schema
from tests.conftest import EXAMPLES, MINIMAL, ROOT

QUICK = compile_schema(schema())


def jsonschema_says_valid(data: Any) -> bool:
    return next(iter(_validator().iter_errors(data)), None) is None


def quick_says_valid(data: Any) -> bool | None:
    """The compiled answer, or None when it is unsure (jsonschema decides then)."""
    try:
        return QUICK(data)
    except Unsure:
        return None


def test_the_shipped_schema_compiles_and_passes_the_examples() -> None:
    for example in EXAMPLES:
        assert quick_says_valid(load_file(str(example)).data) is True, example.name


def _loadable_fixtures() -> list[Any]:
    """The invalid fixtures the loader accepts (the rest never reach the schema check)."""
    loadable = []
    for fixture in sorted((ROOT / "tests" / "invalid").glob("*.yaml")):
        try:
            loadable.append(pytest.param(load_file(str(fixture)).data, id=fixture.stem))
        except DefinitionError:
            continue
    return loadable


@pytest.mark.parametrize("data", _loadable_fixtures())
def test_it_agrees_with_jsonschema_on_every_invalid_fixture(data: Any) -> None:
    assert quick_says_valid(data) in (jsonschema_says_valid(data), None)


def test_keywords_it_does_not_implement_stop_the_compilation() -> None:
    for keyword, value in [("format", "email"), ("patternProperties", {"^x": {}}), ("prefixItems", [{}]),
                           ("contains", {}), ("unevaluatedProperties", False), ("$dynamicRef", "#x")]:
        with pytest.raises(NotCompilable):
            compile_schema({"type": "object", keyword: value})
    with pytest.raises(NotCompilable):
        compile_schema({"$ref": "https://example.com/other.json"})
    # Annotations and extension keywords change nothing.
    assert compile_schema({"description": "x", "x-hint": "y", "title": "t", "examples": [1]})(5) is True


def test_values_the_loader_never_builds_are_left_to_jsonschema() -> None:
    with pytest.raises(Unsure):
        QUICK((1, 2))
    with pytest.raises(Unsure):
        compile_schema({"uniqueItems": True})([1, 1.0])


# --- Random documents ------------------------------------------------------------------------------

BASE = yaml.safe_load(MINIMAL)
#: Every key the schema knows, each once.
FULL = yaml.safe_load("""\
version: 1
plan:
  name: full
  title: Every field
  description: Why.
  owner: Platform
  rto: 4h
  rpo: 0s
  prerequisites: [Dashboard up]
  abort: Stop.
  contacts: [{role: DBA, name: Ana, phone: "+49 30", email: a@example.com}]
sites:
  a:
    title: Site A
    role: primary
    hosts:
      h1: {address: 10.0.0.1, user: root, port: 22}
  b: {role: dr}
resources:
  - {id: one, title: First, site: a, host: h1, description: Why., run: "true", instructions: Look.,
     verify: "true", verify_timeout: 2m, timeout: 5m, rollback: Undo., owner: DBA, estimate: 1h,
     requires: [two], after: [two]}
  - {id: two, title: Second, site: b, instructions: By hand.}
""")
RICH = yaml.safe_load(json.dumps(load_file(str(EXAMPLES[0])).data))


def _property_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names |= set(value)
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


KEYS = sorted(_property_names(schema()))
texts = st.one_of(
    st.sampled_from(["", " ", "\t", "a", "A", "promote-db", "fra", "dub", "h1", "one", "two", "primary", "dr",
                     "other", "10.0.0.1", "db1.example.net", "[::1]", "root", "_x", "5m", "0s", "90s",
                     "4h", "1000000s", "999999h", "x y", "-a", ".a", "é", "\n"]),
    # Either side of every length limit.
    st.sampled_from([n * "a" for n in (63, 64, 100, 101, 252, 253, 254, 1000, 1001, 100_000, 100_001)]),
    st.text(alphabet=st.sampled_from(list("az09-_.:[ \t\nA%é")), max_size=6),
    st.sampled_from(KEYS),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-3, max_value=70_000), st.sampled_from([0, 1, 22, 65535, 65536]),
    st.sampled_from([0, 1, 22, 65535, 65536, -1, 1.0, 22.0, 65535.5, 65536.0]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1.0, 22.0, 0.5]), texts,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), texts), children, max_size=4),
    ),
    max_leaves=8,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, path + (index,))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """A valid definition with up to four random changes: a value replaced, a key removed or added,
    an item repeated."""
    document = copy.deepcopy(draw(st.sampled_from([BASE, FULL, RICH])))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        path = draw(st.sampled_from(_places(document)))
        target = _at(document, path)
        action = draw(st.sampled_from(["replace", "remove", "add", "repeat"]))
        if action == "replace" and path:
            _at(document, path[:-1])[path[-1]] = draw(scalars if draw(st.booleans()) else values)
        elif action == "remove" and path and isinstance(_at(document, path[:-1]), dict):
            del _at(document, path[:-1])[path[-1]]
        elif action == "add" and isinstance(target, dict):
            target[draw(st.one_of(st.sampled_from(KEYS), texts))] = draw(values)
        elif action == "add" and isinstance(target, list):
            target.append(draw(values))
        elif action == "repeat" and isinstance(target, list) and target:
            target.append(copy.deepcopy(draw(st.sampled_from(target))))
    return document


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_it_agrees_with_jsonschema_on_random_documents(document: Any) -> None:
    quick = quick_says_valid(document)
    if quick is not None:
        assert quick == jsonschema_says_valid(document)


@settings(max_examples=500, deadline=None)
@given(values)
def test_it_agrees_with_jsonschema_on_random_values(value: Any) -> None:
    quick = quick_says_valid(value)
    if quick is not None:
        assert quick == jsonschema_says_valid(value)


BOUNDARY_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 22, 65535, 65536, 1.0, 22.0, 0.5, float("nan"), float("inf"),
    "", " ", "\n", "a", "A", "-a", "_a", "a b", "x:y", "é", "5m", "0s", "90s", "0m", "1000000h", "4h ",
    "one", "two", "primary", "dr", "DR", "10.0.0.1", "[::1]", "a" * 100, "a" * 101, "a" * 1000, "a" * 1001,
    [], ["one"], ["one", "one"], ["one", "two"], [1], [True, 1], [None], [[]],
    {}, {"a": 1}, {"role": "dr"}, {"address": "x"},
]


@pytest.mark.parametrize("base", ["BASE", "FULL"])
def test_it_agrees_with_jsonschema_at_every_place_with_every_kind_of_value(base: str) -> None:
    """Each value above, put in turn at every place of a definition (or as an extra key)."""
    document = globals()[base]
    for path in _places(document):
        for value in BOUNDARY_VALUES:
            candidates = []
            if path:
                replaced = copy.deepcopy(document)
                _at(replaced, path[:-1])[path[-1]] = value
                candidates.append(replaced)
            if isinstance(_at(document, path), dict):
                extended = copy.deepcopy(document)
                _at(extended, path)["extra"] = value
                candidates.append(extended)
            for candidate in candidates:
                quick = quick_says_valid(candidate)
                if quick is not None:
                    assert quick == jsonschema_says_valid(candidate), (path, value)
