"""`runbook check`: are the outputs on disk exactly what `runbook build` would write now?

The comparison renders the outputs in memory (no subprocess, no temporary files) and
compares them byte for byte with the files in the output directory. It returns values;
the command line prints them.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass
from enum import Enum

from compiler import __version__
from compiler.errors import Diagnostic, Location
from compiler.pipeline import Output, render_outputs
from compiler.plan import Plan

_FINGERPRINT = re.compile(r"Fingerprint\W{1,8}([0-9a-f]{64})\b")
_VERSION = re.compile(r"\brunbook-compiler ([0-9]+(?:\.[0-9A-Za-z+-]+)*)")


class Problem(Enum):
    """What is wrong with one output file."""

    MISSING = "missing"
    NOT_A_FILE = "not a file"
    UNREADABLE = "unreadable"
    OTHER_FINGERPRINT = "built from another version of the definition"
    OTHER_VERSION = "built by another version of runbook-compiler"
    EDITED = "differs, same fingerprint"
    FOREIGN = "differs, no fingerprint"
    NOT_EXECUTABLE = "not executable"


@dataclass(frozen=True, slots=True)
class OnDisk:
    """What one output path holds: bytes and mode, or why there are none."""

    data: bytes | None
    mode: int = 0
    problem: Problem | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One output file compared with what the build writes now."""

    path: str
    problem: Problem | None = None
    #: Details for the message: the fingerprint or version found, or the OS error.
    found: str = ""
    expected: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every output of one definition, compared."""

    definition: str
    directory: str
    files: tuple[FileCheck, ...]

    @property
    def up_to_date(self) -> bool:
        """True when every output is byte-identical (and the script executable)."""
        return all(f.problem is None for f in self.files)

    @property
    def command(self) -> str:
        """The exact command that writes the outputs again."""
        return f"runbook build {_argument(self.definition)} -o {_argument(self.directory)}"


def read_output(path: str) -> OnDisk:
    """The bytes and mode of `path`, or the problem that keeps us from reading it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return OnDisk(None, problem=Problem.MISSING)
    except OSError as exc:
        return OnDisk(None, problem=Problem.UNREADABLE, reason=exc.strerror or str(exc))
    if not stat.S_ISREG(info.st_mode):
        return OnDisk(None, problem=Problem.NOT_A_FILE)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return OnDisk(None, problem=Problem.UNREADABLE, reason=exc.strerror or str(exc))
    return OnDisk(data, mode=info.st_mode)


def compare(path: str, expected: Output, fingerprint: str, actual: OnDisk) -> FileCheck:
    """One output compared with the file found at `path` (pure)."""
    if actual.data is None:
        return FileCheck(path, actual.problem or Problem.MISSING, found=actual.reason)
    if actual.data != expected.text.encode("utf-8"):
        text = actual.data.decode("utf-8", errors="replace")
        found_fingerprint = _FINGERPRINT.search(text)
        if found_fingerprint is None:
            return FileCheck(path, Problem.FOREIGN)
        if found_fingerprint.group(1) != fingerprint:
            return FileCheck(path, Problem.OTHER_FINGERPRINT, found_fingerprint.group(1), fingerprint)
        found_version = _VERSION.search(text)
        if found_version is not None and found_version.group(1) != __version__:
            return FileCheck(path, Problem.OTHER_VERSION, found_version.group(1), __version__)
        return FileCheck(path, Problem.EDITED)
    if expected.executable and not actual.mode & stat.S_IXUSR:
        return FileCheck(path, Problem.NOT_EXECUTABLE, found=f"{stat.S_IMODE(actual.mode):04o}")
    return FileCheck(path)


def check_outputs(plan: Plan, definition: str, directory: str) -> CheckResult:
    """Compare every output `runbook build definition -o directory` would write with the disk."""
    files = []
    for output in render_outputs(plan):
        path = os.path.join(directory, output.name)
        files.append(compare(path, output, plan.fingerprint, read_output(path)))
    return CheckResult(definition, directory, tuple(files))


def message(check: FileCheck) -> str:
    """What is wrong with one output, in words (empty when it is up to date)."""
    problem = check.problem
    if problem is None:
        return ""
    if problem is Problem.MISSING:
        return "missing"
    if problem is Problem.NOT_A_FILE:
        return "is not a regular file (a directory?); remove it so that the build can write the file"
    if problem is Problem.UNREADABLE:
        return f"cannot be read: {check.found}"
    if problem is Problem.OTHER_FINGERPRINT:
        return (
            f"out of date: built from another version of the definition (fingerprint "
            f"{check.found[:12]}, the definition's is now {check.expected[:12]})"
        )
    if problem is Problem.OTHER_VERSION:
        return f"out of date: built by runbook-compiler {check.found}, this is runbook-compiler {check.expected}"
    if problem is Problem.EDITED:
        return (
            "differs from what runbook build writes now although the fingerprint matches: "
            "edited by hand, or built before a change of prose (a title, a description)"
        )
    if problem is Problem.FOREIGN:
        return "differs from what runbook build writes now and carries no fingerprint: not built by runbook build"
    return f"not executable (mode {check.found}); runbook build writes it executable"


def diagnostics(result: CheckResult) -> list[Diagnostic]:
    """One error per stale or missing output, then a note with the command that fixes them."""
    errors = [Diagnostic(Location(f.path), message(f)) for f in result.files if f.problem is not None]
    if not errors:
        return []
    fix = Diagnostic(Location(result.definition), f"to update the outputs, run: {result.command}", severity="note")
    return [*errors, fix]


def summary(result: CheckResult) -> str:
    """The one line printed for a definition whose outputs are up to date."""
    paths = ", ".join(_printable(f.path) for f in result.files)
    return f"{_printable(result.definition)}: up to date: {paths}"


def _printable(text: str) -> str:
    return str(Location(text))


def _argument(path: str) -> str:
    """A path as one shell word that no command line takes for an option."""
    if path.startswith("-"):
        path = os.path.join(".", path)
    return shlex.quote(_printable(path))
