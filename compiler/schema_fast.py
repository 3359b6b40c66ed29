"""A quick answer to "does this document satisfy the schema?", compiled from the schema itself.

jsonschema walks the schema anew for every value (resolving each `$ref`, making a validator
per level): about 0.2 ms per resource, most of the time of a build. Almost every document
a build sees is valid, and then only that yes is needed, not the errors. `compile_schema`
turns the schema into nested Python functions that give the same yes or no as jsonschema
(Draft 2020-12, with the compiler's own type checker) for the values the loader builds:
dicts with text keys, lists, texts, integers, floats, booleans and None. Whatever it
cannot decide exactly it refuses to decide (`Unsure`), and a keyword it does not know
stops the compilation (`NotCompilable`): either way `check_schema` asks jsonschema, which
also words every error. The schema file stays the single source of truth, and
tests/test_schema_fast.py compares both answers on random documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


class NotCompilable(Exception):
    """The schema uses something this module does not implement exactly."""


class Unsure(Exception):
    """This value is outside what the compiled check decides exactly; ask jsonschema."""


#: The types of the values the loader builds; anything else is Unsure.
_KNOWN = frozenset((dict, list, str, int, float, bool, type(None)))
#: JSON Schema type name -> the Python types that have it, as `compiler.schema` checks them
#: (an integer is an int but not a bool, since 22.0 or true is no port).
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
#: Keywords that only annotate: jsonschema ignores them when validating.
_ANNOTATIONS = frozenset((
    "$schema", "$comment", "$defs", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly",
))


def compile_schema(schema: dict[str, Any]) -> Check:
    """A function of a value: True when it satisfies `schema`, False when not, or Unsure."""
    return _Compiler(schema).compile(schema, top=True)


def _is(types: tuple[type, ...], value: Any) -> bool:
    """Whether `value` has one of the JSON types `types` (bool is never a number)."""
    kind = type(value)
    return kind in types and not (kind is bool and bool not in types)


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any, top: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise NotCompilable(f"a schema must be a mapping or a boolean, not {schema!r}")
        text = _text_check(schema)
        if text is not None:
            return text
        checks: list[Check] = []
        for keyword in schema:
            if keyword in _ANNOTATIONS or keyword.startswith("x-") or (top and keyword == "$id"):
                continue
            if keyword in ("then", "else"):
                continue  # part of "if"
            make = getattr(self, "_k_" + keyword.lstrip("$"), None)
            if make is None:
                raise NotCompilable(f"the keyword {keyword!r} is not implemented")
            checks.append(make(schema[keyword], schema))
        if len(checks) == 1 and getattr(checks[0], "guarded", False):
            # {"description": ..., "$ref": ...}, the schema of most properties: the check
            # it refers to already refuses unknown types, no need for another layer.
            return checks[0]
        # Cheap and decisive checks first; the last ones may be Unsure.
        checks.sort(key=lambda check: getattr(check, "order", 1))
        return _all(checks)

    def _k_ref(self, ref: Any, schema: dict[str, Any]) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise NotCompilable(f"only references inside the schema are implemented, not {ref!r}")
        compiled = self.refs.get(ref)
        if compiled is None:
            target: Any = self.root
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise NotCompilable(f"the reference {ref!r} leads nowhere")
                target = target[part]
            if isinstance(target, dict) and "$id" in target:
                raise NotCompilable("a subschema with its own $id")
            cell: list[Check] = []
            self.refs[ref] = lambda value: cell[0](value)  # a reference to itself, if any
            cell.append(self.compile(target))
            compiled = self.refs[ref] = cell[0]
        return compiled

    def _k_type(self, names: Any, schema: dict[str, Any]) -> Check:
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or any(name not in _TYPES for name in names):
            raise NotCompilable(f"unknown type {names!r}")
        types = tuple({t for name in names for t in _TYPES[name]})

        def check(value: Any) -> bool:
            return _is(types, value)

        return _first(check)

    def _k_properties(self, properties: Any, schema: dict[str, Any]) -> Check:
        checks = {name: self.compile(sub) for name, sub in properties.items()}
        extra = schema.get("additionalProperties", True)
        others = self.compile(extra)

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for key, item in value.items():
                if not checks.get(key, others)(item):
                    return False
            return True

        return check

    def _k_additionalProperties(self, extra: Any, schema: dict[str, Any]) -> Check:
        if "properties" in schema:
            return _always  # checked with the properties
        if "patternProperties" in schema:  # pragma: no cover - not implemented, refused there
            raise NotCompilable("patternProperties")
        return self._k_properties({}, schema)

    def _k_propertyNames(self, names: Any, schema: dict[str, Any]) -> Check:
        valid = self.compile(names)

        def check(value: Any) -> bool:
            return type(value) is not dict or all(valid(key) for key in value)

        return check

    def _k_required(self, required: Any, schema: dict[str, Any]) -> Check:
        needed = frozenset(required)

        def check(value: Any) -> bool:
            return type(value) is not dict or value.keys() >= needed

        return _first(check)

    def _k_items(self, items: Any, schema: dict[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise NotCompilable("prefixItems")
        valid = self.compile(items)

        def check(value: Any) -> bool:
            if type(value) is not list:
                return True
            for item in value:  # a loop: all() over a generator costs a third more per item
                if not valid(item):
                    return False
            return True

        return check

    def _k_uniqueItems(self, unique: Any, schema: dict[str, Any]) -> Check:
        if not unique:
            return _always

        def check(value: Any) -> bool:
            if type(value) is not list:
                return True
            if all(type(item) is str for item in value):
                return len(set(value)) == len(value)
            raise Unsure("uniqueness of values other than texts")

        return _last(check)

    def _k_minItems(self, least: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not list or len(value) >= least)

    def _k_maxItems(self, most: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not list or len(value) <= most)

    def _k_minProperties(self, least: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not dict or len(value) >= least)

    def _k_maxProperties(self, most: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not dict or len(value) <= most)

    def _k_minLength(self, least: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not str or len(value) >= least)

    def _k_maxLength(self, most: Any, schema: dict[str, Any]) -> Check:
        return _first(lambda value: type(value) is not str or len(value) <= most)

    def _k_pattern(self, pattern: Any, schema: dict[str, Any]) -> Check:
        search = re.compile(pattern).search  # jsonschema: re.search(pattern, instance)
        return lambda value: type(value) is not str or search(value) is not None

    def _k_minimum(self, least: Any, schema: dict[str, Any]) -> Check:
        number = _TYPES["number"]
        return _first(lambda value: not _is(number, value) or not value < least)

    def _k_maximum(self, most: Any, schema: dict[str, Any]) -> Check:
        number = _TYPES["number"]
        return _first(lambda value: not _is(number, value) or not value > most)

    def _k_const(self, constant: Any, schema: dict[str, Any]) -> Check:
        return _first(_equals(constant))

    def _k_enum(self, choices: Any, schema: dict[str, Any]) -> Check:
        if all(type(choice) is str for choice in choices):
            texts = frozenset(choices)
            return _first(lambda value: type(value) is str and value in texts)
        each = [_equals(choice) for choice in choices]
        return _first(lambda value: any(equal(value) for equal in each))

    def _k_not(self, negated: Any, schema: dict[str, Any]) -> Check:
        valid = self.compile(negated)
        return lambda value: not valid(value)

    def _k_if(self, condition: Any, schema: dict[str, Any]) -> Check:
        test = self.compile(condition)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda value: then(value) if test(value) else otherwise(value)

    def _k_allOf(self, schemas: Any, schema: dict[str, Any]) -> Check:
        return _all([self.compile(sub) for sub in schemas])

    def _k_anyOf(self, schemas: Any, schema: dict[str, Any]) -> Check:
        checks = [self.compile(sub) for sub in schemas]
        return lambda value: any(check(value) for check in checks)

    def _k_oneOf(self, schemas: Any, schema: dict[str, Any]) -> Check:
        checks = [self.compile(sub) for sub in schemas]
        return lambda value: sum(1 for check in checks if check(value)) == 1


def _text_check(schema: dict[str, Any]) -> Check | None:
    """One function for the most common schema: text with length limits and a pattern."""
    keywords = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-")}
    if schema.get("type") != "string" or not keywords <= {"type", "minLength", "maxLength", "pattern"}:
        return None
    least, most = schema.get("minLength", 0), schema.get("maxLength")
    if type(least) is not int or (most is not None and type(most) is not int):
        return None
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    known = _KNOWN

    def check(value: Any) -> bool:
        if type(value) is not str:
            if type(value) in known:
                return False
            raise Unsure(f"a value of type {type(value).__name__}")
        return (
            least <= len(value)
            and (most is None or len(value) <= most)
            and (search is None or search(value) is not None)
        )

    return _guarded(check)


def _equals(constant: Any) -> Check:
    """jsonschema's equality with a scalar constant: true is not 1, but 1.0 is 1."""
    if type(constant) is str:
        return lambda value: type(value) is str and value == constant
    if type(constant) is bool or constant is None:
        return lambda value: value is constant
    if type(constant) in (int, float):
        number = _TYPES["number"]
        return lambda value: _is(number, value) and value == constant
    raise NotCompilable(f"comparison with {constant!r}")


def _all(checks: list[Check]) -> Check:
    known = _KNOWN
    if not checks:
        checks = [_always]

    def check(value: Any) -> bool:
        if type(value) not in known:
            raise Unsure(f"a value of type {type(value).__name__}")
        for each in checks:
            if not each(value):
                return False
        return True

    return _guarded(check)


def _guarded(check: Check) -> Check:
    """Mark a whole schema's check that raises Unsure for a value of a type it does not know."""
    check.guarded = True  # type: ignore[attr-defined]
    return check


def _first(check: Check) -> Check:
    check.order = 0  # type: ignore[attr-defined]
    return check


def _last(check: Check) -> Check:
    check.order = 2  # type: ignore[attr-defined]
    return check


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False
