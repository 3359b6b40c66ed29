"""Check a loaded definition against the JSON Schema; say what is wrong in plain words."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jsonschema

from compiler.errors import Diagnostic
from compiler.load import Document, Path_
from compiler.resources import package_dir
from compiler.schema_fast import Check, NotCompilable, Unsure, compile_schema
from compiler.suggest import did_you_mean, printable, shown

SCHEMA_FILE = "runbook.schema.json"

_NOUNS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list ('- ' items)",
    "object": "a mapping (key: value lines)",
    "boolean": "true or false",
}

#: What to add for a missing key, by the kind of mapping that lacks it.
_REQUIRED_HINTS = {
    ("", "version"): "add 'version: 1'",
    ("", "plan"): "add 'plan:' with the plan's 'name' and 'title'",
    ("", "sites"): "add 'sites:' with at least one site and its 'role'",
    ("", "resources"): "add 'resources:', the list of steps",
    ("plan", "name"): "add a short name such as 'name: webshop-failover'; it names the output files",
    ("plan", "title"): "add the title printed at the top of the runbook",
    ("contact", "role"): "add what they do in the recovery, for example 'role: DBA on call'",
    ("site", "role"): "add 'role: primary', 'role: dr' or 'role: other'",
    ("host", "address"): "add the DNS name or IP address that ssh connects to",
    ("resource", "id"): "add a unique id such as 'id: promote-db'",
    ("resource", "title"): "add what the step does, in a few words",
    ("resource", "site"): "add the site the step belongs to (a key of 'sites')",
}

#: What an empty list or mapping should hold, by its key.
_EMPTY_HINTS = {
    "sites": "declare at least one site, for example 'fra: {role: primary}'",
    "resources": "list at least one step",
}


def _is_integer(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 22.0 as an integer; a port written 22.0 would reach ssh as "22.0".
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator: type[jsonschema.protocols.Validator] = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The definition schema, as shipped with the package."""
    loaded: dict[str, Any] = json.loads((package_dir("schemas") / SCHEMA_FILE).read_text("utf-8"))
    return loaded


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    validator: jsonschema.protocols.Validator = _Validator(schema())
    return validator


@lru_cache(maxsize=1)
def _quick_check() -> Check | None:
    try:
        return compile_schema(schema())
    except NotCompilable:  # pragma: no cover - the shipped schema compiles (a test says so)
        return None


def check_schema(doc: Document) -> list[Diagnostic]:
    """Every schema violation in `doc`, located and worded for a person."""
    quick = _quick_check()
    if quick is not None:
        try:
            if quick(doc.data):
                return []  # jsonschema would find nothing either: no need to ask it
        except Unsure:
            pass
    problems: list[Diagnostic] = []
    seen: set[tuple[Any, str]] = set()
    for error in _validator().iter_errors(doc.data):
        for problem in _translate(error, doc):
            # A blank text breaks both minLength and pattern: say it once.
            if (problem.location, problem.message) not in seen:
                seen.add((problem.location, problem.message))
                problems.append(problem)
    return problems


def _translate(error: jsonschema.ValidationError, doc: Document) -> list[Diagnostic]:
    path: Path_ = tuple(error.absolute_path)
    kind = error.validator
    subschema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    expected: Any = error.validator_value
    owner, field = _describe(path, doc.data)
    prefix = f"{owner}: " if owner and field else ""
    subject = field or ("'plan'" if owner == "plan" else owner) or "the value"

    if "propertyNames" in error.absolute_schema_path:
        what = _container_noun(path)
        prefix = f"{owner}: " if owner else ""
        hint = subschema.get("x-hint", "")
        return [Diagnostic(
            doc.locate(path + (value,), key=True),
            f"{prefix}{what} name {shown(value)} is not valid; {hint}",
        )]
    if kind == "additionalProperties":
        allowed = sorted(subschema.get("properties", {}))
        prefix = f"{owner}: " if owner else ""
        return [
            Diagnostic(
                doc.locate(path + (unknown,), key=True),
                f"{prefix}unknown key {shown(unknown)}{_unknown_key_hint(unknown, allowed, path)}"
                f" (allowed here: {', '.join(allowed)})",
            )
            for unknown in value
            if unknown not in allowed
        ]
    if kind == "required":
        missing = _missing_key(error)
        location = doc.locate(path)
        prefix = f"{owner}: " if owner else ""
        if "then" in error.absolute_schema_path:
            return [Diagnostic(
                location,
                f"{prefix}neither 'run' nor 'instructions' is given; add 'run' with the command, "
                "or 'instructions' for a person to follow (a manual step)",
            )]
        hint = _REQUIRED_HINTS.get((owner.split(" ", 1)[0], missing))
        return [Diagnostic(
            location, f"{prefix}missing required key {shown(missing)}" + (f"; {hint}" if hint else "")
        )]

    location = doc.locate(path)
    if kind == "const" and path == ("version",):
        return [Diagnostic(location, _version_message(value, doc))]
    if kind == "type":
        return [Diagnostic(location, prefix + _type_message(subject, error, subschema, path, doc))]
    if kind == "pattern" or kind == "minLength" and subschema.get("pattern") == r"\S":
        hint = subschema.get("x-hint", "see the schema for the allowed form")
        if isinstance(value, str) and not value.strip():
            return [Diagnostic(location, f"{prefix}{subject} is blank; {hint}")]
        return [Diagnostic(location, f"{prefix}{subject} is {shown(value)}, which is not valid; {hint}")]
    if kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        if isinstance(value, str):
            found = f"not {shown(value)}{did_you_mean(value, expected)}"
        else:
            found = f"but it is {_what_it_is(value, path, doc)}"
        return [Diagnostic(location, f"{prefix}{subject} must be one of {choices}, {found}")]
    if kind in ("minItems", "minProperties"):
        key = path[-1] if path else ""
        hint = _EMPTY_HINTS.get(key) if isinstance(key, str) else None
        if hint and expected == 1:
            return [Diagnostic(location, f"{prefix}{subject} is empty; {hint}")]
        return [Diagnostic(  # pragma: no cover - every minItems/minProperties has a hint today
            location, f"{prefix}{subject} needs at least {expected} entries"
        )]
    if kind == "uniqueItems":
        seen: dict[Any, int] = {}
        problems = []
        for j, item in enumerate(value):
            marker = json.dumps(item, sort_keys=True)
            if marker in seen:
                problems.append(Diagnostic(
                    doc.locate(path + (j,)),
                    f"{prefix}{subject} lists {shown(item)} twice (entries {seen[marker] + 1} "
                    f"and {j + 1}); remove the repeated entry",
                ))
            else:
                seen[marker] = j
        return problems
    if kind in ("minimum", "maximum"):
        low, high = subschema.get("minimum"), subschema.get("maximum")
        return [Diagnostic(
            location, f"{prefix}{subject} must be between {low} and {high}, not {printable(value)}"
        )]
    if kind == "maxLength":
        return [Diagnostic(
            location,
            f"{prefix}{subject} is {len(value):,} characters long; the limit is "
            f"{expected:,}",
        )]
    return [Diagnostic(location, f"{prefix}{subject}: {error.message}")]  # pragma: no cover


def _unknown_key_hint(unknown: str, allowed: list[str], path: Path_) -> str:
    """did-you-mean, or where the key belongs when it is misplaced at the top level."""
    suggestion = did_you_mean(unknown, allowed)
    if suggestion or path:
        return suggestion
    plan_keys = schema()["$defs"]["plan"]["properties"]
    if unknown in plan_keys:
        return f"; {shown(unknown)} belongs under 'plan:': indent it below 'plan:'"
    return ""


def _version_message(value: Any, doc: Document) -> str:
    if isinstance(value, str) and value.strip() == "1":
        return "'version' must be the number 1, not the text '1': write 'version: 1' without quotes"
    if value is None:
        return "'version' is empty: write 'version: 1'"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"unsupported version {printable(value)}; this compiler reads version 1: write 'version: 1'"
    return f"'version' must be 1, but it is {_what_it_is(value, ('version',), doc)}: write 'version: 1'"


def _type_message(
    subject: str, error: jsonschema.ValidationError, subschema: dict[str, Any], path: Path_, doc: Document
) -> str:
    expected = error.validator_value
    value = error.instance
    noun = _NOUNS.get(expected, str(expected)) if isinstance(expected, str) else "a value"
    message = f"{subject} must be {noun}, but it is {_what_it_is(value, path, doc)}"
    if expected == "string" and isinstance(value, (bool, int, float)):
        raw = doc.raw_text(path) or printable(value)
        pattern = subschema.get("pattern")
        if pattern and not re.search(pattern, raw) and "x-hint" in subschema:
            # Quotes would not help (`timeout: 1:20`): say what to write instead.
            return f"{message}; {subschema['x-hint']}"
        return f"{message}; put it in quotes: \"{raw}\""
    if expected == "integer" and isinstance(value, str) and value.strip().isdigit():
        return f"{message}; remove the quotes"
    if expected == "array" and isinstance(value, str) and _holds_text(subschema):
        return f"{message}; write a list, for example [{printable(value)}]"
    if expected == "object" and isinstance(value, str) and len(path) == 4 and path[2] == "hosts":
        return f"{message}; write {{address: {printable(value)}}}"
    return message


def _holds_text(array_schema: dict[str, Any]) -> bool:
    """Whether the items of this list are plain text (ids, checklist lines), not mappings."""
    items = array_schema.get("items", {})
    return isinstance(items, dict) and items.get("$ref") in ("#/$defs/id", "#/$defs/line")


def _missing_key(error: jsonschema.ValidationError) -> str:
    required: Any = error.validator_value
    for key in required:
        if error.message == f"{key!r} is a required property":
            return str(key)
    return "?"  # pragma: no cover - jsonschema words every `required` error this way


def _what_it_is(value: Any, path: Path_, doc: Document) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        raw = doc.raw_text(path) or str(value).lower()
        return f"`{printable(raw)}`, which YAML reads as the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        raw = doc.raw_text(path) or str(value)
        if raw != str(value):
            return f"`{printable(raw)}`, which YAML reads as the number {value}"
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
    return "key"  # pragma: no cover - only sites and hosts restrict their key names


def _describe(path: Path_, data: Any) -> tuple[str, str]:
    """("resource 'promote-db'", "'requires' entry 2") for ("resources", 3, "requires", 1)."""
    owner = ""
    field = ""
    node = data
    i = 0
    while i < len(path):
        step = path[i]
        nxt = path[i + 1] if i + 1 < len(path) else None
        if step == "resources" and isinstance(nxt, int) and not owner:
            item = _get(node, step, nxt)
            rid = item.get("id") if isinstance(item, dict) else None
            owner = f"resource {shown(rid)}" if isinstance(rid, str) else f"resource #{nxt + 1}"
            node = item
            i += 2
            field = ""
            continue
        if step == "sites" and nxt is not None and not owner:
            owner, node, field = f"site {shown(nxt)}", _get(node, step, nxt), ""
            i += 2
            continue
        if step == "hosts" and nxt is not None and owner.startswith("site ") and not field:
            owner, node, field = f"host {shown(nxt)}", _get(node, step, nxt), ""
            i += 2
            continue
        if step == "contacts" and isinstance(nxt, int) and owner == "plan" and not field:
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
