"""The whole compiler, top to bottom: load, validate, model, plan, render."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from compiler.errors import DefinitionError
from compiler.load import Document, load_file
from compiler.model import build_definition
from compiler.plan import Plan, make_plan
from compiler.schema import check_schema
from compiler.validate import check_semantics


@dataclass(frozen=True, slots=True)
class Output:
    """One file `runbook build` writes: its name, its text and whether it is executable.

    The content is the text itself, or a function that renders it in pieces: a build
    writes the pieces as they come, so the runbook of 100,000 steps (140 MB) is never in
    memory whole.
    """

    name: str
    content: str | Callable[[], Iterable[str]]
    executable: bool = False

    @property
    def text(self) -> str:
        """The whole text."""
        return self.content if isinstance(self.content, str) else "".join(self.content())

    def pieces(self) -> Iterable[str]:
        """The text in consecutive pieces (rendered as they are read)."""
        return (self.content,) if isinstance(self.content, str) else self.content()


def compile_file(path: str) -> Plan:
    """The plan of the definition at `path`; raises DefinitionError with every problem found."""
    return compile_document(load_file(path))


def compile_document(doc: Document) -> Plan:
    """The plan of a loaded document (a file, or a revision read from git)."""
    problems = check_schema(doc) + check_semantics(doc)
    if problems:
        raise DefinitionError(problems)
    definition = build_definition(doc)
    del doc  # its text and values: a third of the memory of a big build, needed no more
    return make_plan(definition)


def render_outputs(plan: Plan) -> tuple[Output, ...]:
    """Every file of a build, rendered from the one plan (no I/O)."""
    from compiler.render_markdown import markdown_pieces
    from compiler.render_script import script_pieces

    return (
        Output(f"{plan.info.name}.md", lambda: markdown_pieces(plan)),
        Output(f"{plan.info.name}.sh", lambda: script_pieces(plan), executable=True),
    )
