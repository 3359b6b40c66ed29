"""compiler/render_markdown.py and compiler/markdown.py: the printable runbook and its escaping.

The runbook is checked the way a reader's renderer sees it: parsed by markdown-it-py
(CommonMark plus GFM tables). Its outline (headings, tables, code blocks, the diagram)
must be exactly the plan's, whatever text the definition holds.
"""

from __future__ import annotations

import json
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from compiler import markdown
from compiler import render_markdown as render_markdown_module
from compiler.escape import terminal_safe
from compiler.pipeline import compile_file
from compiler.plan import Plan
from compiler.render_markdown import render_markdown, runbook_view
from compiler.resources import package_dir
from tests.conftest import EXAMPLES, ROOT, plan_of, run_cli

MD = MarkdownIt("commonmark").enable("table")

FIXED_SECTIONS_BEFORE_STEPS = [
    "Objectives",
    "Before you start",
    "If you have to stop: abort and fall back",
    "Contacts",
    "Sites and hosts",
    "How to run this plan",
    "Steps at a glance",
    "Dependency diagram",
]
OVERVIEW_HEADER = ["Step", "Title", "Site / host", "Requires", "Estimate"]
CONTACTS_HEADER = ["Role", "Name", "Phone", "Email"]
HOSTS_HEADER = ["Site", "Role", "Host", "User@address", "Port"]
OUR_HTML = re.compile(r'^(?:<a id="step-[1-9][0-9]*">|</a>)$')
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")

examples = pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])


# ---------------------------------------------------------------------------
# Reading the runbook back


def walk(tokens: list[Token]) -> list[Token]:
    """Every token, children included, in document order."""
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        if token.children:
            out.extend(walk(token.children))
    return out


def text_of(inline: Token) -> str:
    """The text a reader sees in an inline token (HTML tags left out)."""
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def headings(tokens: list[Token]) -> list[tuple[int, str]]:
    """(level, text) of every heading, at any depth (in a list or a quote too)."""
    return [
        (int(tok.tag[1]), text_of(tokens[i + 1]))
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open"
    ]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    start: int


def tables(tokens: list[Token]) -> list[Table]:
    """Every table, its cells as the reader sees them."""
    found: list[Table] = []
    for i, tok in enumerate(tokens):
        if tok.type != "table_open":
            continue
        header: list[str] = []
        rows: list[list[str]] = []
        row: list[str] = []
        j = i + 1
        while tokens[j].type != "table_close":
            t = tokens[j]
            if t.type == "tr_open":
                row = []
            elif t.type == "inline":
                row.append(text_of(t))
            elif t.type == "tr_close":
                (rows if header else header).extend([row] if header else row)
            j += 1
        found.append(Table(header, rows, i))
    return found


def table_with(tokens: list[Token], header: list[str]) -> Table:
    matches = [t for t in tables(tokens) if t.header == header]
    assert len(matches) == 1, f"expected one table with header {header}, found {len(matches)}"
    return matches[0]


def fences(tokens: list[Token]) -> list[tuple[str, str]]:
    return [(t.info, t.content) for t in tokens if t.type == "fence"]


def step_sections(tokens: list[Token]) -> dict[int, list[Token]]:
    """The tokens of each step's section, by the number in its heading."""
    sections: dict[int, list[Token]] = {}
    current: list[Token] | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            match = re.match(r"Step (\d+): ", text_of(tokens[i + 1]))
            current = sections.setdefault(int(match.group(1)), []) if match else None
        elif current is not None:
            current.append(tok)
    return sections


def fenced(command: str) -> str:
    """What a fence block holding `command` contains, as markdown-it reports it."""
    text = terminal_safe(command)
    return text if text.endswith("\n") else text + "\n"


def visible(text: str) -> str:
    """A one-line value as the reader sees it: whitespace collapsed, control characters shown."""
    return terminal_safe(re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" "))


def plan_json(path: Path) -> dict[str, Any]:
    """The plan as `runbook plan --format json` prints it (through a real subprocess)."""
    result = run_cli("plan", "--format", "json", str(path))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------
# The structural checks, shared by the examples and the hostile definition


def check_structure(path: Path) -> str:
    """Build the runbook of `path` and check its whole outline against the plan; return it."""
    plan = compile_file(str(path))
    data = plan_json(path)
    text = render_markdown(plan)
    tokens = MD.parse(text)
    steps = data["steps"]
    numbers = {s["id"]: s["number"] for s in steps}

    # The outline: the title, the fixed sections, every step once in plan order, sign-off.
    expected = [(1, visible(data["title"]))]
    expected += [(2, name) for name in FIXED_SECTIONS_BEFORE_STEPS]
    expected += [(2, f"Step {s['number']}: {visible(s['title'])}") for s in steps]
    expected += [(2, "Sign-off")]
    assert headings(tokens) == expected
    assert [s["number"] for s in steps] == list(range(1, len(steps) + 1))

    # Raw HTML: only our anchors, one per step heading, and no HTML block at all.
    html = [t for t in walk(tokens) if t.type in ("html_inline", "html_block")]
    assert all(t.type == "html_inline" and OUR_HTML.match(t.content) for t in html), [t.content for t in html]
    anchors = [t.content for t in html if t.content != "</a>"]
    assert anchors == [f'<a id="step-{s["number"]}">' for s in steps]

    # The overview: one row per step, five columns, the plan's numbers and dependencies.
    overview = table_with(tokens, OVERVIEW_HEADER)
    assert len(overview.rows) == len(steps)
    for row, step in zip(overview.rows, steps):
        assert len(row) == len(OVERVIEW_HEADER)
        assert row[0] == str(step["number"])
        assert row[1].startswith(visible(step["title"]))
        assert row[2] == f"{step['site']} / {step['host'] or 'local'}"
        assert row[3] == requires_cell(step, numbers)
        estimate = plan.step(step["number"]).resource.estimate
        assert row[4] == ("—" if estimate is None else _fmt(estimate))

    # Every command and check verbatim in a fence block of its own step's section.
    sections = step_sections(tokens)
    assert sorted(sections) == [s["number"] for s in steps]
    for step in plan.steps:
        blocks = fences(sections[step.number])
        for command in (step.resource.run, step.resource.verify):
            if command is not None:
                assert ("bash", fenced(command)) in blocks, f"step {step.number}: {command!r} not in a bash fence"

    # The fingerprint, in the header and in the sign-off.
    code = [t.content for t in walk(tokens) if t.type == "code_inline"]
    assert code.count(data["fingerprint"]) >= 3

    # Contacts and hosts.
    contacts = plan.info.contacts
    if contacts:
        table = table_with(tokens, CONTACTS_HEADER)
        assert table.rows == [
            [visible(c.role)] + [visible(v) if v else "—" for v in (c.name, c.phone, c.email)] for c in contacts
        ]
    hosts = table_with(tokens, HOSTS_HEADER)
    expected_rows = []
    for site in plan.sites:
        label = f"{site.name}: {visible(site.title)}" if site.title else site.name
        for host in site.hosts or (None,):
            if host is None:
                expected_rows.append([label, hosts_role(site.role), "none: steps run where the script runs", "—", "—"])
            else:
                address = f"[{host.address}]" if ":" in host.address else host.address
                target = f"{host.user}@{address}" if host.user else address
                port = str(host.port) if host.port else "ssh default"
                expected_rows.append([label, hosts_role(site.role), host.name, target, port])
    assert hosts.rows == expected_rows

    check_mermaid(tokens, plan)

    assert not CONTROL.search(text.replace("\n", "").replace("\t", ""))
    assert text.endswith("\n") and not text.endswith("\n\n")
    return text


def requires_cell(step: dict[str, Any], numbers: dict[str, int]) -> str:
    hard = [numbers[i] for i in step["requires"]]
    soft = [numbers[i] for i in step["after"] if i not in step["requires"]]
    parts = []
    if hard:
        parts.append(", ".join(map(str, sorted(hard))))
    if soft:
        parts.append("after " + ", ".join(map(str, sorted(soft))))
    return "; ".join(parts) or "—"


def hosts_role(role: str) -> str:
    return {"primary": "primary", "dr": "DR (takes over)", "other": "other"}[role]


def _fmt(seconds: int) -> str:
    from compiler.durations import format_duration

    return format_duration(seconds)


_MERMAID_LINE = re.compile(
    r'^(?:flowchart TD'
    r'|  subgraph site[0-9]+\["(?P<site>[^"]*)"\]'
    r'|    s(?P<node>[0-9]+)\["(?P<label>[^"]*)"\]'
    r'|  end'
    r'|  s(?P<src>[0-9]+) (?P<arrow>-->|-\.->) s(?P<dst>[0-9]+))$'
)
_ENTITY = re.compile(r"#(?:([0-9]+)|quot|amp|lt|gt);")


def mermaid_text(label: str) -> str:
    """What Mermaid shows for a label (its entity codes decoded)."""
    named = {"#quot;": '"', "#amp;": "&", "#lt;": "<", "#gt;": ">"}
    return _ENTITY.sub(lambda m: chr(int(m.group(1))) if m.group(1) else named[m.group()], label)


def check_mermaid(tokens: list[Token], plan: Plan) -> None:
    """The diagram: only lines of our grammar, every step once, every dependency an arrow."""
    blocks = [content for info, content in fences(tokens) if info == "mermaid"]
    assert len(blocks) == 1
    nodes: dict[int, str] = {}
    edges = set()
    for line in blocks[0].splitlines():
        match = _MERMAID_LINE.match(line)
        assert match, f"not a line of the diagram's grammar: {line!r}"
        for label in (match["site"], match["label"]):
            if label is not None:
                bare = _ENTITY.sub("", label)
                assert not set(bare) & set('#;"<>`%&*_[]{}|\\$'), label
        if match["node"]:
            nodes[int(match["node"])] = mermaid_text(match["label"])
        if match["src"]:
            edges.add((int(match["src"]), int(match["dst"]), match["arrow"] == "-->"))
    assert nodes == {s.number: f"{s.number}. {visible(s.resource.title)}" for s in plan.steps}
    assert edges == {(n, s.number, n in s.requires) for s in plan.steps for n in s.waits_for}


# ---------------------------------------------------------------------------
# The examples


@examples
def test_example_runbook_has_the_plans_structure(example: Path):
    check_structure(example)


@examples
def test_example_runbook_has_no_trailing_spaces_outside_commands(example: Path):
    text = render_markdown(compile_file(str(example)))
    fenced_lines = {line for _, content in fences(MD.parse(text)) for line in content.splitlines()}
    assert [line for line in text.splitlines() if line != line.rstrip() and line not in fenced_lines] == []


@examples
def test_rendering_is_deterministic_and_ignores_cwd_and_path_spelling(example: Path, tmp_path: Path, monkeypatch):
    reference = render_markdown(compile_file(str(example))).encode("utf-8")
    assert render_markdown(compile_file(str(example))).encode("utf-8") == reference
    monkeypatch.chdir(tmp_path)
    spellings = [
        str(example.resolve()),
        os.path.relpath(example, tmp_path),
        str(ROOT) + "//runbooks/./" + example.name,
    ]
    link = tmp_path / "link"
    link.symlink_to(example.parent)
    spellings.append(f"link/{example.name}")
    for spelling in spellings:
        assert render_markdown(compile_file(spelling)).encode("utf-8") == reference, spelling


@examples
def test_example_step_numbers_match_runbook_plan_json(example: Path):
    # The numbers a reader sees must be the ones the script and `runbook plan` use.
    data = plan_json(example)
    text = render_markdown(compile_file(str(example)))
    for step in data["steps"]:
        assert text.count(f'## <a id="step-{step["number"]}"></a>Step {step["number"]}: ') == 1


# ---------------------------------------------------------------------------
# Hostile text in every field

HOSTILE_LINE = (
    "a | b `c` ``` ```` # x <script>alert(1)</script> $(rm -rf /) <!-- c --> [x]: http://evil "
    "\x1b[31mred\x1b[0m \" end ; %% --> s1 *_~ &amp; &#60; \\ ![i](http://t/x.png) ~~~ @{ shape: x } "
    "\u202eevil\u202c \x7f \u2028 \x85"
)
HOSTILE_TEXT = """\
# Step 99: injected
## Step 1: duplicate
Title
=====
Sub
---
<script>alert(1)</script>
<div>
<!-- an unclosed comment
[x]: http://evil.example/
[y]:
  http://evil.example/ "title"
| a | b |
|---|---|
| `x | <b>y</b>` | z |
> # quoted heading
> ```
> <script>in a quote</script>
- item
  ```
  # code in a list
b <script>after the list</script>
1. # heading in a list
   ---
text `unclosed <img src=x onerror=alert(1)>
`<b>` tail `
\\<i>already escaped\\\\<b>not</b>
    # indented
\x1b[31m red \x07
```unclosed fence
# in code
"""
HOSTILE_COMMAND = (
    "echo '```' && echo '````' | tr '|' x # <script>\n"
    "$(rm -rf /)\n"
    "~~~\n"
    "\tindented with a tab\n"
    "\x1b[31mred\n"
    "cat <<'EOF'\n# not a heading\nEOF"
)


def hostile_definition() -> dict[str, Any]:
    return {
        "version": 1,
        "plan": {
            "name": "hostile_plan",
            "title": HOSTILE_LINE,
            "description": HOSTILE_TEXT,
            "owner": HOSTILE_LINE,
            "rto": "1m",
            "rpo": "0s",
            "prerequisites": [HOSTILE_LINE, "# heading", "1. one", "- dash", "<b>bold</b>", "```"],
            "abort": HOSTILE_TEXT,
            "contacts": [
                {"role": HOSTILE_LINE, "name": HOSTILE_LINE, "phone": HOSTILE_LINE, "email": HOSTILE_LINE},
                {"role": "| --- |"},
            ],
        },
        "sites": {
            "s1": {
                "title": HOSTILE_LINE,
                "role": "primary",
                "hosts": {
                    "h1": {"address": "10.0.0.1", "user": "u_1", "port": 2222},
                    "h2": {"address": "fe80::1%eth0"},
                },
            },
            "end": {"role": "dr"},
            "subgraph": {"role": "other", "title": "| end |"},
        },
        "resources": [
            {
                "id": "a", "title": HOSTILE_LINE, "site": "s1", "host": "h1",
                "description": HOSTILE_TEXT, "run": HOSTILE_COMMAND, "verify": HOSTILE_COMMAND,
                "rollback": HOSTILE_TEXT, "owner": HOSTILE_LINE, "instructions": HOSTILE_TEXT,
                "estimate": "5m", "timeout": "1m", "verify_timeout": "1m",
            },
            {"id": "b", "title": HOSTILE_TEXT, "site": "end", "instructions": HOSTILE_TEXT, "requires": ["a"]},
            {"id": "c", "title": "#", "site": "end", "run": "````", "verify": "`", "after": ["a", "b"]},
            {"id": "d", "title": "1. ---", "site": "subgraph", "run": "x", "requires": ["c"], "after": ["c"]},
            {"id": "e", "title": "Step 2: fake", "site": "s1", "host": "h2", "run": "|", "requires": ["a"]},
        ],
    }


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "hostile `x` | <b>.yaml"
    path.write_text(yaml.safe_dump(hostile_definition(), allow_unicode=True, sort_keys=False), "utf-8")
    return path


def test_hostile_text_keeps_the_structure(hostile: Path):
    text = check_structure(hostile)
    # The source file's name is user text too.
    assert "Source:** hostile \\`x\\` \\| \\<b>.yaml" in text


def test_hostile_text_shows_as_written(hostile: Path):
    plan = compile_file(str(hostile))
    tokens = MD.parse(render_markdown(plan))
    prerequisites = [text_of(t) for t in tokens if t.type == "inline" and text_of(t).startswith("[ ] ")]
    assert "[ ] # heading" in prerequisites and "[ ] 1. one" in prerequisites and "[ ] <b>bold</b>" in prerequisites
    texts = [text_of(t) for t in tokens if t.type == "inline"]
    assert plan.info.owner and f"Owner: {visible(plan.info.owner)}" in texts
    # The prose's own code blocks stay code (a fence ends at the next closing fence, at any
    # indentation), and the one left open is closed before the runbook goes on.
    blocks = fences(tokens)
    assert ("", "<script>in a quote</script>\n- item\n") in blocks
    assert ("unclosed", "# in code\n") in blocks


def test_step_heading_scheme_and_links_are_stable(tmp_path: Path):
    plan = plan_of(
        """
        version: 1
        plan: {name: p, title: P}
        sites: {a: {role: primary}}
        resources:
          - {id: one, title: First, site: a, run: 'true'}
          - {id: two, title: Second, site: a, run: 'true', requires: [one]}
        """,
        tmp_path,
    )
    text = render_markdown(plan)
    assert '## <a id="step-1"></a>Step 1: First' in text
    assert '## <a id="step-2"></a>Step 2: Second' in text
    assert "**Requires** (must be done first): [Step 1: First](#step-1)." in text
    tokens = walk(MD.parse(text))
    hrefs = {t.attrGet("href") for t in tokens if t.type == "link_open"}
    assert hrefs == {"#step-1", "#step-2"}


# ---------------------------------------------------------------------------
# What the runbook says


def test_critical_path_over_the_rto_is_said_plainly(tmp_path: Path):
    plan = plan_of(
        """
        version: 1
        plan: {name: p, title: P, rto: 10m}
        sites: {a: {role: primary}}
        resources:
          - {id: one, title: First, site: a, run: 'true', estimate: 20m}
          - {id: two, title: Second, site: a, run: 'true', estimate: 10m, requires: [one]}
          - {id: three, title: Third, site: a, run: 'true'}
        """,
        tmp_path,
    )
    text = render_markdown(plan)
    assert "**Estimated critical path** (the longest chain of steps that wait for each other): 30m. " \
           "**This exceeds the RTO by 20m.**" in text
    assert "**Estimated time along the longest dependency chain: 30m**, more than the RTO of 10m." in text
    assert "1 of 3 steps have no estimate and count as no time at all." in text
    assert "The chain: [1](#step-1) → [2](#step-2)." in text


def test_critical_path_within_the_rto_and_without_estimates(tmp_path: Path):
    base = """
        version: 1
        plan: {{name: p, title: P{rto}}}
        sites: {{a: {{role: primary}}}}
        resources:
          - {{id: one, title: First, site: a, run: 'true'{estimate}}}
        """
    within = render_markdown(plan_of(base.format(rto=", rto: 1h", estimate=", estimate: 5m"), tmp_path))
    assert "(the longest chain of steps that wait for each other): 5m. Within the RTO." in within
    unknown = render_markdown(plan_of(base.format(rto="", estimate=""), tmp_path))
    assert "**Estimated critical path:** unknown, no step has an estimate." in unknown
    assert "**RTO** (recovery time objective): not set." in unknown


def test_where_a_step_runs(tmp_path: Path):
    plan = plan_of(
        """
        version: 1
        plan: {name: p, title: P}
        sites:
          dub:
            title: Dublin
            role: dr
            hosts:
              db: {address: db1.example.net, user: postgres, port: 2222}
              v6: {address: "fe80::1"}
        resources:
          - {id: one, title: Remote, site: dub, host: db, run: 'true', timeout: 5m}
          - {id: two, title: Local, site: dub, instructions: Call Ana.}
          - {id: three, title: Six, site: dub, host: v6, run: 'true'}
        """,
        tmp_path,
    )
    text = render_markdown(plan)
    assert "- **Where:** dub / db, over ssh as `postgres@db1.example.net` port 2222 (site Dublin)." in text
    assert "- **Where:** dub / local: where the script runs (site Dublin)." in text
    assert "- **Where:** dub / v6, over ssh as `[fe80::1]` (site Dublin)." in text
    assert "**Command** (runs on db over ssh; stopped and counted as failed after 5m):" in text
    assert "**Manual step: do this by hand, then type `done` in the script:**\n\nCall Ana." in text
    assert "| dub: Dublin | DR (takes over) | db | postgres@db1.example.net | 2222 |" in text


def test_how_to_run_names_the_script_its_options_and_files(tmp_path: Path):
    text = render_markdown(plan_of(
        "version: 1\nplan: {name: my_plan, title: P}\nsites: {a: {role: primary}}\n"
        "resources: [{id: one, title: T, site: a, run: 'true'}]\n",
        tmp_path,
    ))
    how = text.split("## How to run this plan", 1)[1].split("\n## ", 1)[0]
    assert "`./my_plan.sh --dry-run`" in how and "`./my_plan.sh`" in how
    assert "`my_plan.journal` next to the script" in how and "`my_plan.log` next to the script" in how
    for option in ("--dry-run", "--yes", "--list", "--from STEP", "--only STEP", "--skip STEP",
                   "--journal FILE", "--log FILE", "--reset", "--rerun-interrupted"):
        assert f"`{option}`" in how, option
    assert "finished steps are not run again" in how


def test_a_dependency_listed_as_both_requires_and_after_shows_once_as_requires(tmp_path: Path):
    plan = plan_of(
        "version: 1\nplan: {name: p, title: P}\nsites: {a: {role: primary}}\nresources:\n"
        "  - {id: one, title: T, site: a, run: 'true'}\n"
        "  - {id: two, title: U, site: a, run: 'true', requires: [one], after: [one]}\n",
        tmp_path,
    )
    step = runbook_view(plan).steps[1]
    assert [(first, link.number) for first, link in step.requires] == [(True, "1")] and step.after == ()


def test_render_markdown_does_no_io(tmp_path: Path, monkeypatch):
    plan = compile_file(str(EXAMPLES[0]))
    render_markdown(plan)  # warm the template cache: loading the template is set-up, not rendering

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("render_markdown must not touch files")

    monkeypatch.setattr("builtins.open", forbidden)
    monkeypatch.setattr(Path, "read_text", forbidden)
    assert render_markdown(plan).startswith("# ")


# ---------------------------------------------------------------------------
# The template: every value is escaped for the place it lands

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.S)
_LAST_FILTER = re.compile(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^()]*\))?\s*$")
_FIELD = re.compile(r"^[a-z_]+(?:\.[a-z_]+)*\.([a-z_]+)$")


def _field_kinds() -> dict[str, set[str]]:
    """Every field name of the view's records, with what it holds: markdown, mermaid or raw text."""
    escaped = {
        markdown.Markdown: "markdown", markdown.Markdown | None: "markdown",
        markdown.Mermaid: "mermaid", markdown.Mermaid | None: "mermaid",
    }
    kinds: dict[str, set[str]] = {}
    for record in vars(render_markdown_module).values():
        if isinstance(record, type) and record.__module__ == render_markdown_module.__name__:
            for name, hint in typing.get_type_hints(record).items():
                kinds.setdefault(name, set()).add(escaped.get(hint, "raw"))
    return kinds


def test_every_template_value_is_escaped_for_where_it_lands():
    """A value is a field the view escaped (typed Markdown; Mermaid in the diagram), or a raw
    field passed through the filter for its place; never raw text, never escaped twice."""
    template = (package_dir("templates") / "runbook.md.j2").read_text("utf-8")
    body = re.sub(r"\{#.*?#\}", "", template, flags=re.S)  # comments may mention {{ }}
    diagram = range(body.index("```mermaid\n"), body.index("```\n", body.index("```mermaid\n") + 3))
    kinds = _field_kinds()
    assert not {name for name, kind in kinds.items() if len(kind) > 1}, "a field name must say what it holds"
    expressions = list(_EXPRESSION.finditer(body))
    assert len(expressions) > 50
    wrong = []
    for match in expressions:
        expression = match.group(1).strip()
        place = "mermaid" if match.start() in diagram else "markdown"
        filtered = _LAST_FILTER.search(expression)
        if filtered:
            operand = expression[:filtered.start()].strip().rsplit(".", 1)[-1]
            ok = (
                filtered.group(1) in markdown.FILTERS
                and filtered.group(1).startswith("mermaid_" if place == "mermaid" else "md_")
                and kinds.get(operand, {"raw"}) == {"raw"}
            )
        else:
            field = _FIELD.match(expression)
            ok = field is not None and kinds.get(field.group(1)) == {place}
        if not ok:
            wrong.append(expression)
    assert wrong == [], f"template values not escaped for their place (or escaped twice): {wrong}"


def test_the_view_escapes_only_with_the_markdown_functions():
    """Escaped values come out of compiler/markdown.py; the view never declares text escaped."""
    source = Path(render_markdown_module.__file__).read_text("utf-8")
    assert not re.search(r"\b(?:Markdown|Mermaid)\(", source)


def test_the_filters_are_registered_in_the_one_environment():
    from compiler.templating import environment

    for name, function in markdown.FILTERS.items():
        assert environment().filters[name] is function


# ---------------------------------------------------------------------------
# The escaping functions, one by one

# Text with everything Markdown, HTML, GFM and Mermaid react to, plus controls.
_SPECIAL = list("\\`*_[]()<>#|~$!&;:\"'-+=.%{}@^ \t\n\r") + ["```", "&amp;", "&#60;", "<b>", "</b>", "<!--", "-->",
                                                             "\x1b[31m", "\x00", "\x7f", "\x85", "\u2028", "\u202e",
                                                             "\u00a0", "1.", "1)", "http://x.y", "end", "\x1c"]
hostile_text = st.lists(st.one_of(st.sampled_from(_SPECIAL), st.text(max_size=3)), max_size=25).map("".join)


def _only_text(inline: Token) -> bool:
    return all(child.type in ("text", "softbreak") for child in inline.children or [])


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_md_inline_is_plain_text_in_a_paragraph_a_heading_and_a_cell(value: str):
    expected = visible(value).strip()
    escaped = markdown.md_inline(value)
    assert "\n" not in escaped
    if not expected:
        return
    for document, kind in ((f"Owner: {escaped}\n", "paragraph_open"), (f"## Step 1: {escaped}\n", "heading_open"),
                           (f"| h |\n|---|\n| {escaped} |\n", "table_open")):
        tokens = MD.parse(document)
        assert tokens[0].type == kind, document
        inlines = [t for t in tokens if t.type == "inline"]
        body = inlines[-1]
        assert _only_text(body), document
        assert text_of(body).strip().endswith(expected), document


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_md_cell_keeps_the_column_count(value: str):
    document = f"| a | b | c |\n|---|---|---|\n| {markdown.md_cell(value)} | {markdown.md_cell(value)} | x |\n"
    table = tables(MD.parse(document))[0]
    assert [len(r) for r in table.rows] == [3]
    assert table.rows[0][2] == "x"


def test_md_cell_shows_a_dash_for_nothing():
    assert markdown.md_cell(None) == markdown.md_cell("  ") == "—"
    assert markdown.md_cell(22) == "22"


@settings(max_examples=200, deadline=None)
@given(hostile_text)
def test_md_code_span_holds_the_value_exactly(value: str):
    expected = visible(value).strip(" ")
    if not expected.strip():
        return
    inline = MD.parse(f"Run {markdown.md_code_span(value)} now\n")[1]
    code = [c.content for c in inline.children or [] if c.type == "code_inline"]
    assert code == [expected]


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_md_fence_holds_a_command_verbatim(value: str):
    if not value:
        return
    tokens = MD.parse(markdown.md_fence(value, "bash") + "\n\n## After\n")
    assert tokens[0].type == "fence" and tokens[0].info == "bash"
    assert tokens[0].content == fenced(value)
    assert headings(tokens) == [(2, "After")]


def test_md_fence_outlasts_any_backtick_run():
    assert markdown.md_fence("a ``` b\n````\n") == "`````\na ``` b\n````\n`````"
    assert markdown.md_fence("x", "bash") == "```bash\nx\n```"


_BLOCK_SPECIAL = _SPECIAL + ["\n", "\n", "\n", "\n# ", "\n## ", "\n===\n", "\n---\n", "\n```\n", "\n~~~\n", "\n> ",
                             "\n- ", "\n1. ", "\n    ", "\n  ```", "\n<div>\n", "\n[x]: /u\n", "\n| a | b |\n|-|-|\n",
                             "`", "``", "<script>", "<a href='`'>", "\\`", "](", "\n   # "]
hostile_prose = st.lists(st.one_of(st.sampled_from(_BLOCK_SPECIAL), st.text(max_size=3)), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(hostile_prose)
def test_md_block_cannot_add_headings_html_or_swallow_what_follows(value: str):
    if not value.strip():
        return
    document = f"# Title\n\n{markdown.md_block(value)}\n\n## After\n\nclosing paragraph\n"
    tokens = MD.parse(document)
    assert headings(tokens) == [(1, "Title"), (2, "After")]
    after = next(i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2")
    assert tokens[after].level == 0, "the heading after the prose must be at the top level"
    assert tokens[-3].type == "paragraph_open" and tokens[-3].level == 0
    assert [t.content for t in walk(tokens) if t.type in ("html_inline", "html_block")] == []
    assert not CONTROL.search(document.replace("\n", "").replace("\t", ""))


@pytest.mark.parametrize("prose", [
    "Plain text with **bold**, *emphasis*, a [link](https://example.com) and `code <with> tags`.",
    "Two paragraphs.\n\nThe second one\nwraps over lines.",
    "- one\n- two\n  - nested\n\n1. first\n2. second",
    "> A quote\n> on two lines",
    "```bash\n# a comment, not a heading\nsystemctl stop x <in> y\n```\n\nAfter the code.",
    "~~~\nplain fence\n~~~",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "Call `ssh <user>@host` and type `echo \"x\"` there.",
    "An ASCII arrow -> and a comparison 1 < 2 stay as they are.",
])
def test_md_block_renders_ordinary_markdown_unchanged(prose: str):
    assert MD.render(markdown.md_block(prose)) == MD.render(prose)


@pytest.mark.parametrize(("prose", "expected"), [
    ("# Heading", "\\# Heading"),
    ("Title\n===", "Title\n\\==="),
    ("Title\n---", "Title\n\\---"),
    ("- # in a list", "- \\# in a list"),
    ("<script>x</script>", "\\<script>x\\</script>"),
    ("a <!-- b", "a \\<!-- b"),
    ("[x]: http://evil", "[x\\]: http://evil"),
    ("Already \\<escaped>", "Already \\<escaped>"),
    ("`<b>` is code", "`<b>` is code"),
    ("`unclosed <b>", "`unclosed \\<b>"),
    ("A [link](https://example.com) then `<code>`", "A [link](https://example.com) then `<code>`"),
    ("A [link](https://example.com 'title') then `<code>`", "A [link](https://example.com 'title') then `\\<code>`"),
    ("| `a | <b>` |", "| `a | \\<b>` |"),
    ("trailing spaces   \n\n\n\nnext", "trailing spaces\n\nnext"),
    ("```\nopen fence\n", "```\nopen fence\n```"),
    ("1. Run:\n   ```bash\n   # stop it\n   ```\n2. Next", "1. Run:\n```bash\n# stop it\n```\n2. Next"),
    ("> ```\n> quoted <code>\n> ```", "```\nquoted <code>\n```"),
    ("text\n```` \n``` inside\n````", "text\n````\n``` inside\n````"),
])
def test_md_block_escapes_exactly_what_could_break_the_outline(prose: str, expected: str):
    assert markdown.md_block(prose) == expected


@pytest.mark.parametrize("prose", [
    # A span opened on one line and closed on the next: CommonMark pairs across lines.
    "a `\nb ` <b>x</b> `",
    # A list item boundary between two backticks.
    "- `a\n- <script>x</script>`",
    # A table row: GFM cuts the "span" at the pipe.
    "| h |\n|---|\n| `a | <b>x</b>` |",
    # A link destination or title (here over two lines) swallows a backtick.
    "[a](/u\n't `a') `b` <b>x</b> `",
    "[a](<b`c>) <i>x</i> `d`",
    # A fence opened in a list item and left when the item ends.
    "- a\n  ```\nb <script>x</script>",
    # An indented fence that CommonMark closes with a less indented line.
    " ```\n# code\n ```\n<script>x</script>",
])
def test_md_block_leaves_no_html_where_code_spans_or_fences_are_ambiguous(prose: str):
    tokens = MD.parse(f"{markdown.md_block(prose)}\n\n## After\n")
    assert [t.content for t in walk(tokens) if t.type in ("html_inline", "html_block")] == []
    assert headings(tokens) == [(2, "After")]


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_mermaid_label_is_one_quoted_string_showing_the_value(value: str):
    label = markdown.mermaid_label(value)
    assert label.startswith('"') and label.endswith('"') and '"' not in label[1:-1]
    inner = label[1:-1]
    assert not set(_ENTITY.sub("", inner)) & set('#;"<>`%&*_[]{}|\\$\n')
    assert mermaid_text(inner) == visible(value).strip(" ")


def test_mermaid_label_defuses_a_leading_list_marker():
    # Mermaid reads "3. Title" as a Markdown list ("Unsupported markdown: list").
    assert markdown.mermaid_label("3. Promote") == '"3#46; Promote"'
    assert markdown.mermaid_label("- x") == '"#45; x"'


def test_ids_and_anchors_accept_only_what_the_renderer_makes():
    assert markdown.mermaid_id("s12") == "s12"
    assert markdown.md_anchor("step-3") == '<a id="step-3"></a>'
    assert markdown.md_href("step-3") == "#step-3"
    for bad in ("end", "s 1", 's1"]', ""):
        with pytest.raises(ValueError):
            markdown.mermaid_id(bad)
    for bad in ('step-3"><script>', "Step 3", ""):
        with pytest.raises(ValueError):
            markdown.md_anchor(bad)
        with pytest.raises(ValueError):
            markdown.md_href(bad)


def test_the_view_of_a_step_field_by_field(tmp_path: Path):
    """Every field of StepView holds its own value (render_markdown builds it positionally)."""
    plan = plan_of(
        """\
        version: 1
        plan: {name: p, title: P}
        sites:
          a: {role: primary, title: Site A, hosts: {h1: {address: 10.0.0.1, user: u, port: 2222}}}
        resources:
          - {id: one, title: First, site: a, run: 'true'}
          - {id: other, title: Other, site: a, run: 'true'}
          - id: two
            title: Second_step
            site: a
            host: h1
            requires: [one]
            after: [other]
            run: echo run
            verify: echo verify
            instructions: Do this.
            description: Why.
            rollback: Undo.
            owner: Team
            estimate: 1m
            timeout: 2m
            verify_timeout: 3m
        """,
        tmp_path,
    )
    view = runbook_view(plan)
    step = view.steps[2]
    one, other = view.steps[0], view.steps[1]
    assert step._asdict() == {
        "number": "3", "href": "#step-3", "anchor": '<a id="step-3"></a>', "id": "`two`",
        "title": "Second\\_step", "title_cell": "Second\\_step", "manual": False,
        "site": "a", "site_cell": "a", "site_title": "Site A",
        "host": "h1", "host_cell": "h1", "target": "`u@10.0.0.1`", "port": "2222",
        "run": "echo run", "verify": "echo verify", "instructions": "Do this.", "description": "Why.",
        "rollback": "Undo.", "owner": "Team",
        "estimate": "1m", "estimate_cell": "1m", "timeout": "2m", "verify_timeout": "3m",
        "requires": ((True, plan_link(one)),), "after": ((True, plan_link(other)),),
        "waits": ((plan_link(one), True), (plan_link(other), False)),
        "critical": True, "line": "8", "node": "s3", "label": '"3#46; Second#95;step"',
    }
    assert (one.requires, one.after, one.waits) == ((), (), ())
    assert (one.host, one.target, one.port, one.owner, one.estimate, one.estimate_cell) == (None, None, None, None, None, "—")


def plan_link(step: Any) -> Any:
    """The StepLink of a step's view."""
    from compiler.render_markdown import StepLink

    return StepLink(step.number, step.title, step.href, step.node)
