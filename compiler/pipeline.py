"""The whole compiler, top to bottom: load, validate, model, plan, render."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import DefinitionError
from compiler.load import Document, load_file
from compiler.model import build_definition
from compiler.plan import Plan, make_plan
from compiler.schema import check_schema
from compiler.validate import check_semantics


@dataclass(frozen=True, slots=True)
class Output:
    """One file `runbook build` writes: its name, its text and whether it is executable."""

    name: str
    text: str
    executable: bool = False


def compile_file(path: str) -> Plan:
    """The plan of the definition at `path`; raises DefinitionError with every problem found."""
    return compile_document(load_file(path))


def compile_document(doc: Document) -> Plan:
    """The plan of a loaded document (a file, or a revision read from git)."""
    problems = check_schema(doc) + check_semantics(doc)
    if problems:
        raise DefinitionError(problems)
    return make_plan(build_definition(doc))


def render_outputs(plan: Plan) -> tuple[Output, ...]:
    """Every file of a build, rendered from the one plan (no I/O)."""
    from compiler.render_markdown import render_markdown
    from compiler.render_script import render_script

    return (
        Output(f"{plan.info.name}.md", render_markdown(plan)),
        Output(f"{plan.info.name}.sh", render_script(plan), executable=True),
    )
