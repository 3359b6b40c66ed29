"""Errors as values: every problem a user can fix carries the place it comes from."""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.suggest import printable


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a definition file; line and column count from 1."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        # A file name may hold any character; a newline in it must not split the line.
        name = printable(self.file)
        if self.line <= 0:
            return name
        return f"{name}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem (or a note attached to one), in `FILE:LINE:COL: error: MESSAGE` form."""

    location: Location
    message: str
    severity: str = "error"
    notes: tuple[Diagnostic, ...] = field(default=(), compare=False)

    def render(self) -> str:
        """The text printed for this problem, its notes on the following lines."""
        lines = [f"{self.location}: {self.severity}: {self.message}"]
        lines.extend(f"{note.location}: note: {note.message}" for note in self.notes)
        return "\n".join(lines)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.file, self.location.line, self.location.column, self.message)


class UserError(Exception):
    """A problem the user can fix (bad input, bad options); never a bug of ours."""

    exit_code = 1

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(Location("runbook"), diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(diagnostics, key=Diagnostic.sort_key)
        )
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class DefinitionError(UserError):
    """The definition file is unreadable or invalid; carries every problem found."""


class OutputError(UserError):
    """An output file or directory cannot be written."""
