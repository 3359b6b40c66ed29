"""`runbook check` (compiler/check.py): are the built outputs exactly what a build writes now?"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler import __version__
from compiler.check import FileCheck, OnDisk, Problem, compare
from compiler.cli import main
from compiler.pipeline import Output, compile_file
from tests.conftest import MINIMAL, run_cli

OTHER = MINIMAL.replace("run: echo one", "run: echo two")
RETITLED = MINIMAL.replace("title: First", "title: The first step")


@pytest.fixture
def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder (the current directory) with plan.yaml and its outputs built fresh in out/."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.yaml").write_text(MINIMAL, encoding="utf-8")
    assert main(["build", "plan.yaml", "-o", "out"]) == 0
    return tmp_path


def fingerprint(text: str, tmp_path: Path) -> str:
    path = tmp_path / "fingerprint-of.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_file(str(path)).fingerprint


def built_from(text: str, name: str, into: Path, tmp_path: Path) -> None:
    """Replace into/<name> with the file a build of definition `text` writes."""
    source = tmp_path / "elsewhere"
    source.mkdir(exist_ok=True)
    (source / "plan.yaml").write_text(text, encoding="utf-8")
    assert main(["build", str(source / "plan.yaml"), "-o", str(source / "out")]) == 0
    shutil.copy2(source / "out" / name, into / name)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["check", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_fresh_outputs_pass_with_one_line(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (0, "plan.yaml: up to date: out/mini.md, out/mini.sh\n", "")


def test_the_output_directory_defaults_to_the_current_one(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "plan.yaml"]) == 0
    capsys.readouterr()
    assert check(capsys, "plan.yaml") == (0, "plan.yaml: up to date: ./mini.md, ./mini.sh\n", "")


def test_a_stale_runbook_is_named_with_both_fingerprints_and_the_fix(
    plans: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    built_from(OTHER, "mini.md", plans / "out", tmp_path)
    capsys.readouterr()
    old, new = fingerprint(OTHER, tmp_path)[:12], fingerprint(MINIMAL, tmp_path)[:12]
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        f"out/mini.md: error: out of date: built from another version of the definition "
        f"(fingerprint {old}, the definition's is now {new})\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_a_stale_script_is_named(plans: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built_from(OTHER, "mini.sh", plans / "out", tmp_path)
    capsys.readouterr()
    old, new = fingerprint(OTHER, tmp_path)[:12], fingerprint(MINIMAL, tmp_path)[:12]
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        f"out/mini.sh: error: out of date: built from another version of the definition "
        f"(fingerprint {old}, the definition's is now {new})\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_outputs_built_before_a_prose_change_differ_with_the_same_fingerprint(
    plans: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (plans / "plan.yaml").write_text(RETITLED, encoding="utf-8")
    capsys.readouterr()
    message = (
        "error: differs from what runbook build writes now although the fingerprint matches: "
        "edited by hand, or built before a change of prose (a title, a description)\n"
    )
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        f"out/mini.md: {message}"
        f"out/mini.sh: {message}"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_missing_files_are_named(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (plans / "out" / "mini.md").unlink()
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        "out/mini.md: error: missing\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))
    assert check(capsys, "plan.yaml", "-o", "nowhere") == (1, "", (
        "nowhere/mini.md: error: missing\n"
        "nowhere/mini.sh: error: missing\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o nowhere\n"
    ))


def test_a_script_fixed_by_hand_is_caught(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = plans / "out" / "mini.sh"
    script.write_text(script.read_text().replace("'echo one'", "'echo one || true'"))
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        "out/mini.sh: error: differs from what runbook build writes now although the fingerprint "
        "matches: edited by hand, or built before a change of prose (a title, a description)\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_a_script_that_is_not_executable_is_caught(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(plans / "out" / "mini.sh", 0o644)
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        "out/mini.sh: error: not executable (mode 0644); runbook build writes it executable\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_outputs_of_another_compiler_version_are_named_as_such(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runbook = plans / "out" / "mini.md"
    runbook.write_text(runbook.read_text().replace(f"runbook-compiler {__version__}", "runbook-compiler 0.0.9"))
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        f"out/mini.md: error: out of date: built by runbook-compiler 0.0.9, this is runbook-compiler {__version__}\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_a_file_without_a_fingerprint_and_a_directory_in_the_way(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (plans / "out" / "mini.md").write_text("# My own notes\n")
    (plans / "out" / "mini.sh").unlink()
    (plans / "out" / "mini.sh").mkdir()
    capsys.readouterr()
    assert check(capsys, "plan.yaml", "-o", "out") == (1, "", (
        "out/mini.md: error: differs from what runbook build writes now and carries no fingerprint: "
        "not built by runbook build\n"
        "out/mini.sh: error: is not a regular file (a directory?); remove it so that the build can write the file\n"
        "plan.yaml: note: to update the outputs, run: runbook build plan.yaml -o out\n"
    ))


def test_several_files_are_all_reported_and_any_failure_fails(plans: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (plans / "other.yaml").write_text(OTHER.replace("name: mini", "name: other"), encoding="utf-8")
    (plans / "bad.yaml").write_text(MINIMAL.replace("site: a", "site: b"), encoding="utf-8")
    capsys.readouterr()
    assert check(capsys, "-o", "out", "plan.yaml", "bad.yaml", "other.yaml") == (
        1,
        "plan.yaml: up to date: out/mini.md, out/mini.sh\n",
        "bad.yaml:13:11: error: resource 'one': unknown site 'b' (sites: a)\n"
        "out/other.md: error: missing\n"
        "out/other.sh: error: missing\n"
        "other.yaml: note: to update the outputs, run: runbook build other.yaml -o out\n",
    )
    assert main(["build", "other.yaml", "-o", "out"]) == 0
    capsys.readouterr()
    assert check(capsys, "-o", "out", "plan.yaml", "other.yaml") == (
        0, "plan.yaml: up to date: out/mini.md, out/mini.sh\nother.yaml: up to date: out/other.md, out/other.sh\n", "",
    )


def test_the_suggested_command_is_exact_and_fixes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my plans").mkdir()
    (tmp_path / "my plans" / "plan.yaml").write_text(MINIMAL, encoding="utf-8")
    assert check(capsys, "my plans/plan.yaml", "--output=-out") == (1, "", (
        "-out/mini.md: error: missing\n"
        "-out/mini.sh: error: missing\n"
        "my plans/plan.yaml: note: to update the outputs, run: runbook build 'my plans/plan.yaml' -o ./-out\n"
    ))
    command = ["runbook", "build", "my plans/plan.yaml", "-o", "./-out"]  # as a shell splits the line
    assert main(command[1:]) == 0
    capsys.readouterr()
    assert check(capsys, "my plans/plan.yaml", "--output=-out")[0] == 0


def test_an_invalid_definition_gets_the_usual_located_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(MINIMAL.replace("title: First", "titel: First"), encoding="utf-8")
    result = run_cli("check", "bad.yaml", "-o", "out", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("bad.yaml:11:5: error: resource 'one': missing required key 'title'")
    assert result.stderr == run_cli("validate", "bad.yaml", cwd=tmp_path).stderr


def test_check_needs_a_file_and_takes_no_other_options(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "the following arguments are required: FILE" in result.stderr
    result = run_cli("check", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: runbook check [-h] [-o DIR] FILE [FILE ...]\n")


def test_check_writes_nothing_and_starts_no_process(plans: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("runbook check started a process")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(os, "posix_spawn", no_process, raising=False)
    (plans / "out" / "mini.md").unlink()
    before = sorted(p.name for p in (plans / "out").iterdir())
    assert check(capsys, "plan.yaml", "-o", "out")[0] == 1
    assert sorted(p.name for p in (plans / "out").iterdir()) == before


# --- the pure comparison --------------------------------------------------------------------


SCRIPT = Output("x.sh", "#!/usr/bin/env bash\n# Fingerprint: " + "a" * 64 + "\n", executable=True)


@pytest.mark.parametrize(
    ("on_disk", "expected"),
    [
        (OnDisk(SCRIPT.text.encode(), mode=0o100755), FileCheck("d/x.sh")),
        (OnDisk(None, problem=Problem.MISSING), FileCheck("d/x.sh", Problem.MISSING)),
        (OnDisk(None, problem=Problem.UNREADABLE, reason="Permission denied"),
         FileCheck("d/x.sh", Problem.UNREADABLE, found="Permission denied")),
        (OnDisk(SCRIPT.text.encode(), mode=0o100644), FileCheck("d/x.sh", Problem.NOT_EXECUTABLE, found="0644")),
        (OnDisk(SCRIPT.text.replace("a" * 64, "b" * 64).encode(), mode=0o100755),
         FileCheck("d/x.sh", Problem.OTHER_FINGERPRINT, found="b" * 64, expected="a" * 64)),
        (OnDisk((SCRIPT.text + "echo\n").encode(), mode=0o100755), FileCheck("d/x.sh", Problem.EDITED)),
        (OnDisk(b"\xff\xfe", mode=0o100755), FileCheck("d/x.sh", Problem.FOREIGN)),
    ],
)
def test_compare_is_a_pure_function_of_its_inputs(on_disk: OnDisk, expected: FileCheck) -> None:
    assert compare("d/x.sh", SCRIPT, "a" * 64, on_disk) == expected
