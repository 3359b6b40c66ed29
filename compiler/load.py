"""Read a definition file: bytes to UTF-8 text to plain Python values, keeping positions.

PyYAML's loaders silently keep the last of two equal keys, accept any tag and expand
aliases without limit. This module composes the YAML node tree with libyaml (when
present), then builds the values itself so that it can refuse duplicate keys, tags
and alias bombs with a located message. The node tree is dropped after loading to keep
memory near the floor; when an error has to be reported, `Document.locate` composes the
text again and walks the nodes to the line and column of any value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from compiler.errors import DefinitionError, Diagnostic, Location

try:  # libyaml is several times faster; PyYAML without it is still correct.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Definitions are small; anything past this is a mistake (a log, a dump, a disk image).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: No valid definition nests deeper than a handful of levels.
MAX_DEPTH = 64
#: Aliases may repeat a value, but not blow up the document (a "billion laughs" bomb).
MAX_EXPANSION_FACTOR = 10
MAX_EXPANSION_SLACK = 10_000

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _TIMESTAMP, _MERGE = (_TAG + t for t in ("map", "seq", "timestamp", "merge"))

_SCALARS = SafeConstructor()
# Nesting deeper than this in the raw text sends the file through the careful path:
# libyaml's composer recurses in C and crashes the interpreter on very deep nesting.
_DEPTH_SUSPICION = 200
_BRACKETS = re.compile(r"[\[\]{}]")
_DEEP_BLOCK = re.compile(r"^[ \t?:-]{%d}" % _DEPTH_SUSPICION, re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded definition: its values, where it came from, and how to find positions."""

    file: str
    text: str
    data: Any
    #: The line of each item of the top-level `resources` list, for generated comments.
    resource_lines: tuple[int, ...] = ()
    _nodes: list[yaml.Node] = field(default_factory=list, compare=False, repr=False)

    def root_node(self) -> yaml.Node:
        """The composed node tree, built again on first use (only errors need it)."""
        if not self._nodes:
            self._nodes.append(yaml.compose(self.text, Loader=_Loader))
        return self._nodes[0]

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """The position of the value at `path` (or of its key), or the nearest known one."""
        node = self.root_node()
        mark = node.start_mark
        for depth, step in enumerate(path):
            last = depth == len(path) - 1
            child: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                        if last and key:
                            mark = key_node.start_mark
                        child = value_node
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if 0 <= step < len(node.value):
                    child = node.value[step]
            if child is None:
                break
            node = child
            if not (last and key):
                mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def raw_text(self, path: Path_) -> str | None:
        """The scalar exactly as written in the file (before YAML read `no` as false)."""
        node = self.root_node()
        for step in path:
            if isinstance(node, yaml.MappingNode):
                found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step]
                if not found:
                    return None
                node = found[-1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
            else:
                return None
        return node.value if isinstance(node, yaml.ScalarNode) else None


def load_file(path: str) -> Document:
    """Read and parse the definition at `path` (as the user spelled it, for messages)."""
    where = Location(path)
    file = Path(path)
    try:
        if file.is_dir():
            raise DefinitionError(Diagnostic(where, "is a directory, not a definition file; pass a .yaml file"))
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DefinitionError(Diagnostic(
                where,
                f"file is {size // (1024 * 1024)} MiB; a definition may be at most "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MiB: is this the right file?",
            ))
        raw = file.read_bytes()
    except FileNotFoundError:
        raise DefinitionError(Diagnostic(where, "no such file")) from None
    except PermissionError:
        raise DefinitionError(Diagnostic(where, "permission denied: cannot read the file")) from None
    except OSError as exc:
        raise DefinitionError(Diagnostic(where, f"cannot read the file: {exc.strerror or exc}")) from None
    return load_bytes(raw, path)


def load_bytes(raw: bytes, file: str) -> Document:
    """Parse definition bytes; `file` names them in messages."""
    text = _decode(raw, file)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise DefinitionError(Diagnostic(
            Location(file, 1, 1),
            "the file is empty; a definition starts with 'version: 1' (see runbooks/ for examples)",
        ))
    if _looks_deep(text):
        _check_depth_by_events(text, file)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_syntax_error(exc, file, text)) from None
    except yaml.YAMLError as exc:  # pragma: no cover - libyaml reports marks for all we know
        raise DefinitionError(Diagnostic(Location(file, 1, 1), f"not valid YAML: {exc}")) from None
    if root is None:  # pragma: no cover - caught by the emptiness check above
        raise DefinitionError(Diagnostic(Location(file, 1, 1), "the file holds no YAML document"))
    if not isinstance(root, yaml.MappingNode):
        raise DefinitionError(Diagnostic(
            _where(root, file),
            f"the top level must be a mapping (keys such as 'version:' and 'plan:'), "
            f"not {_kind(root)}",
        ))
    builder = _Builder(file)
    data = builder.build(root)
    if builder.errors:
        raise DefinitionError(builder.errors)
    return Document(file, text, data, _resource_lines(root))


def _resource_lines(root: yaml.MappingNode) -> tuple[int, ...]:
    for key_node, value_node in root.value:
        if key_node.value == "resources" and isinstance(value_node, yaml.SequenceNode):
            return tuple(item.start_mark.line + 1 for item in value_node.value)
    return ()


def _decode(raw: bytes, file: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw[:8192]:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise DefinitionError(Diagnostic(
            Location(file, line, 1),
            "this is a binary file (it contains NUL bytes), not a YAML definition",
        ))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise DefinitionError(Diagnostic(
            Location(file, line, column),
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
        )) from None


def _looks_deep(text: str) -> bool:
    """Cheap over-estimate of nesting: true for every file that nests deeply, and rarely else."""
    if _DEEP_BLOCK.search(text):
        return True
    if text.count("[") + text.count("{") < _DEPTH_SUSPICION:
        return False
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest >= _DEPTH_SUSPICION


def _check_depth_by_events(text: str, file: str) -> None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise DefinitionError(Diagnostic(
                        Location(file, mark.line + 1, mark.column + 1),
                        f"the document nests deeper than {MAX_DEPTH} levels; "
                        "a definition needs only a few",
                    ))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_syntax_error(exc, file, text)) from None


def _yaml_syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    message = f"YAML syntax error: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    if "cannot start any token" in problem and _char_at(text, line, column) == "\t":
        message = "YAML syntax error: a tab character is not allowed for indentation; indent with spaces"
    elif "found another document" in str(exc):
        message = "the file holds more than one YAML document ('---'); put one definition per file"
    elif "found undefined alias" in (exc.context or "") + problem:
        message = f"YAML syntax error: {problem}; define the anchor (&name) before using it"
    return Diagnostic(Location(file, line, column), message)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line)
    if len(lines) >= line and 0 < column <= len(lines[line - 1]):
        return lines[line - 1][column - 1]
    return ""


def _where(node: yaml.Node, file: str) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"the value {node.value!r}" if node.value else "an empty value"


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, collecting every problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[Diagnostic] = []
        # id(node) -> (value, expanded size, depth): aliases share the node object.
        self._memo: dict[int, tuple[Any, int, int]] = {}
        self._distinct = 0

    def build(self, root: yaml.Node) -> Any:
        value, size, _ = self._build(root)
        limit = MAX_EXPANSION_FACTOR * self._distinct + MAX_EXPANSION_SLACK
        if size > limit:
            self.errors = [Diagnostic(
                _where(root, self.file),
                f"YAML aliases expand this document to {size:,} values from {self._distinct:,} "
                "written ones (an alias bomb?); repeat fewer anchored values",
            )]
        return value

    def _build(self, node: yaml.Node) -> tuple[Any, int, int]:
        known = self._memo.get(id(node))
        if known is not None:
            return known
        self._distinct += 1
        if isinstance(node, yaml.ScalarNode):
            result: tuple[Any, int, int] = (self._scalar(node), 1, 0)
        elif isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ)
            items, size, depth = [], 1, 0
            for child in node.value:
                value, child_size, child_depth = self._build(child)
                items.append(value)
                size += child_size
                depth = max(depth, child_depth)
            result = (items, size, depth + 1)
        else:
            result = self._mapping(node)
        if result[2] > MAX_DEPTH and not any("nests deeper" in e.message for e in self.errors):
            self.errors.append(Diagnostic(
                _where(node, self.file),
                f"the document nests deeper than {MAX_DEPTH} levels (through aliases); "
                "a definition needs only a few",
            ))
        self._memo[id(node)] = result
        return result

    def _mapping(self, node: yaml.MappingNode) -> tuple[Any, int, int]:
        self._check_tag(node, _MAP)
        mapping: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        size, depth = 1, 0
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(Diagnostic(
                    _where(key_node, self.file),
                    "a key must be plain text, not a list or a mapping",
                ))
                continue
            if key_node.tag == _MERGE:
                self.errors.append(Diagnostic(
                    _where(key_node, self.file),
                    "merge keys ('<<') are not supported; write the keys out "
                    "(anchors and aliases of whole values are fine)",
                ))
                continue
            self._check_tag(key_node, None)
            key = key_node.value
            if key in seen:
                first = seen[key].start_mark
                self.errors.append(Diagnostic(
                    _where(key_node, self.file),
                    f"duplicate key '{key}' (first defined on line {first.line + 1}); "
                    "YAML would silently keep only the last one: remove or rename one",
                ))
                continue
            seen[key] = key_node
            value, child_size, child_depth = self._build(value_node)
            mapping[key] = value
            size += child_size + 1
            depth = max(depth, child_depth)
        return mapping, size, depth + 1

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP, _MERGE):  # a date is kept as the text written
            if "\x00" in node.value:
                self.errors.append(Diagnostic(
                    _where(node, self.file),
                    "the text contains a NUL character (\\0), which no shell command "
                    "or document can hold; remove it",
                ))
            return node.value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return _SCALARS.construct_yaml_bool(node)
        if tag == _INT:
            return _SCALARS.construct_yaml_int(node)
        if tag == _FLOAT:
            return _SCALARS.construct_yaml_float(node)
        self._check_tag(node, None)
        return node.value

    def _check_tag(self, node: yaml.Node, expected: str | None) -> None:
        tag = node.tag
        if tag == expected or tag in (_STR, _INT, _FLOAT, _BOOL, _NULL):
            return
        shown = tag.replace(_TAG, "!!")
        self.errors.append(Diagnostic(
            _where(node, self.file),
            f"YAML tag '{shown}' is not allowed in a definition; remove it "
            "(write values as plain text, lists and mappings)",
        ))
