"""Injection canaries: nothing from a definition runs unless it is a command.

Shell payloads (command substitution, backticks, `;`, `&&`, newlines, quotes, `${IFS}`,
here-doc terminators), terminal payloads (ANSI and OSC escape sequences, C1 controls,
carriage returns, bidi overrides) and printf formats go into every text field that is
not a command. The plan is built, then its script is run every way an operator runs it:
`--help`, `--list`, `--dry-run`, `--yes` without a terminal, and interactively under a
pseudo-terminal (answers y, a, skip after a failure, done at a manual step). The canary
file never appears, and no output (stdout, stderr, the terminal, the audit log, the
journal) carries a raw control character from the definition: the script's own colours
are off (NO_COLOR=1, TERM=dumb), so every such character would be the definition's.

Fields with a pattern (ids, site and host names, addresses, users, the plan name) refuse
the payloads: that is checked too, along with the odd values they do allow.

Markdown payloads (headings, fences, pipes, HTML, comments, javascript: links) must not
change the runbook's outline: the same headings and tables as a plan with plain text.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
import yaml
from markdown_it import MarkdownIt

from compiler.cli import main
from tests.scriptrun import FAILED_PROMPT, MANUAL_PROMPT, PROMPT, Built, finish, run_without_terminal, spawn

#: Shell and terminal payloads, by name. Each is put into every free-text field at once.
PAYLOADS = {
    "command substitution": "$(touch CANARY)",
    "backticks": "`touch CANARY`",
    "semicolon": ";touch CANARY",
    "and-and": "&& touch CANARY",
    "pipe": "| touch CANARY",
    "newline": "first\ntouch CANARY\nlast",
    "quotes": "'\"\\ ' '\\'' \"$(touch CANARY)\"",
    "IFS": "${IFS}touch${IFS}CANARY",
    "arithmetic": "$((0x1f)) $[1+1] $(( $(touch CANARY) ))",
    "here-doc terminators": "a\nEOF\nEND\nRUNBOOK\n'EOF'\n_EOF_\ntouch CANARY",
    "clear screen": "\x1b[2J\x1b[H",
    "window title": "\x1b]0;title\x07",
    "colour": "\x1b[31mred\x1b[0m",
    "C1 CSI": "\x9b2J",
    "carriage return": "shown\rHIDDEN",
    "backspace": "abc\x08\x08\x08xyz",
    "printf formats": "%s %n %x %d %b %q %% %1$s \\n \\x1b",
    "bidi override": "abc\u202edcba\u202c \u2066x\u2069 \u061c",
    "glob and tilde": "* ? [a-z] ~root ~+",
    "option-like": "-n -e --help --",
    "history": "!! !-1 !$",
}
#: Characters no output may carry raw when the plan holds them.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x1b\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

#: Markdown payloads: each must leave the runbook's outline as it is.
MARKDOWN_PAYLOADS = {
    "heading": "# heading\n## Step 99: fake",
    "setext": "Title\n===\nSub\n---",
    "fence": "```\n# not closed",
    "tilde fence": "~~~bash\nrm -rf /",
    "pipes": "| a | b |\n|---|---|\n| c | d |",
    "script": "<script>alert(1)</script>",
    "comment": "<!-- everything after this is hidden",
    "javascript link": "[x](javascript:alert(1)) <javascript:alert(1)>",
    "link definition": "[step-1]: https://example.com",
    "html block": "<details><summary>x</summary>\n\n# inside\n</details>",
    "thematic break": "---\n***",
    "table start": "x | y\n- | -",
}

CANARY = "CANARY"


def _payload_definition(payload: str, markdown: bool = False) -> dict[str, Any]:
    """A plan with `payload` in every text field that is not a command.

    Commands are harmless and fixed. Ids, site and host names, address and user take the
    odd values their patterns allow (here-doc words, `%`, brackets, dots and dashes).
    """
    def text(field: str) -> str:
        return f"{field} {payload} end"

    return {
        "version": 1,
        "plan": {
            "name": "inj_plan-1",
            "title": text("plan title"),
            "description": text("plan description"),
            "owner": text("plan owner"),
            "rto": "1h",
            "prerequisites": [text("prerequisite one"), text("prerequisite two")],
            "abort": text("abort"),
            "contacts": [
                {"role": text("role"), "name": text("name"), "phone": text("phone"), "email": text("email")},
            ],
        },
        "sites": {
            "EOF": {
                "title": text("site title"),
                "role": "primary",
                "hosts": {"RUNBOOK": {"address": "_h%n%s.x-y", "user": "_u.s-r", "port": 2222}},
            },
            "END": {"title": text("second site title"), "role": "dr"},
        },
        "resources": [
            {
                "id": "eof", "title": text("title 1"), "site": "EOF",
                "description": text("description 1"), "run": "true", "verify": "true",
                "rollback": text("rollback 1"), "owner": text("owner 1"), "instructions": text("instructions 1"),
                "estimate": "1m",
            },
            {
                "id": "runbook", "title": text("title 2"), "site": "EOF", "host": "RUNBOOK",
                "run": "echo fixed output", "rollback": text("rollback 2"), "after": ["eof"],
            },
            {
                "id": "end.-_9", "title": text("title 3"), "site": "END", "run": "false",
                "description": text("description 3"), "rollback": text("rollback 3"), "owner": text("owner 3"),
                "requires": ["eof"],
            },
            {
                "id": "blocked", "title": text("title 4"), "site": "END", "run": "echo never",
                "requires": ["end.-_9"], "rollback": text("rollback 4"),
            },
            {
                "id": "manual", "title": text("title 5"), "site": "END",
                "instructions": text("instructions 5"), "rollback": text("rollback 5"), "owner": text("owner 5"),
            },
        ],
    }


# A stand-in for ssh: records its arguments, then runs the remote command here, as the
# remote login shell would. Steps on a host reach it through RUNBOOK_SSH.
_FAKE_SSH = """#!/usr/bin/env bash
printf '%s\\0' "$@" >> "${0%/*}/ssh-args"
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done
shift  # --
shift  # user@address
exec bash -c "$1"
"""


def _build(folder: Path, definition: dict[str, Any], source_name: str = "plan.yaml") -> tuple[Built, Path]:
    """Write the definition, run `runbook build` in `folder`/work; the script and the work folder."""
    work = folder / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / source_name).write_text(yaml.safe_dump(definition, allow_unicode=True, sort_keys=False), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "compiler", "build", source_name, "-o", "../out"],
        cwd=work, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not FORBIDDEN.search(result.stdout + result.stderr)
    script = folder / "out" / f"{definition['plan']['name']}.sh"
    ssh = folder / "out" / "fake-ssh"
    ssh.write_text(_FAKE_SSH)
    ssh.chmod(0o755)
    return Built(script), work


def _env(built: Built) -> dict[str, str]:
    return {"RUNBOOK_SSH": str(built.folder / "fake-ssh"), "NO_COLOR": "1", "TERM": "dumb"}


def _no_canary(root: Path) -> None:
    found = [str(p) for p in root.rglob("*") if p.name == CANARY]
    assert found == [], f"a payload ran: {found}"
    assert not (Path.cwd() / CANARY).exists()


def _clean(text: str, what: str) -> None:
    match = FORBIDDEN.search(text)
    assert match is None, f"raw {match.group()!r} from the definition in {what}: {text[max(0, match.start() - 80):match.end() + 40]!r}"


def _run(built: Built, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_without_terminal(built, *args, env=_env(built))
    _clean(result.stdout, f"stdout of {args}")
    _clean(result.stderr, f"stderr of {args}")
    return result


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_a_payload_in_every_text_field_is_shown_never_run(name: str, tmp_path: Path) -> None:
    built, work = _build(tmp_path, _payload_definition(PAYLOADS[name]))
    _clean(built.script.read_text(), "the generated script")

    help_ = _run(built, "--help")
    assert help_.returncode == 0 and "Fingerprint:" in help_.stdout

    listing = _run(built, "--list")
    assert listing.returncode == 0
    assert [line.split()[2] for line in listing.stdout.splitlines()[2:]] == ["eof", "runbook", "end.-_9", "blocked", "manual"]

    dry = _run(built, "--dry-run")
    assert dry.returncode == 0 and "Dry run complete: 5 steps shown, nothing run." in dry.stdout
    # Once more from another working directory (where the definition is): a payload that
    # ran would leave its file there rather than beside the script.
    elsewhere = subprocess.run(
        [str(built.script), "--dry-run"], cwd=work, env={**os.environ, **_env(built)},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )
    assert elsewhere.returncode == 0 and "Dry run complete: 5 steps shown, nothing run." in elsewhere.stdout
    _clean(elsewhere.stdout + elsewhere.stderr, "a dry run from another directory")

    # Unattended: steps 1 and 2 run, step 3 fails and shows its rollback, the run stops.
    yes = _run(built, "--yes")
    assert yes.returncode == 1, yes.stdout + yes.stderr
    assert "| fixed output" in yes.stdout
    assert "Step 3 failed: the command failed with exit status 1." in yes.stdout
    assert "rollback 3" in yes.stdout
    assert built.ends() == [("eof", "done"), ("runbook", "done"), ("end.-_9", "failed")]
    # Again from the start, skipping the failing step: the blocked step and the manual
    # step (which stops an unattended run without a terminal) are shown.
    again = _run(built, "--yes", "--reset", "--skip", "end.-_9")
    assert again.returncode == 1
    assert "is blocked: it requires step 3 end.-_9, which is skipped" in again.stdout
    assert "Step 5 is a manual step and needs a person at a terminal" in again.stdout

    # The host's address and user reach ssh as one argument, exactly.
    ssh_args = (built.folder / "ssh-args").read_text().split("\0")
    assert "_u.s-r@_h%n%s.x-y" in ssh_args and ssh_args[ssh_args.index("_u.s-r@_h%n%s.x-y") - 1] == "--"

    _clean(built.log.read_text(), "the audit log")
    _clean(built.journal.read_text(), "the journal")
    _no_canary(tmp_path)
    assert sorted(p.name for p in work.iterdir()) == ["plan.yaml"]


def _interactive_run(built: Built) -> str:
    """Answer like an operator: y, then a; skip the failed step; type done at the manual step."""
    transcript = io.StringIO()
    child = spawn(built, env=_env(built))
    child.logfile_read = transcript
    child.expect(PROMPT)
    child.sendline("y")
    child.expect(PROMPT)
    child.sendline("a")  # runs step 2 and then step 3, which fails
    child.expect("rollback 3")
    child.expect(FAILED_PROMPT)
    child.sendline("s")
    child.expect("is blocked: it requires step 3")
    child.expect(MANUAL_PROMPT)
    child.sendline("done")
    child.expect("Summary of inj_plan-1")
    status = finish(child)
    assert status == 1, transcript.getvalue()  # the blocked step is not finished
    return transcript.getvalue()


@pytest.mark.parametrize("name", ["all at once", "here-doc terminators", "clear screen", "window title", "bidi override"])
def test_an_interactive_run_shows_payloads_and_runs_only_commands(name: str, tmp_path: Path) -> None:
    payload = " ".join(PAYLOADS.values()) if name == "all at once" else PAYLOADS[name]
    built, _ = _build(tmp_path, _payload_definition(payload))
    # The terminal ends lines with CR LF; any other CR would be the definition's.
    transcript = _interactive_run(built).replace("\r\n", "\n")
    _clean(transcript, "the terminal")
    for shown in ("title 1", "instructions 1", "owner 1", "rollback 3", "instructions 5", "site title", "plan title"):
        assert shown in transcript, shown
    assert built.ends() == [
        ("eof", "done"), ("runbook", "done"), ("end.-_9", "failed"), ("end.-_9", "skipped"), ("manual", "done"),
    ]
    _clean(built.log.read_text(), "the audit log")
    _clean(built.journal.read_text(), "the journal")
    _no_canary(tmp_path)


def test_payloads_are_shown_as_written_with_control_characters_made_visible(tmp_path: Path) -> None:
    payload = " ".join(PAYLOADS.values())
    built, _ = _build(tmp_path, _payload_definition(payload))
    listing = _run(built, "--list").stdout
    first = listing.splitlines()[2]
    title = first[first.index("title 1 "):]
    assert title.startswith("title 1 $(touch CANARY) `touch CANARY` ;touch CANARY && touch CANARY | touch CANARY first touch CANARY last")
    assert "\\x1b[2J\\x1b[H" in title and "\\x1b]0;title\\x07" in title and "\\x9b2J" in title
    assert "shown HIDDEN" in title, "a title is one line: CR is whitespace there"
    assert "abc\\x08\\x08\\x08xyz" in title
    assert "abc\\u202edcba\\u202c \\u2066x\\u2069 \\u061c" in title
    assert "%s %n %x %d %b %q %% %1$s \\n \\x1b" in title


def test_a_hostile_file_name_is_shown_never_run(tmp_path: Path) -> None:
    name = "$(touch CANARY);`touch CANARY`'\nrm -rf x\x1b[31m\u202e.yaml"
    built, _ = _build(tmp_path, _payload_definition("x"), source_name=name)
    for args in (("--help",), ("--list",), ("--dry-run",)):
        assert _run(built, *args).returncode == 0
    lines = built.script.read_text().splitlines()
    assert lines[1].startswith("# Generated by runbook-compiler ") and "\\x1b[31m\\u202e.yaml" in lines[1]
    assert lines[2].startswith("# Change the definition and run: runbook build "), "the name stays in its comment"
    assert "rm -rf x" in lines[1] and "rm -rf x" in lines[2]
    runbook = built.script.with_suffix(".md").read_text()
    _clean(runbook, "the runbook")
    assert _outline(runbook) == _outline(_runbook(tmp_path / "plain", _payload_definition("x")))
    _no_canary(tmp_path)


# --- Fields with a pattern refuse the payloads ---------------------------------------------------------


def _with(field: str, value: str) -> dict[str, Any]:
    """The payload plan with one pattern-checked field (and its references) set to `value`."""
    d = _payload_definition("x")
    if field == "plan name":
        d["plan"]["name"] = value
    elif field == "resource id":
        d["resources"][0]["id"] = value
        d["resources"][1]["after"] = [value]
        d["resources"][2]["requires"] = [value]
    elif field == "site name":
        d["sites"] = {value if k == "END" else k: v for k, v in d["sites"].items()}
        for r in d["resources"]:
            r["site"] = value if r["site"] == "END" else r["site"]
    elif field == "host name":
        d["sites"]["EOF"]["hosts"] = {value: d["sites"]["EOF"]["hosts"]["RUNBOOK"]}
        d["resources"][1]["host"] = value
    elif field in ("address", "user"):
        d["sites"]["EOF"]["hosts"]["RUNBOOK"][field] = value
    else:
        raise AssertionError(field)
    return d


@pytest.mark.parametrize("field", ["plan name", "resource id", "site name", "host name", "address", "user"])
def test_a_field_with_a_pattern_refuses_every_payload_with_a_located_error(
    field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, payload in {**PAYLOADS, **MARKDOWN_PAYLOADS}.items():
        Path("plan.yaml").write_text(yaml.safe_dump(_with(field, payload), allow_unicode=True), "utf-8")
        status = main(["build", "plan.yaml", "-o", "out"])
        err = capsys.readouterr().err
        assert status == 1, f"{field} accepted the {name} payload"
        assert re.match(r"plan\.yaml:\d+:\d+: error: ", err), err
        assert "is not valid" in err, err
        _clean(err, f"the message about the {name} payload in the {field}")
        assert not Path("out").exists()
    _no_canary(tmp_path)


# --- Markdown payloads keep the runbook's outline ---------------------------------------------------------

_MD = MarkdownIt("commonmark").enable("table")
_MD.validateLink = lambda url: True  # see what the text says, not what one renderer lets through


def _outline(markdown: str) -> dict[str, Any]:
    """What a reader navigates by: headings, tables (their shape), raw HTML, links."""
    tokens = _MD.parse(markdown)
    flat = [t for tok in tokens for t in [tok, *(tok.children or [])]]
    headings = [(tok.tag, tokens[i + 1].content) for i, tok in enumerate(tokens) if tok.type == "heading_open"]
    tables = []
    for i, tok in enumerate(tokens):
        if tok.type == "table_open":
            j = i
            rows = cells = 0
            while tokens[j].type != "table_close":
                rows += tokens[j].type == "tr_open"
                cells += tokens[j].type in ("th_open", "td_open")
                j += 1
            tables.append((rows, cells))
    html = [t.content for t in flat if t.type in ("html_block", "html_inline")]
    links = [t.attrs.get("href") for t in flat if t.type == "link_open"]
    return {"headings": headings, "tables": tables, "html": html, "links": links}


def _runbook(folder: Path, definition: dict[str, Any]) -> str:
    built, _ = _build(folder, definition)
    return built.script.with_suffix(".md").read_text()


def test_the_clean_outline_is_what_the_template_makes(tmp_path: Path) -> None:
    outline = _outline(_runbook(tmp_path, _payload_definition("plain words")))
    assert [tag for tag, _ in outline["headings"]] == ["h1"] + ["h2"] * (8 + 5 + 1)
    assert len(outline["tables"]) == 4  # contacts, sites and hosts, the script's options, steps at a glance
    assert all(h in ('<a id="step-1">', '<a id="step-2">', '<a id="step-3">', '<a id="step-4">', '<a id="step-5">', "</a>") for h in outline["html"])


@pytest.mark.parametrize("name", list(MARKDOWN_PAYLOADS) + ["all at once"])
def test_markdown_payloads_do_not_change_the_runbooks_outline(name: str, tmp_path: Path) -> None:
    payload = "\n".join(MARKDOWN_PAYLOADS.values()) if name == "all at once" else MARKDOWN_PAYLOADS[name]
    clean = _outline(_runbook(tmp_path / "clean", _payload_definition("plain words")))
    hostile_text = _runbook(tmp_path / "hostile", _payload_definition(payload))
    hostile = _outline(hostile_text)
    # The same headings at the same levels (their text differs: it is the payload, shown).
    assert [tag for tag, _ in hostile["headings"]] == [tag for tag, _ in clean["headings"]]
    assert [text.split(" ")[0] for _, text in hostile["headings"]] == [text.split(" ")[0] for _, text in clean["headings"]]
    assert hostile["tables"] == clean["tables"]
    assert hostile["html"] == clean["html"]
    assert not [href for href in hostile["links"] if href and not href.startswith(("#step-", "https://"))], hostile["links"]
    _clean(hostile_text, "the runbook")
    _no_canary(tmp_path)


# --- The filters behind the checks above ---------------------------------------------------------------

_TROJAN_SOURCE = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize("char", list(_TROJAN_SOURCE) + ["\x1b", "\x07", "\x9b", "\x85", "\r", "\x7f"])
def test_terminal_safe_shows_every_bidi_and_control_character(char: str) -> None:
    from compiler.escape import terminal_safe

    shown = terminal_safe(f"a{char}b")
    assert shown == (f"a\\x{ord(char):02x}b" if ord(char) < 0x100 else f"a\\u{ord(char):04x}b")


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))",
    "[x](JavaScript:alert(1))",
    "[x](  javascript:alert(1) 'title')",
    "[x](<javascript:alert(1)>)",
    "[x](java&#115;cript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](javascript\\:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "[x](file:///etc/passwd)",
])
def test_a_link_to_a_script_or_a_local_file_is_plain_text(link: str) -> None:
    from compiler.markdown import md_block, md_inline_markup

    for rendered in (md_block(f"See {link} now."), md_inline_markup(f"See {link} now.")):
        assert _outline(rendered)["links"] == [], rendered
        assert "<" not in rendered.replace("\\<", ""), rendered


@pytest.mark.parametrize("link, href", [
    ("[site](https://example.com/x?a=1)", "https://example.com/x?a=1"),
    ("[site](http://example.com)", "http://example.com"),
    ("[mail](mailto:dba@example.com)", "mailto:dba@example.com"),
    ("[call](tel:+49305550100)", "tel:+49305550100"),
    ("[doc](docs/failover.md)", "docs/failover.md"),
    ("[top](#step-1)", "#step-1"),
])
def test_ordinary_links_stay_links(link: str, href: str) -> None:
    from compiler.markdown import md_block, md_inline_markup

    assert md_block(f"See {link} now.") == f"See {link} now."
    assert _outline(md_inline_markup(f"See {link} now."))["links"] == [href]
