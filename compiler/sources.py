"""Where `runbook diff` reads a definition: a file, or `REV:PATH` from git.

A version named `REV:PATH` is read with git in the repository of the current directory,
as `git show REV:PATH` would show it (PATH from the top of the repository, `./PATH` from
the current directory; an empty REV reads the staged version). Messages about it, and the
locations of errors inside it, name it `REV:PATH` as the user wrote it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from compiler.errors import DefinitionError, Diagnostic, Location
from compiler.load import MAX_FILE_BYTES, Document, load_bytes, load_file
from compiler.pipeline import compile_document
from compiler.plan import Plan
from compiler.suggest import closest, shown

#: git answers in milliseconds; this only guards against a hung credential helper or lock.
GIT_TIMEOUT_SECONDS = 60


def is_revision(spec: str) -> bool:
    """True when `spec` names a version in git (REV:PATH) rather than a file that exists."""
    return ":" in spec and not os.path.exists(spec)


def read_plan(spec: str) -> Plan:
    """The plan of a file, or of `REV:PATH` read from git; raises DefinitionError when invalid."""
    doc = read_git(spec) if is_revision(spec) else load_file(spec)
    return compile_document(doc)


def read_git(spec: str) -> Document:
    """Load `REV:PATH` from the git repository of the current directory."""
    rev, _, path = spec.partition(":")
    where = Location(spec)

    def fail(message: str) -> DefinitionError:
        return DefinitionError(Diagnostic(where, message))

    try:
        return _read_git(spec, rev, path, fail)
    except _GitUnavailable as exc:
        raise fail(f"cannot read it from git: {exc}") from None


def _read_git(spec: str, rev: str, path: str, fail: Callable[[str], DefinitionError]) -> Document:
    """The checks and reads of `read_git`, each failure a message naming what to do."""
    if not path:
        raise fail("names no file after the colon; write REV:PATH, e.g. HEAD~1:runbooks/plan.yaml")
    if rev.startswith("-"):
        raise fail(f"{shown(rev)} is not a git revision (it starts with '-')")
    if _git("rev-parse", "--git-dir")[0] != 0:
        raise fail(
            "cannot read it from git: the current directory is not in a git repository; "
            "run runbook diff inside the repository, or pass the path of a file"
        )
    if rev and _git("rev-parse", "--verify", "--quiet", f"{rev}^{{tree}}")[0] != 0:
        raise fail(f"unknown revision {shown(rev)} in this repository")
    status, kind, _ = _git("cat-file", "-t", spec)
    where_in = f"revision {shown(rev)}" if rev else "the index (the staged files)"
    if status != 0:
        raise fail(f"{shown(path)} is not in {where_in}{_suggestion(rev, path)}")
    if kind.strip() != b"blob":
        raise fail(f"{shown(path)} is a directory in {where_in}, not a definition file")
    status, size, _ = _git("cat-file", "-s", spec)
    if status == 0 and size.strip().isdigit() and int(size) > MAX_FILE_BYTES:
        raise fail(
            f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, the most a "
            "definition may be: is this the right file?"
        )
    status, raw, err = _git("cat-file", "blob", spec)
    if status != 0:
        message = err.decode("utf-8", errors="replace").strip() or f"git exited with status {status}"
        raise fail(f"cannot read it from git: {message}")
    return load_bytes(raw, spec)


def _suggestion(rev: str, path: str) -> str:
    """"; did you mean 'x'?" for the closest file name in that revision (or the index)."""
    listing = ("ls-tree", "-r", "-z", "--name-only", "--full-tree", rev) if rev else ("ls-files", "-z", "--full-name", "--", ":/")
    status, out, _ = _git(*listing)
    if status != 0:
        return ""
    # Only definition-like names: a large repository lists many thousands of files.
    names = [n for n in out.decode("utf-8", errors="replace").split("\0") if n.endswith((".yaml", ".yml"))]
    match = closest(path.removeprefix("./"), names[:10_000])
    return f"; did you mean {shown(f'{rev}:{match}')}?" if match is not None else ""


class _GitUnavailable(Exception):
    """git could not be run at all, or did not answer in time."""


def _git(*args: str) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of a git command."""
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError:
        raise _GitUnavailable("the git program is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise _GitUnavailable(f"git did not answer within {GIT_TIMEOUT_SECONDS} seconds") from None
    except OSError as exc:
        raise _GitUnavailable(f"git cannot be run: {exc.strerror or exc}") from None
    return done.returncode, done.stdout, done.stderr
