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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from compiler.errors import DefinitionError, Diagnostic, Location
from compiler.suggest import closest, shown

try:  # libyaml is several times faster; PyYAML without it is still correct.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Anything past this is a mistake (a log, a dump, a disk image). 40 MiB holds about
#: 100,000 resources of realistic size (the largest plan the benchmark builds, in seconds:
#: docs/benchmarks.md) and stops a 50 MB file before it is parsed.
MAX_FILE_BYTES = 40 * 1024 * 1024
#: No valid definition nests deeper than a handful of levels.
MAX_DEPTH = 64
#: Keys, texts, numbers, lists and mappings written in one file. The largest example holds
#: about 600, a resource about 20, so 100,000 resources about 2 million; 40 MiB of
#: `[a,a,a,...]` (20 million values) would take minutes and gigabytes: refuse it while
#: counting, before anything is built.
MAX_VALUES = 2_500_000
#: Aliases may repeat a value, but not blow up the document (a "billion laughs" bomb):
#: neither in the number of values nor in characters (one long text aliased many times).
MAX_EXPANSION_FACTOR = 10
MAX_EXPANSION_SLACK = 10_000
MAX_EXPANSION_SLACK_CHARS = 1_000_000

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _TIMESTAMP, _MERGE = (_TAG + t for t in ("map", "seq", "timestamp", "merge"))

_SCALARS = SafeConstructor()
_EMPTY = (
    "the file holds no definition (it is empty or only comments); a definition starts with "
    "'version: 1', followed by 'plan:', 'sites:' and 'resources:'"
)
_TOO_DEEP = f"the document nests deeper than {MAX_DEPTH} levels; a definition needs only a few"
# Nesting deeper than this in the raw text sends the file through the careful path:
# libyaml's composer recurses in C and crashes the interpreter on very deep nesting.
_DEPTH_SUSPICION = 200
_BRACKETS = re.compile(r"[\[\]{}]")
#: How much of the text to look at first for a line that holds something (not a comment).
_HEAD = 64 * 1024
#: An integer as most people write one; YAML 1.1 also reads 022, 0x16, 1_000 and 22:00.
DECIMAL_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DEEP_BLOCK = re.compile(r"^[ \t?:-]{%d}" % _DEPTH_SUSPICION, re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded definition: its values, where it came from, and how to find positions."""

    file: str
    text: str
    data: Any
    #: The line of each item of the top-level `resources` list, for generated comments.
    resource_lines: tuple[int, ...] = ()
    #: True when every integer is written in plain decimal digits, so that no check needs
    #: the raw text of one (YAML 1.1 reads `022` as 18 and `22:00` as 1320).
    decimal_integers: bool = False
    _nodes: list[yaml.Node] = field(default_factory=list, compare=False, repr=False)
    # id(mapping node) -> {key: (key node, value node)}, built on first use, so that
    # locating many errors in a wide mapping stays linear.
    _keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def root_node(self) -> yaml.Node:
        """The composed node tree, built again on first use (only errors need it)."""
        if not self._nodes:
            root = yaml.compose(self.text, Loader=_Loader)
            if root is None:  # pragma: no cover - a loaded document always has a root
                raise ValueError(f"{self.file} has no YAML document")
            self._nodes.append(root)
        return self._nodes[0]

    def _child(self, node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
        """(key node, value node) of `step` in `node`; the first of duplicate keys, as loaded."""
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            keys = self._keys.get(id(node))
            if keys is None:
                keys = {}
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        keys.setdefault(key_node.value, (key_node, value_node))
                self._keys[id(node)] = keys
            return keys.get(step)
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            return None, node.value[step]
        return None

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """The position of the value at `path` (or of its key), or the nearest known one."""
        node = self.root_node()
        mark = node.start_mark
        for depth, step in enumerate(path):
            found = self._child(node, step)
            if found is None:
                break
            key_node, node = found
            mark = key_node.start_mark if key and key_node is not None and depth == len(path) - 1 else node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def raw_text(self, path: Path_) -> str | None:
        """The scalar exactly as written in the file (before YAML read `no` as false)."""
        node = self.root_node()
        for step in path:
            found = self._child(node, step)
            if found is None:
                return None
            node = found[1]
        return node.value if isinstance(node, yaml.ScalarNode) else None


def load_file(path: str) -> Document:
    """Read and parse the definition at `path` (as the user spelled it, for messages)."""
    if not path:
        raise DefinitionError(Diagnostic(
            Location("runbook"), "the file name is empty; pass the path of a definition file"
        ))
    where = Location(path)
    file = Path(path)
    try:
        if file.is_dir():
            raise DefinitionError(Diagnostic(where, "is a directory, not a definition file; pass a .yaml file"))
        with file.open("rb") as stream:
            # Read one byte past the limit rather than trust st_size: pipes report 0.
            raw = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise DefinitionError(Diagnostic(where, f"no such file{_similar_file(file)}")) from None
    except NotADirectoryError:
        raise DefinitionError(Diagnostic(
            where, "no such file (a part of the path before the file name is a file, not a directory)"
        )) from None
    except PermissionError:
        raise DefinitionError(Diagnostic(
            where, "permission denied: cannot read the file; check its permissions (ls -l)"
        )) from None
    except OSError as exc:
        raise DefinitionError(Diagnostic(where, f"cannot read the file: {exc.strerror or exc}")) from None
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(Diagnostic(
            where,
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most a "
            "definition may be: is this the right file?",
        ))
    return load_bytes(raw, path)


def _similar_file(file: Path) -> str:
    """"; did you mean 'dir/x.yaml'?" for a near-miss among the YAML files beside `file`."""
    try:
        folder = file.parent
        names = sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    except OSError:
        return ""
    name = closest(file.name, names[:1000])
    if name is None:
        return ""
    return f"; did you mean {shown(str(folder / name) if str(file.parent) != '.' else name)}?"


def load_bytes(raw: bytes, file: str) -> Document:
    """Parse definition bytes; `file` names them in messages."""
    text = _decode(raw, file)
    if _holds_nothing(text):
        raise DefinitionError(Diagnostic(Location(file, 1, 1), _EMPTY))
    fast = _load_plain(text, file)
    if fast is not None:
        return fast
    # Something needs a closer look (an anchor, a tag, a duplicate key, bad syntax...): the
    # careful path below builds the node tree and says exactly what and where.
    deep, many = _looks_deep(text), _may_hold_too_many(text)
    if deep or many:
        _check_by_events(text, file)
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_syntax_error(exc, file, text)) from None
    except yaml.reader.ReaderError as exc:
        raise DefinitionError(_reader_error(exc, file, text)) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every other YAML error carries a mark
        raise DefinitionError(Diagnostic(Location(file, 1, 1), f"not valid YAML: {exc}")) from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL and not root.value):
        # Only markers such as '---' or '...': as empty as an empty file.
        raise DefinitionError(Diagnostic(Location(file, 1, 1), _EMPTY))
    if not isinstance(root, yaml.MappingNode):
        raise DefinitionError(Diagnostic(
            _where(root, file),
            f"the top level must be a mapping (keys such as 'version:' and 'plan:'), "
            f"not {_kind(root)}",
        ))
    builder = _Builder(file, text)
    data = builder.build(root)
    if builder.errors:
        raise DefinitionError(builder.errors)
    return Document(file, text, data, _resource_lines(root), builder.decimal_integers)


#: First characters of a plain scalar that YAML 1.1 may read as something other than text
#: (true, null, 12, 1.5, 2024-01-01, ~, <<, =): any other plain scalar is text.
_RESOLVABLE = frozenset(_Loader.yaml_implicit_resolvers)
_KEY_TAGS = frozenset((_STR, _INT, _FLOAT, _BOOL, _NULL))
_TEXT_TAGS = frozenset((_STR, _TIMESTAMP, _MERGE))


def _load_plain(text: str, file: str) -> Document | None:
    """The fast path: values straight from the parser's events, for a plain definition.

    Most definitions use nothing but mappings, lists and untagged scalars. For them this
    builds exactly what the careful path builds, in one pass over the parser's events and
    without a node tree, counting the values on the way (a file of too many is refused
    where the careful path would refuse it). It returns None at the first thing it leaves
    to the careful path: a syntax error, an anchor or alias, a tag, a duplicate or
    non-text key, a NUL in a text, deep nesting, or a top level that is not one mapping.
    """
    if None in _RESOLVABLE or _Loader.yaml_path_resolvers:  # pragma: no cover - not in PyYAML's loaders
        return None
    try:
        loader = _Loader(text)
    except yaml.YAMLError:  # pragma: no cover - PyYAML's own reader checks characters here
        return None
    try:
        return _build_plain(loader, text, file)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _build_plain(loader: Any, text: str, file: str) -> Document | None:
    """The values of a plain definition from `loader`'s events, or None (see `_load_plain`)."""
    get = loader.get_event
    resolve = loader.resolve
    scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    resolvable, key_tags, text_tags = _RESOLVABLE, _KEY_TAGS, _TEXT_TAGS
    decimal = DECIMAL_INTEGER.fullmatch
    resolved: dict[str, str] = {}  # plain scalar -> tag: keys and values repeat a lot
    # One string object per distinct key, not one per mapping (20 bytes of text in 60).
    keys: dict[str, str] = {}
    decimal_integers = True

    if type(get()) is not yaml.StreamStartEvent or type(get()) is not yaml.DocumentStartEvent:
        return None  # pragma: no cover - the parser always starts so
    event = get()
    if type(event) is not mapping_start or event.anchor is not None or event.tag is not None:
        return None
    root: dict[str, Any] = {}
    # The open collections around the current one: (collection, is a mapping, pending key).
    stack: list[tuple[Any, bool, str | None]] = []
    current: Any = root
    in_mapping = True
    key: str | None = None  # in a mapping: the key waiting for its value
    values = 1
    resources: list[Any] | None = None
    resource_lines: list[int] = []
    item: Any
    while True:
        event = get()
        kind = type(event)
        if kind is scalar_event:
            values += 1
            if values > MAX_VALUES:
                raise DefinitionError(_too_many_values(event, file))
            if event.anchor is not None or event.tag is not None:
                return None
            value = event.value
            if event.implicit[0] and (not value or value[0] in resolvable):
                tag = resolved.get(value)
                if tag is None:
                    tag = resolved[value] = resolve(yaml.ScalarNode, value, event.implicit)
            else:
                tag = _STR
            if in_mapping and key is None:
                if tag not in key_tags or value in current:
                    return None
                key = keys.setdefault(value, value)
                continue
            if tag in text_tags:
                if "\x00" in value:
                    return None
                item = value
            elif tag == _NULL:
                item = None
            elif tag in key_tags:
                if tag == _INT and not decimal(value):
                    decimal_integers = False
                item = _SCALARS.construct_object(yaml.ScalarNode(tag, value))
            else:  # pragma: no cover - every implicit tag is text, null, bool or a number
                return None
            if current is resources:
                resource_lines.append(event.start_mark.line + 1)
        elif kind is mapping_start or kind is sequence_start:
            values += 1
            if values > MAX_VALUES:
                raise DefinitionError(_too_many_values(event, file))
            if event.anchor is not None or event.tag is not None or len(stack) >= MAX_DEPTH - 1:
                return None
            if in_mapping and key is None:
                return None  # a list or a mapping as a key
            if current is resources:
                resource_lines.append(event.start_mark.line + 1)
            stack.append((current, in_mapping, key))
            if kind is mapping_start:
                current, in_mapping, key = {}, True, None
            else:
                if len(stack) == 1 and key == "resources":
                    resources = []
                    current = resources
                else:
                    current = []
                in_mapping, key = False, None
            continue
        elif kind is mapping_end or kind is sequence_end:
            if not stack:
                break
            item = current
            current, in_mapping, key = stack.pop()
        else:  # an alias
            return None
        if in_mapping:
            current[key] = item
            key = None
        else:
            current.append(item)
    if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
        return None  # another document follows: the careful path says so
    return Document(file, text, root, tuple(resource_lines), decimal_integers)


def _holds_nothing(text: str) -> bool:
    """Whether `text` is only blank lines and comments."""
    if not text or text.isspace():
        return True
    # The first line that holds something is near the top: look there before splitting
    # a file of a million lines. Every line of a prefix but its last is a whole line.
    head = text[:_HEAD].splitlines()
    if len(text) > _HEAD:
        head.pop()
    if any(_holds_something(line) for line in head):
        return False
    return not any(_holds_something(line) for line in text.splitlines())


def _holds_something(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _resource_lines(root: yaml.MappingNode) -> tuple[int, ...]:
    for key_node, value_node in root.value:
        if key_node.value == "resources" and isinstance(value_node, yaml.SequenceNode):
            return tuple(item.start_mark.line + 1 for item in value_node.value)
    return ()


def _decode(raw: bytes, file: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DefinitionError(Diagnostic(
            Location(file, 1, 1),
            "the file is saved as UTF-16 (or UTF-32); save it as UTF-8",
        ))
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
        # Everything before the bad byte decoded fine; count its characters, not its bytes.
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8")) + 1
        raise DefinitionError(Diagnostic(
            Location(file, line, column),
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x} here); it was probably "
            "saved in another encoding such as Latin-1 or Windows-1252: save it as UTF-8",
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


def _may_hold_too_many(text: str) -> bool:
    """Cheap over-estimate of the number of values: each starts after one of these characters."""
    return sum(text.count(c) for c in ",[{:-?\n") * 2 + 2 > MAX_VALUES


def _check_by_events(text: str, file: str) -> None:
    """Depth and number of values from the parser's events, before any node is built.

    libyaml's composer recurses in C (a crash on deep nesting) and builds a Python object
    per value (minutes for millions of them); the event stream costs neither.
    """
    depth = values = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                values += 1
                if values > MAX_VALUES:
                    raise DefinitionError(_too_many_values(event, file))
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise DefinitionError(Diagnostic(_event_location(event, file), _TOO_DEEP))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        raise DefinitionError(_yaml_syntax_error(exc, file, text)) from None
    except yaml.reader.ReaderError as exc:
        raise DefinitionError(_reader_error(exc, file, text)) from None


def _too_many_values(event: yaml.Event, file: str) -> Diagnostic:
    """The refusal of a file whose value number MAX_VALUES + 1 starts at `event`."""
    return Diagnostic(
        _event_location(event, file),
        f"the file holds more than {MAX_VALUES:,} values (keys, texts, list items); "
        "a definition needs far fewer: is this the right file?",
    )


def _event_location(event: yaml.Event, file: str) -> Location:
    mark = event.start_mark
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)


def _reader_error(exc: yaml.reader.ReaderError, file: str, text: str) -> Diagnostic:
    """A character YAML refuses anywhere (a control character); located at its first use."""
    character = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    # libyaml counts the position in bytes, PyYAML in characters: find the character instead.
    offset = max(text.find(character), 0)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Diagnostic(
        Location(file, line, column),
        f"the file contains the control character U+{ord(character[:1] or '?'):04X}, which YAML "
        f"does not allow; remove it",
    )


def _yaml_syntax_error(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    context = exc.context or ""
    if exc.context_mark and (
        "quoted scalar" in context and "end of stream" in problem
        or "flow sequence" in context or "flow mapping" in context
    ):
        mark = exc.context_mark  # where the unclosed quote or bracket opens, not where it ends
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    here = _char_at(text, line, column)
    message = f"YAML syntax error: {problem}"
    if context:
        message += f" ({context})"
    if here == "\t" or "found character '\\t'" in problem:
        return Diagnostic(
            Location(file, line, column),
            "YAML syntax error: a tab character here; YAML indents with spaces only, "
            "replace the tab with spaces",
        )
    if "found another document" in str(exc):
        return Diagnostic(
            Location(file, line, column),
            "the file holds more than one YAML document ('---'); put one definition per file",
        )
    if "maximum nesting depth" in problem:  # libyaml's own limit (1000 levels)
        return Diagnostic(Location(file, line, column), _TOO_DEEP)
    hint = _syntax_hint(problem, context, here)
    return Diagnostic(Location(file, line, column), f"{message}; {hint}" if hint else message)


def _syntax_hint(problem: str, context: str, here: str) -> str:
    """What a person most likely has to change, for the errors newcomers meet most."""
    if "undefined alias" in problem:
        return "define the anchor (&name) before using it, or quote a value that starts with '*'"
    if "scanning an alias" in context:
        return "a value that starts with '*' is read as an alias: put the value in quotes"
    if "cannot start any token" in problem and here in ("@", "`", "%"):
        return f"a value cannot start with '{here}' in YAML: put the value in quotes"
    if "mapping values are not allowed" in problem:
        return "if the value contains ': ', put the whole value in quotes; otherwise check the indentation"
    if "quoted scalar" in context and "end of stream" in problem:
        return "this quoted value is never closed: add the closing quote"
    if "flow sequence" in context or "flow mapping" in context:
        opening, closing = ("[", "]") if "sequence" in context else ("{", "}")
        return (
            f"the '{opening}' here is not closed by a matching '{closing}'; add it, and put "
            "values that contain ',', '[', ']', '{' or '}' in quotes"
        )
    if "expected '-' indicator" in problem or "expected <block end>" in problem:
        return "this line is indented differently from the lines around it: align it with its siblings"
    if "did not find expected key" in problem:
        return (
            "check the indentation of this line, and put values in quotes when they contain "
            "quotes, ': ' or ' #'"
        )
    return ""


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
    return f"the value {shown(node.value)}" if node.value else "an empty value"


@dataclass(frozen=True, slots=True)
class _Built:
    """A value built from a node, with what it costs once every alias in it is expanded."""

    value: Any
    size: int  # values
    depth: int  # levels of lists and mappings
    chars: int  # characters of text


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, collecting every problem."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.errors: list[Diagnostic] = []
        # id(node) -> what was built: aliases share the node object, so each is built once.
        self._memo: dict[int, _Built] = {}
        self._written_values = 0
        self._written_chars = 0
        self._aliases = False
        self.decimal_integers = True
        # Nodes being built: an alias to one of them is a loop (`&a [*a]`), not a repetition.
        self._open: set[int] = set()

    def build(self, root: yaml.Node) -> Any:
        built = self._build(root)
        if built.depth > MAX_DEPTH:
            # Point where the nesting crosses the limit, as the event check does for text.
            self.errors.append(Diagnostic(
                _where(self._level_below(root, MAX_DEPTH), self.file),
                f"the document nests deeper than {MAX_DEPTH} levels once its aliases are "
                "expanded; a definition needs only a few"
                if self._aliases
                else _TOO_DEEP,
            ))
        values_limit = MAX_EXPANSION_FACTOR * self._written_values + MAX_EXPANSION_SLACK
        chars_limit = MAX_EXPANSION_FACTOR * self._written_chars + MAX_EXPANSION_SLACK_CHARS
        if built.size > values_limit:
            node = self._blowup(root, lambda b: b.size > values_limit, lambda b: b.size)
            self.errors = [Diagnostic(
                _where(node, self.file),
                f"YAML aliases expand this document to {built.size:,} values from "
                f"{self._written_values:,} written ones (an alias bomb?); this value alone "
                f"expands to {self._memo[id(node)].size:,}: repeat fewer anchored values",
            )]
        elif built.chars > chars_limit:
            node = self._blowup(root, lambda b: b.chars > chars_limit, lambda b: b.chars)
            self.errors = [Diagnostic(
                _where(node, self.file),
                f"YAML aliases expand this document to {built.chars:,} characters of text from "
                f"{self._written_chars:,} written ones (an alias bomb?); this value alone "
                f"expands to {self._memo[id(node)].chars:,}: repeat long anchored texts less often",
            )]
        return built.value

    def _blowup(self, root: yaml.Node, too_big: Callable[[_Built], bool], key: Callable[[_Built], int]) -> yaml.Node:
        """Where the expansion crosses the limit: down the largest values from `root`, the
        last one that is too big on its own (its parts are not). Aliases lead to their anchor."""
        node, seen = root, {id(root)}
        while True:
            children = (
                node.value if isinstance(node, yaml.SequenceNode)
                else [v for _, v in node.value] if isinstance(node, yaml.MappingNode)
                else []
            )
            over = [
                c for c in children
                if id(c) not in seen and id(c) in self._memo and too_big(self._memo[id(c)])
            ]
            if not over:
                return node
            node = max(over, key=lambda c: key(self._memo[id(c)]))
            seen.add(id(node))

    def _build(self, node: yaml.Node) -> _Built:
        known = self._memo.get(id(node))
        if known is not None:
            self._aliases = True  # only an alias reaches the same node twice
            return known
        self._written_values += 1
        if isinstance(node, yaml.ScalarNode):
            self._written_chars += len(node.value)
            built = _Built(self._scalar(node), 1, 0, len(node.value))
        elif isinstance(node, yaml.SequenceNode):
            self._check_tag(node, _SEQ)
            self._open.add(id(node))
            items, size, depth, chars = [], 1, 0, 0
            for child in node.value:
                if self._loops(child, node):
                    continue
                item = self._build(child)
                items.append(item.value)
                size += item.size
                depth = max(depth, item.depth)
                chars += item.chars
            self._open.discard(id(node))
            built = _Built(items, size, depth + 1, chars)
        elif isinstance(node, yaml.MappingNode):
            self._open.add(id(node))
            built = self._mapping(node)
            self._open.discard(id(node))
        else:  # pragma: no cover - the composer makes only these three kinds of node
            raise TypeError(f"unexpected YAML node {node!r}")
        self._memo[id(node)] = built
        return built

    def _level_below(self, node: yaml.Node, levels: int) -> yaml.Node:
        """The node `levels` down the deepest path from `node` (all of it is built already)."""
        for _ in range(levels):
            children = node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value]
            node = max(
                (child for child in children if id(child) in self._memo),
                key=lambda child: self._memo[id(child)].depth,
            )
        return node

    def _loops(self, child: yaml.Node, where: yaml.Node) -> bool:
        """Whether `child` is an alias of a value that contains it; reported at `where`."""
        if id(child) not in self._open:
            return False
        self.errors.append(Diagnostic(
            _where(where, self.file),
            "a YAML alias here refers to a value that contains it, an endless loop; "
            "remove the alias or point it at another anchor",
        ))
        return True

    def _mapping(self, node: yaml.MappingNode) -> _Built:
        self._check_tag(node, _MAP)
        mapping: dict[str, Any] = {}
        seen: dict[str, yaml.Node] = {}
        size, depth, chars = 1, 0, 0
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
                where = f"line {first.line + 1}"
                if first.line == key_node.start_mark.line:
                    where += f", column {first.column + 1}"
                self.errors.append(Diagnostic(
                    _where(key_node, self.file),
                    f"duplicate key {shown(key)} (first defined on {where}); YAML would "
                    "silently keep only one of them: remove or rename one",
                ))
                continue
            seen[key] = key_node
            if self._loops(value_node, key_node):
                continue
            self._written_chars += len(key)
            item = self._build(value_node)
            mapping[key] = item.value
            size += item.size + 1
            depth = max(depth, item.depth)
            chars += item.chars + len(key)
        return _Built(mapping, size, depth + 1, chars)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP, _MERGE):  # a date is kept as the text written
            start = node.start_mark.index
            if self.text.startswith("!", start) and not self.text.startswith("!!", start):
                # `run: ! systemctl is-active x` reads as the tag `!` and the text
                # `systemctl is-active x`: the check would silently be inverted.
                self.errors.append(Diagnostic(
                    _where(node, self.file),
                    "YAML reads a leading '!' as a tag and drops it; to keep it (for example "
                    f"to negate a command), quote the whole value: \"! {node.value}\"",
                ))
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
            if not DECIMAL_INTEGER.fullmatch(node.value):
                self.decimal_integers = False
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
