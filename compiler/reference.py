"""The definition reference for README.md, generated from the schema so that it cannot drift.

`python -m compiler.reference` prints the Markdown tables; `--update README.md` replaces
the part of README.md between the reference markers (what `make readme` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compiler.schema import schema

START = "<!-- reference:start -->"
END = "<!-- reference:end -->"
FIX_COMMAND = "make readme"

#: Every keyword this generator renders. Any other keyword in the schema is an error, so a
#: new kind of rule cannot be left out of the README without someone noticing.
_KNOWN = frozenset({
    "$schema", "$id", "$defs", "$ref", "title", "description", "x-hint",
    "type", "const", "enum", "properties", "required", "additionalProperties",
    "propertyNames", "minProperties", "items", "minItems", "uniqueItems",
    "pattern", "minLength", "maxLength", "minimum", "maximum", "if", "then",
})
_NOT_BLANK = r"\S"


class SchemaShapeError(Exception):
    """The schema uses something this generator does not know how to document."""


@dataclass(frozen=True, slots=True)
class _Section:
    """One table: an object definition and the place where definitions use it."""

    name: str
    where: str
    node: dict[str, Any]


def reference_markdown(root: dict[str, Any] | None = None) -> str:
    """The Markdown reference of every field in the schema (deterministic, ends with a newline)."""
    root = schema() if root is None else root
    defs: dict[str, Any] = root.get("$defs", {})
    _check_keywords(root, "#")
    sections = _sections(root, defs)
    out = [
        "Generated from `schemas/runbook.schema.json` by `python -m compiler.reference`;",
        f"edit the schema, then run `{FIX_COMMAND}`. Keys not listed here are errors.",
    ]
    for section in sections:
        out += ["", f"### {section.name}", "", section.where, ""]
        out += _table(section.node, defs)
        conditions = _conditions(section.node)
        for field, condition in conditions.items():
            out += ["", f"`{field}` is required {condition}."]
    values = [name for name, node in defs.items() if not _is_record(node)]
    if values:
        out += [
            "",
            "### Value types",
            "",
            "The types the tables above refer to.",
            "",
            "| Type | Rule | How to write it |",
            "|---|---|---|",
        ]
        for name in values:
            node = defs[name]
            out.append(
                f"| `{name}` | {_cell(_constraints(node, defs, with_hint=False))} | {_cell(_sentence(node.get('x-hint', '')))} |"
            )
    return "\n".join(out) + "\n"


def _sections(root: dict[str, Any], defs: dict[str, Any]) -> list[_Section]:
    """Top level first, then each object definition where a reader meets it (depth first)."""
    sections = [_Section("Top level", "The keys of a definition file.", root)]
    seen: set[str] = set()

    def visit(node: dict[str, Any], path: str) -> None:
        for key, prop in node.get("properties", {}).items():
            here = f"{path}.{key}" if path else key
            for ref, how in _record_refs(prop, defs):
                if ref in seen:
                    continue
                seen.add(ref)
                where, child_path = _where(how, here)
                sections.append(_Section(_title(ref), where, defs[ref]))
                visit(defs[ref], child_path)

    visit(root, "")
    return sections


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _record_refs(prop: dict[str, Any], defs: dict[str, Any]) -> list[tuple[str, str]]:
    """Object definitions reached from `prop`: as the value itself, a list item or a mapping value."""
    found = []
    for how, node in (("value", prop), ("item", prop.get("items")), ("entry", prop.get("additionalProperties"))):
        if isinstance(node, dict) and "$ref" in node:
            name = _ref_name(node["$ref"])
            if _is_record(defs[name]):
                found.append((name, how))
    return found


def _where(how: str, path: str) -> tuple[str, str]:
    if how == "value":
        return f"The value of `{path}`.", path
    if how == "item":
        return f"Each entry of the list `{path}`.", f"{path}[]"
    return f"Each entry of the mapping `{path}`; its key is the entry's name.", f"{path}.<name>"


def _table(node: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    required = set(node.get("required", []))
    conditional = _conditions(node)
    rows = ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    for key, prop in node.get("properties", {}).items():
        if key in required:
            need = "yes"
        elif key in conditional:
            need = conditional[key]
        else:
            need = "no"
        description = prop.get("description")
        if description is None and "$ref" in prop:
            description = _resolve(prop["$ref"], defs).get("description", "")
        rows.append(f"| `{key}` | {_cell(_type(prop, defs))} | {need} | {_cell(description or '')} |")
    return rows


def _conditions(node: dict[str, Any]) -> dict[str, str]:
    """{"instructions": "when `run` is absent"} from `if: {not: {required: [run]}}, then: {required: [instructions]}`."""
    if "if" not in node and "then" not in node:
        return {}
    condition, consequence = node.get("if"), node.get("then")
    absent = condition.get("not", {}).get("required") if isinstance(condition, dict) else None
    needed = consequence.get("required") if isinstance(consequence, dict) else None
    if (
        not isinstance(condition, dict)
        or set(condition) != {"not"}
        or set(condition["not"]) != {"required"}
        or not isinstance(consequence, dict)
        or set(consequence) != {"required"}
        or not absent
        or not needed
    ):
        raise SchemaShapeError(
            "compiler/reference.py documents only `if: {not: {required: [...]}}, then: "
            f"{{required: [...]}}`; teach it this condition: {json.dumps({'if': condition, 'then': consequence})}"
        )
    when = "when " + " and ".join(f"`{a}`" for a in absent) + (" is absent" if len(absent) == 1 else " are absent")
    return {field: when for field in needed}


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """The type column: a link to a section or a value type, or the rule written out."""
    if "$ref" in prop:
        name = _ref_name(prop["$ref"])
        return _named(name, defs)
    return _constraints(prop, defs)


def _named(name: str, defs: dict[str, Any]) -> str:
    if _is_record(defs[name]):
        return f"[{_title(name)}](#{_anchor(_title(name))})"
    return f"[`{name}`](#value-types)"


def _constraints(node: dict[str, Any], defs: dict[str, Any], with_hint: bool = True) -> str:
    """The rule of a value, in words, from its schema keywords (and its x-hint, if asked)."""
    if "$ref" in node:
        return _named(_ref_name(node["$ref"]), defs)
    if "const" in node:
        return f"always `{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    kind = node.get("type")
    if kind == "string":
        parts = ["text"]
        pattern = node.get("pattern")
        if pattern == _NOT_BLANK:
            parts.append("not blank")
        elif pattern is not None:
            parts[0] = f"text matching `{pattern}`"
        if node.get("minLength", 0) > 1:
            parts.append(f"at least {node['minLength']:,} characters")
        if "maxLength" in node:
            parts.append(f"at most {node['maxLength']:,} characters")
        text = ", ".join(parts)
        hint = node.get("x-hint")
        if hint and with_hint:
            text += f" ({hint})"
        return text
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        if low is not None and high is not None:
            return f"whole number from {low} to {high}"
        if low is not None:
            return f"whole number, at least {low}"
        if high is not None:
            return f"whole number, at most {high}"
        return "whole number"
    if kind == "array":
        items = node.get("items", {})
        text = "list of " + _constraints(items, defs)
        if node.get("uniqueItems"):
            text += ", each at most once"
        if "minItems" in node:
            text += f", at least {node['minItems']}"
        return text
    if kind == "object":
        if "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
            keys = _constraints(node.get("propertyNames", {"type": "string"}), defs)
            text = f"mapping: {keys} → {_constraints(node['additionalProperties'], defs)}"
            if "minProperties" in node:
                text += f", at least {node['minProperties']}"
            return text
        return "mapping"
    raise SchemaShapeError(f"compiler/reference.py cannot describe this value: {json.dumps(node)}")


def _check_keywords(node: Any, where: str) -> None:
    """Refuse schema keywords this generator does not render (see _KNOWN)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _KNOWN:
                raise SchemaShapeError(
                    f"compiler/reference.py does not document the schema keyword {key!r} "
                    f"(at {where}); teach it, so that README.md stays complete"
                )
            if key in ("properties", "$defs"):
                for name, child in value.items():
                    _check_keywords(child, f"{where}/{key}/{name}")
            elif key in ("items", "additionalProperties", "propertyNames"):
                _check_keywords(value, f"{where}/{key}")
            # `if` and `then` are checked whole by _conditions, which knows one shape.


def _is_record(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" and "properties" in node


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise SchemaShapeError(f"compiler/reference.py follows only local $defs references, not {ref!r}")
    return ref[len(prefix):]


def _resolve(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = defs[_ref_name(ref)]
    return target


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("." if text and not text.endswith(".") else "")


_CODE_SPAN = re.compile(r"(`[^`]*`)")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped, no stray HTML."""
    parts = _CODE_SPAN.split(" ".join(text.split()))
    out = []
    for part in parts:
        if not part.startswith("`"):
            part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(part.replace("|", "\\|"))
    return "".join(out)


def extract_section(readme: str) -> str | None:
    """The text between the reference markers of `readme`, or None when they are missing."""
    start = readme.find(START)
    end = readme.find(END, start + len(START)) if start >= 0 else -1
    if start < 0 or end < 0:
        return None
    return readme[start + len(START):end]


def section_text(reference: str) -> str:
    """What belongs between the markers for a given reference: the tables, blank-line padded."""
    return "\n\n" + reference + "\n"


def replace_section(readme: str, reference: str) -> str:
    """`readme` with the text between the markers replaced by `reference`."""
    current = extract_section(readme)
    if current is None:
        raise ValueError(f"README has no {START} ... {END} markers")
    start = readme.find(START) + len(START)
    return readme[:start] + section_text(reference) + readme[start + len(current):]


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".reference-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Print the reference, or update it inside a README; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m compiler.reference",
        description="Print the definition reference (Markdown tables) generated from the schema.",
    )
    parser.add_argument(
        "--update", metavar="README",
        help=f"replace the text between {START} and {END} in README instead of printing",
    )
    args = parser.parse_args(argv)
    try:
        reference = reference_markdown()
    except SchemaShapeError as exc:
        print(f"python -m compiler.reference: error: {exc}", file=sys.stderr)
        return 1
    if args.update is None:
        sys.stdout.write(reference)
        return 0
    try:
        with open(args.update, encoding="utf-8", newline="") as handle:
            readme = handle.read()
        updated = replace_section(readme, reference)
    except (OSError, ValueError) as exc:
        print(f"python -m compiler.reference: error: {args.update}: {exc}", file=sys.stderr)
        return 1
    if updated != readme:
        _write_atomically(args.update, updated)
        print(f"updated the definition reference in {args.update}")
    else:
        print(f"{args.update}: the definition reference is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
