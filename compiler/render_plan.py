"""`runbook plan`: the ordered steps as text for a person to approve, or as JSON."""

from __future__ import annotations

import json
from typing import Any

from compiler.durations import format_duration
from compiler.escape import terminal_safe
from compiler.plan import Plan, Step
from compiler.suggest import printable


def plan_as_json(plan: Plan) -> str:
    """The plan as JSON, stable keys, one trailing newline."""
    return json.dumps(plan_as_dict(plan), indent=2, ensure_ascii=False) + "\n"


def plan_as_dict(plan: Plan) -> dict[str, Any]:
    """The JSON-ready form of the plan."""
    return {
        "name": plan.info.name,
        "title": plan.info.title,
        "source": plan.source,
        "fingerprint": plan.fingerprint,
        "compiler_version": plan.compiler_version,
        "critical_path": {
            "steps": list(plan.critical_path),
            "seconds": plan.critical_path_seconds,
        },
        "waves": [[s.number for s in wave] for wave in plan.waves],
        "steps": [_step_dict(plan, s) for s in plan.steps],
    }


def _step_dict(plan: Plan, step: Step) -> dict[str, Any]:
    r = step.resource
    return {
        "number": step.number,
        "id": step.id,
        "title": r.title,
        "wave": step.wave,
        "site": step.site.name,
        "host": step.host.name if step.host else None,
        "target": _target(step),
        "manual": r.manual,
        "requires": [plan.steps[n - 1].id for n in step.requires],
        "after": [plan.steps[n - 1].id for n in step.after],
        "waits_for": list(step.waits_for),
        "timeout": r.timeout,
        "verify_timeout": r.verify_timeout,
        "estimate": r.estimate,
        "line": r.line,
    }


def _target(step: Step) -> str | None:
    if step.host is None:
        return None
    port = f":{step.host.port}" if step.host.port else ""
    return f"{step.host.target}{port}"


def plan_as_text(plan: Plan) -> str:
    """The plan as an administrator reads it to approve the order."""
    info = plan.info
    steps = plan.steps
    width = len(str(len(steps)))
    id_width = min(max(len(s.id) for s in steps), 32)
    out = [
        f"Plan {info.name}: {terminal_safe(info.title)}",
        f"Source: {plan.source}",
        f"Fingerprint: {plan.fingerprint}",
        _summary(plan),
    ]
    for number, wave in enumerate(plan.waves, start=1):
        out.append("")
        size = f"{len(wave)} steps, could run in parallel" if len(wave) > 1 else "1 step"
        out.append(f"Wave {number} ({size})")
        for step in wave:
            kind = "manual" if step.resource.manual else "run"
            where = f"{step.site.name}/{step.host.name} ({_target(step)})" if step.host else f"{step.site.name}/local"
            out.append(f"  {step.number:>{width}}. {step.id:<{id_width}}  {kind:<6}  {where}")
            out.append(f"  {'':>{width}}  {terminal_safe(step.resource.title)}")
            for label_, numbers in (("requires", step.requires), ("after", step.after)):
                if numbers:
                    names = ", ".join(f"{n} {steps[n - 1].id}" for n in numbers)
                    out.append(f"  {'':>{width}}  {label_}: {names}")
    return "\n".join(out) + "\n"


def _summary(plan: Plan) -> str:
    steps = len(plan.steps)
    manual = sum(1 for s in plan.steps if s.resource.manual)
    text = (
        f"{steps} step{'s' if steps != 1 else ''} ({manual} manual) in {len(plan.waves)} "
        f"wave{'s' if len(plan.waves) != 1 else ''}"
    )
    if plan.critical_path_seconds:
        text += f"; estimated critical path {format_duration(plan.critical_path_seconds)}"
        if plan.info.rto is not None:
            text += f" (RTO {format_duration(plan.info.rto)})"
    return text


def summary_line(plan: Plan, path: str) -> str:
    """The one-line result of `runbook validate` for the file at `path`."""
    hosts = sum(len(s.hosts) for s in plan.sites)
    return (
        f"{printable(path)}: valid: plan '{plan.info.name}', {_summary(plan)}, "
        f"{len(plan.sites)} site{'s' if len(plan.sites) != 1 else ''}, "
        f"{hosts} host{'s' if hosts != 1 else ''}; fingerprint {plan.fingerprint[:12]}"
    )
