"""The one Jinja environment for every output: strict, and with an escaping filter per target."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import islice
from typing import Any

import jinja2

from compiler import markdown
from compiler.escape import shell_comment, shell_quote, terminal_safe
from compiler.resources import package_dir


class _PackageLoader(jinja2.BaseLoader):
    """Loads templates from the shipped `templates` folder (wheel or checkout)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        path = package_dir("templates") / template
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        return path.read_text("utf-8"), None, lambda: True


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Strict: an undefined value is an error, never an empty string.

    Autoescaping is off on purpose: neither Markdown nor bash is HTML. Every value from a
    definition goes through the filter for its target instead (`shquote` in the script,
    the Markdown filters in the runbook), and tests check the templates for bare values.
    """
    env = jinja2.Environment(
        loader=_PackageLoader(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shquote"] = shell_quote
    env.filters["terminal_safe"] = terminal_safe
    env.filters["shell_comment"] = shell_comment
    # Marks the one value inserted as is: the fixed runtime, which is code we wrote.
    env.filters["verbatim"] = str
    env.filters.update(markdown.FILTERS)
    return env


def render(template: str, **context: Any) -> str:
    """Render the named template with `context`."""
    return environment().get_template(template).render(**context)


#: Template output strings joined into one piece (a template yields one per value and per
#: run of text between values: millions for a plan of 100,000 steps).
_PIECE = 8192


def render_pieces(template: str, **context: Any) -> Iterator[str]:
    """The text of `render(template, **context)` in consecutive pieces, produced as they are read.

    A runbook of 100,000 steps is 140 MB of text; written piece by piece it never has to
    be in memory whole (and neither do the millions of strings it is joined from).
    """
    chunks = environment().get_template(template).generate(**context)
    while batch := list(islice(chunks, _PIECE)):
        yield "".join(batch)
