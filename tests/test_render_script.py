"""compiler/render_script.py: the script is shellcheck-clean, quotes all data, and is stable."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.escape import shell_comment, shell_quote, terminal_safe
from compiler.pipeline import compile_file
from compiler.render_script import render_script
from tests.conftest import EXAMPLES, ROOT
from tests.scriptrun import build, local_plan, run_without_terminal

SHELLCHECK = shutil.which("shellcheck") or str(Path(__file__).resolve().parent.parent / ".venv/bin/shellcheck")
OPTIONAL_CHECKS = "check-extra-masked-returns,check-set-e-suppressed"

HOSTILE = "$(touch CANARY) `touch CANARY` ; touch CANARY && x ' \" \\ ${IFS} %s %n \x1b[31mred\x1b[0m\nEOF"


def shellcheck(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHELLCHECK, "--severity=style", "-o", OPTIONAL_CHECKS, str(script)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_scripts_pass_shellcheck(example, tmp_path):
    script = tmp_path / "example.sh"
    script.write_text(render_script(compile_file(str(example))))
    result = shellcheck(script)
    assert result.returncode == 0, result.stdout


def test_hostile_plan_script_passes_shellcheck_and_shows_text_safely(tmp_path):
    quoted = '"' + HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\x1b", "\\e").replace("\n", "\\n") + '"'
    built = build(tmp_path, local_plan(f"""
    - id: step-1
      title: {quoted}
      site: a
      run: echo safe > ran.txt
      description: {quoted}
      rollback: {quoted}
      owner: {quoted}
      instructions: {quoted}
    - id: manual
      title: {quoted}
      site: a
      instructions: {quoted}
    """))
    assert shellcheck(built.script).returncode == 0, shellcheck(built.script).stdout
    for args in (("--dry-run",), ("--list",), ("--yes",), ("--help",)):
        result = run_without_terminal(built, *args)
        assert not (tmp_path / "CANARY").exists(), args
        assert "\x1b" not in result.stdout + result.stderr, args
    assert (tmp_path / "ran.txt").read_text() == "safe\n"
    listing = run_without_terminal(built, "--list").stdout
    assert "$(touch CANARY)" in listing and "\\x1b[31mred" in listing


def test_data_block_runs_nothing_and_holds_exactly_the_plan(tmp_path):
    """Executing the data block with no commands available defines the arrays, value for value."""
    hostile = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\x1b", "\\e").replace("\n", "\\n")
    built = build(tmp_path, local_plan(f"""
    - id: x
      title: "{hostile}"
      site: a
      run: "{hostile}"
      verify: "{hostile}"
      rollback: "{hostile}"
    """))
    script = built.script.read_text()
    data = script[script.index("load_plan() {"): script.index("\nload_plan\n")] + "\nload_plan\n"
    dump = 'for v in "${STEP_RUN[1]}" "${STEP_VERIFY[1]}" "${STEP_TITLE[1]}" "${STEP_ROLLBACK[1]}"; do printf "%s\\0" "$v"; done'
    result = subprocess.run(
        ["/bin/bash", "-c", data + dump], env={"PATH": "/nonexistent"}, cwd=tmp_path,
        capture_output=True, timeout=30,
    )
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    assert not (tmp_path / "CANARY").exists()
    run, verify, title, rollback = result.stdout.decode().split("\0")[:4]
    assert run == verify == HOSTILE, "commands are carried exactly"
    assert title == terminal_safe(" ".join(HOSTILE.split())), "titles are one line, control characters shown"
    assert rollback == terminal_safe(HOSTILE)


def test_template_quotes_every_value():
    template = (ROOT / "templates" / "script.sh.j2").read_text()
    for expression in re.findall(r"{{(.*?)}}", template):
        assert "|" in expression, f"unfiltered value in script template: {{{{{expression}}}}}"


def test_shell_quote_round_trips_through_bash():
    for text in ("plain", "", "it's", HOSTILE, "a\nb", "-rf", "*", "~root"):
        out = subprocess.run(["bash", "-c", f"printf %s {shell_quote(text)}"], capture_output=True, text=True)
        assert out.stdout == text


def test_comment_and_terminal_filters_neutralise_control_characters():
    assert shell_comment("a\nrm -rf /") == "a rm -rf /"
    assert terminal_safe("\x1b[2J\x07ok\tfine\n") == "\\x1b[2J\\x07ok\tfine\n"


def test_same_plan_gives_the_same_bytes():
    plan = compile_file(str(ROOT / "runbooks" / "webshop-failover.yaml"))
    assert render_script(plan) == render_script(plan)
    again = compile_file(str(ROOT / "runbooks" / ".." / "runbooks" / "webshop-failover.yaml"))
    assert render_script(again) == render_script(plan)
