"""Property-based fuzzing: damaged versions of the examples never crash the compiler.

Each generated case starts from one of the examples in runbooks/ and damages it the ways a
hurried edit does: in the data (a key deleted, a value of the wrong type, random unicode,
control characters and quotes inside a text, a reference pointed elsewhere, an id
renamed) and in the text (cut off at a random byte, a tab, a stray YAML character, a line
duplicated, which duplicates its key, or deleted, or indented differently).

Whatever comes out, `compile_file` returns a plan or raises DefinitionError, and
`runbook build` exits 0 or 1 with located messages and never a traceback. When the result
is valid, its script is valid bash, its runbook has one step heading per step, in order,
and (for a sample, since shellcheck takes seconds per script) the script passes
shellcheck with the optional checks on.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from compiler.cli import main
from compiler.errors import DefinitionError
from compiler.pipeline import compile_file, render_outputs
from compiler.plan import Plan
from compiler.resources import package_dir
from tests.conftest import EXAMPLES, ROOT

SHELLCHECK = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
SHELLCHECK_ARGS = ["-o", "check-extra-masked-returns,check-set-e-suppressed", "--severity=style"]
MD = MarkdownIt("commonmark").enable("table")

TEXTS = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES}
DATA = {name: yaml.safe_load(text) for name, text in TEXTS.items()}

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- Generating damage ------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below `node` (not `node` itself), parents before children."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


#: Characters a hurried edit or a bad paste brings: quotes, YAML syntax, shell syntax,
#: controls (NUL, ESC, BEL, CR, DEL, C1), bidi overrides, line separators, non-ASCII.
_NASTY = "'\"`\\$(){}[]<>|&;:#*!%@?~-=,\t\n\r\x00\x07\x08\x1b\x7f\x85\x9b\u00a0\u2028\u202e\u061c\ufeffé漢🙂"
GARBAGE = st.text(alphabet=st.sampled_from(_NASTY) | st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | GARBAGE
    | st.sampled_from(["", " ", "5m", "0s", "1:20", "primary", "dr", "no", "~", "promote-db"])
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(GARBAGE, inner, max_size=3), max_leaves=6)


@st.composite
def damaged_data(draw: st.DrawFn, name: str, text_only: bool = False) -> dict[str, Any]:
    """An example's data with 1 to 4 changes; `text_only` keeps to changes inside texts."""
    data = copy.deepcopy(DATA[name])
    kinds = ["garble"] if text_only else ["delete", "retype", "garble", "reference", "rename"]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        paths = list(_paths(data))
        texts = [p for p in paths if isinstance(_get(data, p), str) and not _is_pattern_field(p)]
        if not paths or (kind == "garble" and not texts):
            continue
        if kind == "delete":
            path = draw(st.sampled_from(paths))
            parent = _get(data, path[:-1])
            del parent[path[-1]]
        elif kind == "retype":
            path = draw(st.sampled_from(paths))
            _get(data, path[:-1])[path[-1]] = draw(VALUES)
        elif kind == "garble":
            path = draw(st.sampled_from(texts))
            value = _get(data, path)
            at = draw(st.integers(1, max(1, len(value) - 1)))
            junk = draw(GARBAGE)
            if text_only:
                junk = junk.replace("\x00", "")
            _get(data, path[:-1])[path[-1]] = value[:at] + junk + value[at:]
        elif kind == "reference":
            resources = data.get("resources") if isinstance(data.get("resources"), list) else []
            if not resources or not isinstance(resources[0], dict):
                continue
            ids = [r.get("id") for r in resources if isinstance(r, dict)]
            sites = list(data["sites"]) if isinstance(data.get("sites"), dict) else ["nowhere"]
            hosts = [h for s in DATA[name]["sites"].values() for h in s.get("hosts", {})] or ["nohost"]
            target = draw(st.sampled_from([r for r in resources if isinstance(r, dict)]))
            key = draw(st.sampled_from(["requires", "after", "site", "host"]))
            if key in ("requires", "after"):
                target[key] = draw(st.lists(st.sampled_from(ids + ["no-such-step"]), min_size=1, max_size=3))
            elif key == "site":
                target["site"] = draw(st.sampled_from(sites + ["nowhere"]))
            else:
                target["host"] = draw(st.sampled_from(hosts + ["nohost"]))
        elif kind == "rename":
            resources = [r for r in data.get("resources", []) if isinstance(r, dict)] if isinstance(data.get("resources"), list) else []
            if resources:
                draw(st.sampled_from(resources))["id"] = draw(st.sampled_from(["renamed", "x" * 101, "Bad Id", "a.b-c_d"]))
    return data


def _is_pattern_field(path: tuple[Any, ...]) -> bool:
    """Fields with a pattern (ids, names, durations, addresses); garbling them is `retype`'s job."""
    last = path[-1]
    if isinstance(last, int):
        last = path[-2]
    return last in {"name", "id", "site", "host", "requires", "after", "address", "user", "role",
                    "rto", "rpo", "timeout", "estimate", "verify_timeout"} and "contacts" not in path


_SYNTAX = ":-[]{},#&*!|>'\"%@`?~"


@st.composite
def damaged_text(draw: st.DrawFn, text: str) -> bytes:
    """0 to 3 edits of the YAML text itself; the result as the bytes written to disk."""
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["tab", "syntax", "duplicate line", "delete line", "indent", "truncate"]))
        lines = text.split("\n")
        at = draw(st.integers(0, len(text)))
        row = draw(st.integers(0, len(lines) - 1))
        if kind == "tab":
            text = text[:at] + "\t" + text[at:]
        elif kind == "syntax":
            text = text[:at] + draw(st.text(alphabet=_SYNTAX, min_size=1, max_size=3)) + text[at:]
        elif kind == "duplicate line":  # a key written twice at the same level
            lines.insert(row, lines[row])
            text = "\n".join(lines)
        elif kind == "delete line":
            del lines[row]
            text = "\n".join(lines)
        elif kind == "indent":
            lines[row] = (" " * draw(st.integers(1, 3)) + lines[row]) if draw(st.booleans()) else lines[row].lstrip(" ")
            text = "\n".join(lines)
        else:
            raw = text.encode("utf-8")
            return raw[: draw(st.integers(0, len(raw)))]  # may cut a character in half
    return text.encode("utf-8")


@st.composite
def damaged_definition(draw: st.DrawFn) -> bytes:
    """An example damaged in its data, its text, or both."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    how = draw(st.sampled_from(["data", "text", "both"]))
    text = TEXTS[name]
    if how != "text":
        text = yaml.safe_dump(draw(damaged_data(name)), allow_unicode=True, sort_keys=False, width=200)
    if how == "data":
        return text.encode("utf-8")
    return draw(damaged_text(text))


# --- Checking the result ----------------------------------------------------------------------------


def _in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def _compile(path: Path) -> Plan | None:
    """The plan, or None when the definition is refused with located problems; never anything else."""
    try:
        return compile_file(str(path))
    except DefinitionError as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            assert diagnostic.location.file == str(path)
            assert diagnostic.location.line >= 1 and diagnostic.location.column >= 1, diagnostic.render()
        return None


_STEP_HEADING = re.compile(r"^Step (\d+): ")


def _headings(markdown: str) -> list[tuple[str, str]]:
    """(h1..h6, the text a reader sees) of every heading."""
    tokens = MD.parse(markdown)
    return [
        (tok.tag, "".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline")))
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open"
    ]


def _check_runbook(plan: Plan, markdown: str) -> None:
    """One h2 step heading per plan step, numbered 1..N in order, and nothing else changed."""
    headings = _headings(markdown)
    steps = [int(m.group(1)) for tag, text in headings if tag == "h2" and (m := _STEP_HEADING.match(text))]
    assert steps == [s.number for s in plan.steps] == list(range(1, len(plan.steps) + 1))
    others = [tag for tag, text in headings if not (tag == "h2" and _STEP_HEADING.match(text))]
    assert others == _FIXED_HEADINGS


def _fixed_headings() -> list[str]:
    plan = compile_file(str(EXAMPLES[0]))
    headings = _headings(render_outputs(plan)[0].text)
    return [tag for tag, text in headings if not (tag == "h2" and _STEP_HEADING.match(text))]


_FIXED_HEADINGS = _fixed_headings()


def _check_script_syntax(script: str) -> None:
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


@settings(FUZZ, max_examples=300)
@given(damaged_definition())
def test_a_damaged_example_is_compiled_or_refused_never_crashes(raw: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        path = folder / "plan.yaml"
        path.write_bytes(raw)
        plan = _compile(path)
        status, out, err = _in_process("build", str(path), "-o", str(folder / "out"))
        assert status in (0, 1), err
        assert "Traceback" not in err and "internal error" not in err
        event("refused" if plan is None else "valid")
        if plan is None:
            assert status == 1 and out == ""
            assert all(line.startswith(f"{path}:") or re.fullmatch(r"\d+ errors", line) for line in err.splitlines()), err
            assert not (folder / "out").exists()
            return
        assert status == 0 and err == ""
        markdown = (folder / "out" / f"{plan.info.name}.md").read_text(encoding="utf-8")
        script = (folder / "out" / f"{plan.info.name}.sh").read_text(encoding="utf-8")
        _check_runbook(plan, markdown)
        _check_script_syntax(script)
    finally:
        shutil.rmtree(folder)


@settings(FUZZ, max_examples=6)
@given(damaged_definition())
def test_a_damaged_example_through_the_real_command_exits_0_or_1(raw: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        (folder / "plan.yaml").write_bytes(raw)
        result = subprocess.run(
            [sys.executable, "-m", "compiler", "build", "plan.yaml", "-o", "out"],
            cwd=folder, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert result.returncode in (0, 1), result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert (result.returncode == 0) == (folder / "out").is_dir()
    finally:
        shutil.rmtree(folder)


# --- Valid results pass shellcheck ---------------------------------------------------------------


def _varying_part(script: str) -> str:
    """The script without the fixed runtime, plus a stub that uses every value it defines.

    Everything a definition can change is before the runtime (header comments, the data
    block); the runtime is inserted byte for byte and shellchecked with the examples in
    test_render_script. Checking the rest alone takes a tenth of the time.
    """
    runtime = (package_dir("templates") / "runtime.bash").read_text(encoding="utf-8")
    assert script.count(runtime) == 1
    head, tail = script.split(runtime)
    assert tail == "\n"
    names = re.findall(r"^readonly ([A-Z_]+)=", head, re.MULTILINE)
    declared = re.search(r"declare -ga ([A-Z0-9_ \\\n]+)\n", head)
    assert declared is not None
    arrays = declared.group(1).replace("\\", " ").split()
    stub = "".join(f"printf '%s\\n' \"${name}\"\n" for name in names)
    stub += "".join(f"printf '%s\\n' \"${{{array}[@]}}\"\n" for array in arrays)
    return head + stub


def _shellcheck(script: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", encoding="utf-8") as handle:
        handle.write(script)
        handle.flush()
        result = subprocess.run([SHELLCHECK, *SHELLCHECK_ARGS, handle.name], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout


@st.composite
def valid_damaged_definition(draw: st.DrawFn) -> Plan:
    """An example with garbage inside its texts and commands, still valid; compiled."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    data = draw(damaged_data(name, text_only=True))
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        path = folder / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        plan = _compile(path)
    finally:
        shutil.rmtree(folder)
    assume(plan is not None)
    assert plan is not None
    return plan


@settings(FUZZ, max_examples=30)
@given(valid_damaged_definition())
def test_a_valid_damaged_example_gives_a_shellcheck_clean_script(plan: Plan) -> None:
    markdown, script = (output.text for output in render_outputs(plan))
    _check_runbook(plan, markdown)
    _check_script_syntax(script)
    _shellcheck(_varying_part(script))


@settings(FUZZ, max_examples=3)
@given(valid_damaged_definition())
def test_a_valid_damaged_example_gives_a_script_that_passes_shellcheck_whole(plan: Plan) -> None:
    _shellcheck(render_outputs(plan)[1].text)


def test_the_varying_part_is_all_a_definition_can_change() -> None:
    """Two very different plans differ only before the runtime, which is the same bytes."""
    scripts = [render_outputs(compile_file(str(example)))[1].text for example in EXAMPLES]
    runtime = (package_dir("templates") / "runtime.bash").read_text(encoding="utf-8")
    assert all(script.endswith(runtime + "\n") and script.count(runtime) == 1 for script in scripts)
    _shellcheck(_varying_part(scripts[0]))
