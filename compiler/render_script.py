"""The guarded bash script: the plan as data, followed by a fixed runtime that executes it.

The runtime (`templates/runtime.bash`) is plain bash, the same for every plan: prompting,
journal, log, lock, ssh, timeouts. The plan enters the script only as quoted data in
arrays indexed by step number. Only `run` and `verify` are ever executed; every other
value is quoted with `shell_quote` and shown through terminal-safe copies, so that a title
such as `$(rm -rf /)` or an ANSI escape sequence is printed, never run or interpreted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from compiler.durations import format_duration
from compiler.escape import terminal_safe
from compiler.plan import Plan, Step
from compiler.resources import package_dir
from compiler.templating import render, render_pieces

TEMPLATE = "script.sh.j2"
RUNTIME_FILE = "runtime.bash"
#: The per-try limit of a `verify` command that has no `verify_timeout`.
DEFAULT_VERIFY_TRY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One step as the script's data block holds it (raw values; the template quotes them)."""

    number: int
    id: str
    line: int
    title: str
    site: str
    host: str
    target: str
    port: str
    run: str
    run_b64: str
    run_shown: str
    verify: str
    verify_b64: str
    verify_shown: str
    timeout: int
    verify_timeout: int
    estimate: int
    requires: str
    after: str
    instructions: str
    rollback: str
    owner: str


def render_script(plan: Plan) -> str:
    """The complete bash script for `plan` (pure: no I/O besides reading the runtime)."""
    return render(TEMPLATE, **_context(plan))


def script_pieces(plan: Plan) -> Iterator[str]:
    """`render_script(plan)` in consecutive pieces, rendered as they are read."""
    return render_pieces(TEMPLATE, **_context(plan))


def _context(plan: Plan) -> dict[str, Any]:
    runtime = (package_dir("templates") / RUNTIME_FILE).read_text("utf-8")
    site_labels = {
        site.name: terminal_safe(f"{site.name} ({site.title})" if site.title else site.name) for site in plan.sites
    }
    return {
        "plan": plan,
        "title": terminal_safe(plan.info.title),
        "steps": [_script_step(step, site_labels) for step in plan.steps],
        "critical_path": format_duration(plan.critical_path_seconds) if plan.critical_path_seconds else "",
        "default_verify_try": DEFAULT_VERIFY_TRY_SECONDS,
        "runtime": runtime,
    }


def _script_step(step: Step, site_labels: dict[str, str]) -> ScriptStep:
    r = step.resource
    host = step.host
    return ScriptStep(
        number=step.number,
        id=step.id,
        line=r.line,
        title=terminal_safe(r.title),
        site=site_labels[step.site.name],
        host=host.name if host else "",
        target=host.target if host else "",
        port=str(host.port) if host and host.port else "",
        run=r.run or "",
        run_b64=_b64(r.run),
        run_shown=_shown(r.run),
        verify=r.verify or "",
        verify_b64=_b64(r.verify),
        verify_shown=_shown(r.verify),
        timeout=r.timeout or 0,
        verify_timeout=r.verify_timeout or 0,
        estimate=r.estimate or 0,
        requires=" ".join(map(str, step.requires)),
        after=" ".join(map(str, step.after)),
        instructions=terminal_safe(r.instructions or "").rstrip("\n"),
        rollback=terminal_safe(r.rollback or "").rstrip("\n"),
        owner=terminal_safe(r.owner or ""),
    )


def _b64(command: str | None) -> str:
    """The command for ssh transport: only [A-Za-z0-9+/=] crosses the remote login shell."""
    return base64.b64encode(command.encode("utf-8")).decode("ascii") if command else ""


def _shown(command: str | None) -> str:
    """The command as the operator sees it: exact, unless it holds control characters."""
    return terminal_safe(command or "").rstrip("\n")
