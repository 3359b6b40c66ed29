"""Writing outputs: all files or none, each replaced atomically (temp file, then rename)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from compiler.errors import Diagnostic, Location, OutputError
from compiler.pipeline import Output


def write_outputs(directory: str, outputs: Sequence[Output], keep: Sequence[str] = ()) -> list[str]:
    """Write every output into `directory`; on error remove what was staged and raise.

    `keep` names files that must never be replaced (the definition itself, which a user
    may have saved under the name of an output).
    """
    where = Location(directory)
    for output in outputs:
        final = os.path.join(directory, output.name)
        for path in keep:
            if os.path.exists(final) and os.path.exists(path) and os.path.samefile(final, path):
                raise OutputError(Diagnostic(
                    Location(path),
                    f"the output {final} would replace this definition itself; "
                    "choose another -o DIR, or rename the definition (for example to .yaml)",
                ))
    created = _missing_directories(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        _remove_empty(created)
        raise OutputError(Diagnostic(where, "exists and is not a directory; choose another -o DIR")) from None
    except OSError as exc:
        _remove_empty(created)
        raise OutputError(Diagnostic(where, f"cannot create the output directory: {exc.strerror or exc}")) from None

    staged: list[tuple[str, str]] = []
    try:
        for output in outputs:
            final = os.path.join(directory, output.name)
            if os.path.isdir(final):
                raise OutputError(Diagnostic(Location(final), "is a directory; remove it or choose another -o DIR"))
            fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
            staged.append((temp, final))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                for piece in output.pieces():
                    handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o755 if output.executable else 0o644)
        for temp, final in staged:
            os.replace(temp, final)
    except OSError as exc:
        _discard(staged)
        _remove_empty(created)
        target = exc.filename if isinstance(exc.filename, str) else directory
        raise OutputError(Diagnostic(
            Location(target if target and not os.path.basename(target).startswith(".") else directory),
            f"cannot write the output: {exc.strerror or exc}",
        )) from None
    except BaseException:
        _discard(staged)
        _remove_empty(created)
        raise
    return [final for _, final in staged]


def _missing_directories(directory: str) -> list[str]:
    """The directories `makedirs(directory)` would create, deepest first."""
    missing = []
    path = os.path.abspath(directory)
    while not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _remove_empty(created: list[str]) -> None:
    """Undo the directories a failed build created, so that it leaves nothing behind."""
    for path in created:
        try:
            os.rmdir(path)
        except OSError:
            return


def _discard(staged: list[tuple[str, str]]) -> None:
    for temp, _ in staged:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
