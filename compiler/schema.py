"""Check a loaded definition against the JSON Schema; say what is wrong in plain words."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema

from compiler.errors import Diagnostic
from compiler.load import Document, Path_
from compiler.resources import package_dir
from compiler.suggest import did_you_mean, shown

SCHEMA_FILE = "runbook.schema.json"

_NOUNS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping (key: value lines)",
    "boolean": "true or false",
}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The definition schema, as shipped with the package."""
    loaded: dict[str, Any] = json.loads((package_dir("schemas") / SCHEMA_FILE).read_text("utf-8"))
    return loaded


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema())


def check_schema(doc: Document) -> list[Diagnostic]:
    """Every schema violation in `doc`, located and worded for a person."""
    problems = []
    for error in _validator().iter_errors(doc.data):
        problems.append(_translate(error, doc))
    return problems


def _translate(error: jsonschema.ValidationError, doc: Document) -> Diagnostic:
    path: Path_ = tuple(error.absolute_path)
    kind = error.validator
    subschema = error.schema if isinstance(error.schema, dict) else {}
    owner, field = _describe(path, doc.data)
    prefix = f"{owner}: " if owner else ""
    subject = field or "the value"

    if "propertyNames" in error.absolute_schema_path:
        what = _container_noun(path)
        hint = subschema.get("x-hint", "")
        return Diagnostic(
            doc.locate(path + (error.instance,), key=True),
            f"{prefix}{what} name {shown(error.instance)} is not valid; {hint}",
        )
    if kind == "additionalProperties":
        allowed = sorted(subschema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        unknown = extra[0] if extra else "?"
        return Diagnostic(
            doc.locate(path + (unknown,), key=True),
            f"{prefix}unknown key '{unknown}'{did_you_mean(unknown, allowed)}"
            f" (allowed here: {', '.join(allowed)})",
        )
    if kind == "required":
        missing = _missing_key(error)
        location = doc.locate(path)
        if "then" in error.absolute_schema_path:
            return Diagnostic(
                location,
                f"{prefix}neither 'run' nor 'instructions' is given; add 'run' with the command, "
                "or 'instructions' for a person to follow (a manual step)",
            )
        return Diagnostic(location, f"{prefix}missing required key '{missing}'")
    location = doc.locate(path)
    if kind == "type":
        expected = error.validator_value
        noun = _NOUNS.get(expected, str(expected)) if isinstance(expected, str) else "a value"
        message = f"{prefix}{subject} must be {noun}, but it is {_what_it_is(error.instance, path, doc)}"
        if expected == "string" and isinstance(error.instance, (bool, int, float)):
            raw = doc.raw_text(path) or shown(error.instance)
            message += f"; put it in quotes: \"{raw}\""
        return Diagnostic(location, message)
    if kind == "pattern" or kind == "minLength" and subschema.get("pattern") == r"\S":
        hint = subschema.get("x-hint", "see the schema for the allowed form")
        if error.instance == "" or kind == "minLength":
            return Diagnostic(location, f"{prefix}{subject} is blank; {hint}")
        return Diagnostic(location, f"{prefix}{subject} {shown(error.instance)} is not valid; {hint}")
    if kind == "const" and path == ("version",):
        return Diagnostic(
            location,
            f"unsupported version {shown(error.instance)}; this compiler reads version 1: "
            "write 'version: 1'",
        )
    if kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        suggestion = (
            did_you_mean(error.instance, error.validator_value) if isinstance(error.instance, str) else ""
        )
        return Diagnostic(
            location,
            f"{prefix}{subject} must be one of {choices}, not {shown(error.instance)}{suggestion}",
        )
    if kind in ("minItems", "minProperties"):
        noun = "entry" if kind == "minItems" else "entry"
        return Diagnostic(location, f"{prefix}{subject} needs at least {error.validator_value} {noun}")
    if kind == "uniqueItems":
        seen: set[str] = set()
        duplicate = next(
            (item for item in error.instance if isinstance(item, str) and (item in seen or seen.add(item))),
            None,
        )
        return Diagnostic(location, f"{prefix}{subject} lists {shown(duplicate)} more than once")
    if kind in ("minimum", "maximum"):
        low, high = subschema.get("minimum"), subschema.get("maximum")
        return Diagnostic(
            location,
            f"{prefix}{subject} must be between {low} and {high}, not {shown(error.instance)}",
        )
    if kind == "maxLength":
        return Diagnostic(
            location,
            f"{prefix}{subject} is {len(error.instance):,} characters long; the limit is "
            f"{error.validator_value:,}",
        )
    return Diagnostic(location, f"{prefix}{subject}: {error.message}")  # pragma: no cover


def _missing_key(error: jsonschema.ValidationError) -> str:
    for key in error.validator_value:
        if isinstance(error.instance, dict) and key not in error.instance:
            return str(key)
    return "?"  # pragma: no cover


def _what_it_is(value: Any, path: Path_, doc: Document) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        raw = doc.raw_text(path) or str(value).lower()
        return f"`{raw}`, which YAML reads as the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        raw = doc.raw_text(path) or str(value)
        if raw != str(value):
            return f"`{raw}`, which YAML reads as the number {value}"
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"the text {shown(value)}"


def _container_noun(path: Path_) -> str:
    if path and path[-1] == "hosts":
        return "host"
    if path and path[-1] == "sites":
        return "site"
    return "key"


def _describe(path: Path_, data: Any) -> tuple[str, str]:
    """("resource 'promote-db'", "'requires' entry 2") for ("resources", 3, "requires", 1)."""
    owner = ""
    field = ""
    node = data
    i = 0
    while i < len(path):
        step = path[i]
        nxt = path[i + 1] if i + 1 < len(path) else None
        if step == "resources" and isinstance(nxt, int):
            item = _get(node, step, nxt)
            rid = item.get("id") if isinstance(item, dict) else None
            owner = f"resource {shown(rid)}" if isinstance(rid, str) else f"resource #{nxt + 1}"
            node = item
            i += 2
            field = ""
            continue
        if step == "sites" and nxt is not None:
            owner, node, field = f"site {shown(nxt)}", _get(node, step, nxt), ""
            i += 2
            continue
        if step == "hosts" and nxt is not None:
            owner, node, field = f"host {shown(nxt)}", _get(node, step, nxt), ""
            i += 2
            continue
        if step == "contacts" and isinstance(nxt, int):
            owner, node, field = f"contact #{nxt + 1}", _get(node, step, nxt), ""
            i += 2
            continue
        if step == "plan" and not owner:
            owner, node = "plan", _get(node, step)
            i += 1
            continue
        if isinstance(step, int):
            field = f"{field} entry {step + 1}" if field else f"entry {step + 1}"
        else:
            field = f"{field[:-1]}.{step}'" if field.endswith("'") else f"'{step}'"
        node = _get(node, step)
        i += 1
    return owner, field


def _get(node: Any, *steps: str | int) -> Any:
    for step in steps:
        if isinstance(node, dict) and isinstance(step, str):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return None
    return node
