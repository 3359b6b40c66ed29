"""README.md and compiler/reference.py: what a newcomer reads is true, and cannot drift."""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from compiler import reference
from compiler.schema import schema
from tests.conftest import EXAMPLES, ROOT, run_cli

README = ROOT / "README.md"
FIX = "run `make readme` (or `.venv/bin/python -m compiler.reference --update README.md`) and commit README.md"


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, indented ones (inside lists) included."""
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if fence and language is None:
            language, body = fence.group(1), []
        elif fence:
            blocks.append((language or "", "\n".join(body) + "\n"))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def shell_lines(text: str) -> list[list[str]]:
    """The words of every command line in the README's shell blocks, comments dropped."""
    commands = []
    for language, body in code_blocks(text):
        if language not in ("sh", "bash", "shell", "console", ""):
            continue
        for line in body.splitlines():
            line = line.strip().removeprefix("$ ")
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # not shell (a file tree, prose): only commands must parse
                assert not line.startswith(("runbook ", "./")), f"README.md: cannot parse {line!r}"
                continue
            if words:
                commands.append(words)
    return commands


def readme_runbook_commands() -> list[list[str]]:
    """`runbook ...` command lines of the README that name a file in runbooks/."""
    return [
        words
        for words in shell_lines(README.read_text("utf-8"))
        if words[0] == "runbook" and any(w.startswith("runbooks/") for w in words)
    ]


def readme_script_commands() -> list[list[str]]:
    """`./build/<name>.sh ...` lines of the README: the rehearsal of an example's script."""
    return [words for words in shell_lines(README.read_text("utf-8")) if re.fullmatch(r"\./build/[^/]+\.sh", words[0])]


# --- The definition reference ------------------------------------------------------------


def test_the_reference_in_the_readme_matches_the_schema():
    section = reference.extract_section(README.read_text("utf-8"))
    assert section is not None, (
        f"README.md has lost its {reference.START} / {reference.END} markers: put them back "
        f"under 'Definition reference', then {FIX}"
    )
    expected = reference.section_text(reference.reference_markdown())
    assert section == expected, f"README.md's definition reference differs from the schema: {FIX}"


def test_the_reference_lists_every_field_of_the_schema():
    text = reference.reference_markdown()
    root = schema()
    objects = [root] + [d for d in root["$defs"].values() if "properties" in d]
    for node in objects:
        for key, prop in node["properties"].items():
            row = f"| `{key}` |"
            assert row in text, f"field {key!r} is missing from the reference"
            description = prop.get("description")
            if description:
                assert reference._cell(description) in text  # noqa: SLF001 - the escaped form
    for name in root["$defs"]:
        if "properties" not in root["$defs"][name]:
            assert f"| `{name}` |" in text, f"value type {name!r} is missing from the reference"


def test_the_reference_is_deterministic_and_renders_as_tables():
    from markdown_it import MarkdownIt

    first, second = reference.reference_markdown(), reference.reference_markdown()
    assert first == second
    html = MarkdownIt("commonmark").enable("table").render(first)
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert len(rows) > 30
    for row in rows:  # a stray pipe in a pattern or description would add a column
        assert row.count("<td>") + row.count("<th>") in (3, 4), row
    assert "&lt;name&gt;.md" in first  # `<name>` outside code would vanish as an HTML tag


def test_the_reference_shows_required_conditional_and_enum_rules():
    text = reference.reference_markdown()
    assert "| `instructions` | [`text`](#value-types) | when `run` is absent |" in text
    assert "one of `primary`, `dr`, `other`" in text
    assert "| `version` | always `1` | yes |" in text
    assert "whole number from 1 to 65535" in text


def test_a_schema_keyword_the_generator_does_not_know_is_an_error():
    changed = copy.deepcopy(schema())
    changed["$defs"]["host"]["properties"]["port"]["multipleOf"] = 2
    with pytest.raises(reference.SchemaShapeError, match="multipleOf"):
        reference.reference_markdown(changed)


def test_a_changed_description_changes_the_reference():
    changed = copy.deepcopy(schema())
    changed["$defs"]["resource"]["properties"]["timeout"]["description"] = "A new | description <here>."
    text = reference.reference_markdown(changed)
    assert "A new \\| description &lt;here&gt;." in text
    assert text != reference.reference_markdown()


def test_update_rewrites_only_the_section_and_is_idempotent(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{reference.START}\nstale\n{reference.END}\n\nAfter.\n", "utf-8")
    assert reference.main(["--update", str(readme)]) == 0
    updated = readme.read_text("utf-8")
    assert updated.startswith("# Title\n\nBefore.\n\n")
    assert updated.endswith(f"{reference.END}\n\nAfter.\n")
    assert reference.extract_section(updated) == reference.section_text(reference.reference_markdown())
    assert reference.main(["--update", str(readme)]) == 0
    assert readme.read_text("utf-8") == updated


def test_update_without_markers_fails_and_leaves_the_file_alone(tmp_path: Path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# No markers\n", "utf-8")
    assert reference.main(["--update", str(readme)]) == 1
    assert readme.read_text("utf-8") == "# No markers\n"
    assert "reference:start" in capsys.readouterr().err


def test_the_module_prints_the_reference():
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "compiler.reference"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference.reference_markdown()


# --- The newcomer's path ------------------------------------------------------------------


def test_the_two_setup_commands_come_first():
    blocks = code_blocks(README.read_text("utf-8"))
    first = [line.split("#")[0].strip() for line in blocks[0][1].splitlines()]
    assert first == ["make demo", "make test"], "README.md must open with the set-up commands `make demo` and `make test`"
    makefile = (ROOT / "Makefile").read_text("utf-8")
    for target in ("demo", "test", "readme"):
        assert re.search(rf"^{target}:", makefile, re.M), f"the Makefile has no {target!r} target"


def test_the_readme_shows_commands_for_every_example():
    commands = readme_runbook_commands()
    assert {c[0] for c in commands} == {"runbook"}
    named = {w for c in commands for w in c if w.startswith("runbooks/")}
    text = README.read_text("utf-8")
    for example in EXAMPLES:
        assert f"runbooks/{example.name}" in text, f"README.md does not mention {example.name}"
    assert named, "README.md shows no runbook command for the examples"


@pytest.mark.parametrize(
    "words", readme_runbook_commands(), ids=lambda words: " ".join(words[1:])
)
def test_every_runbook_command_in_the_readme_runs(words: list[str], tmp_path: Path):
    for word in words:
        if word.startswith("runbooks/"):
            assert (ROOT / word).is_file(), f"README.md names {word}, which does not exist"
    args = list(words[1:])
    if args[0] == "build":
        # Never write into the checkout: point -o (or the default, the current directory) at tmp.
        if "-o" in args:
            args[args.index("-o") + 1] = str(tmp_path)
        else:
            args += ["-o", str(tmp_path)]
    result = run_cli(*args)
    assert result.returncode == 0, f"`{' '.join(words)}` failed:\n{result.stderr}"
    if args[0] == "validate":
        assert ": valid:" in result.stdout


@pytest.mark.parametrize("words", readme_script_commands(), ids=lambda words: " ".join(words))
def test_every_script_rehearsal_in_the_readme_runs(words: list[str], tmp_path: Path):
    name = Path(words[0]).stem
    assert (ROOT / "runbooks" / f"{name}.yaml").is_file(), f"README.md runs {words[0]}, but runbooks/{name}.yaml does not exist"
    assert set(words[1:]) <= {"--dry-run", "-n", "--list", "--help", "-h"}, "README rehearsals must not run anything"
    built = run_cli("build", f"runbooks/{name}.yaml", "-o", str(tmp_path))
    assert built.returncode == 0, built.stderr
    result = subprocess.run(
        [str(tmp_path / f"{name}.sh"), *words[1:]], capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )
    assert result.returncode == 0, f"`{' '.join(words)}` failed:\n{result.stderr}"


def test_the_walkthrough_rehearses_and_runs_a_script():
    assert readme_script_commands(), "the walkthrough shows no ./build/<name>.sh --dry-run"


def test_every_plan_written_in_the_readme_is_valid(tmp_path: Path):
    plans = [body for language, body in code_blocks(README.read_text("utf-8")) if language == "yaml" and "version: 1" in body]
    assert plans, "README.md shows no plan"
    for number, body in enumerate(plans, start=1):
        path = tmp_path / f"readme-plan-{number}.yaml"
        path.write_text(body, "utf-8")
        result = run_cli("validate", str(path))
        assert result.returncode == 0, f"plan {number} in README.md is invalid:\n{result.stderr}"


def test_the_readme_documents_every_script_option_and_exit_status():
    text = README.read_text("utf-8")
    section = text[text.index("## Running the script during a disaster"):text.index("## Keeping plans in git")]
    for option in (
        "-y", "--yes", "-n", "--dry-run", "--list", "--from STEP", "--only STEP", "--skip STEP",
        "--journal FILE", "--log FILE", "--reset", "--rerun-interrupted", "-h",
    ):
        assert f"`{option}`" in section, f"option {option} is not documented"
    for status in ("0", "1", "2", "3", "4", "75", "130, 129, 143"):
        assert f"\n| {status} |" in section, f"exit status {status} is not documented"
    assert "tmux" in section
