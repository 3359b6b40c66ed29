"""The printable Markdown runbook (`<name>.md`): a view of the plan, presented by a template.

All decisions are made here, in Python: what each section says, which step waits for
which, whether the critical path fits the RTO, how a host is reached. The view holds
the definition's text unescaped; `templates/runbook.md.j2` only lays it out and passes
every value through the Markdown filter for the place it lands (compiler/markdown.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from compiler.durations import format_duration
from compiler.model import Contact, Host
from compiler.plan import Plan, Step
from compiler.templating import render, render_pieces

TEMPLATE = "runbook.md.j2"

_ROLES = {"primary": "primary", "dr": "DR (takes over)", "other": "other"}


@dataclass(frozen=True, slots=True)
class StepLink:
    """A reference to a step's section: its number, title and anchor."""

    number: int
    title: str
    anchor: str


@dataclass(frozen=True, slots=True)
class StepView:
    """One step as the runbook shows it."""

    number: int
    anchor: str
    id: str
    title: str
    manual: bool
    site: str
    site_title: str | None
    host: str | None
    #: user@address (or the address alone) for ssh; None when the step runs locally.
    target: str | None
    port: int | None
    run: str | None
    verify: str | None
    instructions: str | None
    description: str | None
    rollback: str | None
    owner: str | None
    estimate: str | None
    timeout: str | None
    verify_timeout: str | None
    requires: tuple[StepLink, ...]
    after: tuple[StepLink, ...]
    critical: bool
    line: int


@dataclass(frozen=True, slots=True)
class HostRow:
    """A row of the sites-and-hosts table (a site without hosts has one row, host None)."""

    site: str
    site_title: str | None
    role: str
    host: str | None
    target: str | None
    port: int | None


@dataclass(frozen=True, slots=True)
class DiagramNode:
    """A step in the dependency diagram."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class DiagramSite:
    """A site's box in the dependency diagram, with the steps that belong to it."""

    id: str
    label: str
    nodes: tuple[DiagramNode, ...]


@dataclass(frozen=True, slots=True)
class DiagramEdge:
    """An arrow in the dependency diagram: `requires` is solid, `after` is dotted."""

    source: str
    target: str
    hard: bool


@dataclass(frozen=True, slots=True)
class Timing:
    """The estimated duration of the plan set against the RTO."""

    #: Longest chain of estimates along dependencies (None when no step has an estimate).
    critical_path: str | None
    critical_steps: tuple[StepLink, ...]
    #: Every estimate added up: the script runs steps one after another.
    sequential: str | None
    rto: str | None
    #: How far the critical path exceeds the RTO (None when it fits or either is unknown).
    critical_over_rto: str | None
    sequential_over_rto: str | None
    unestimated: int


@dataclass(frozen=True, slots=True)
class RunbookView:
    """Everything the runbook template shows, in presentation-ready values."""

    name: str
    title: str
    description: str | None
    owner: str | None
    fingerprint: str
    source: str
    compiler_version: str
    rpo: str | None
    timing: Timing
    prerequisites: tuple[str, ...]
    abort: str | None
    contacts: tuple[Contact, ...]
    hosts: tuple[HostRow, ...]
    script: str
    run_command: str
    dry_run_command: str
    journal: str
    log: str
    steps: tuple[StepView, ...]
    manual_steps: int
    diagram_sites: tuple[DiagramSite, ...]
    diagram_edges: tuple[DiagramEdge, ...]


def render_markdown(plan: Plan) -> str:
    """The runbook of `plan` as Markdown (pure: no I/O, same plan, same bytes)."""
    return render(TEMPLATE, view=runbook_view(plan))


def markdown_pieces(plan: Plan) -> Iterator[str]:
    """`render_markdown(plan)` in consecutive pieces, rendered as they are read."""
    return render_pieces(TEMPLATE, view=runbook_view(plan))


def runbook_view(plan: Plan) -> RunbookView:
    """The presentation-ready view of `plan` that the template lays out."""
    info = plan.info
    links = {s.number: _link(s) for s in plan.steps}
    critical = set(plan.critical_path)
    steps = tuple(_step_view(s, links, s.number in critical) for s in plan.steps)
    node_ids = _node_ids(plan)
    return RunbookView(
        name=info.name,
        title=info.title,
        description=info.description,
        owner=info.owner,
        fingerprint=plan.fingerprint,
        source=plan.source,
        compiler_version=plan.compiler_version,
        rpo=_duration(info.rpo),
        timing=_timing(plan, links),
        prerequisites=info.prerequisites,
        abort=info.abort,
        contacts=info.contacts,
        hosts=_host_rows(plan),
        script=f"{info.name}.sh",
        run_command=f"./{info.name}.sh",
        dry_run_command=f"./{info.name}.sh --dry-run",
        journal=f"{info.name}.journal",
        log=f"{info.name}.log",
        steps=steps,
        manual_steps=sum(1 for s in steps if s.manual),
        diagram_sites=_diagram_sites(plan, node_ids),
        diagram_edges=_diagram_edges(plan, node_ids),
    )


def anchor(number: int) -> str:
    """The anchor of step `number`'s section: numbered like the script's "Step N/M"."""
    return f"step-{number}"


def ssh_target(host: Host) -> str:
    """user@address as ssh takes it; an IPv6 address is bracketed so a port can follow."""
    address = host.address
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"{host.user}@{address}" if host.user else address


def _link(step: Step) -> StepLink:
    return StepLink(number=step.number, title=step.resource.title, anchor=anchor(step.number))


def _step_view(step: Step, links: dict[int, StepLink], critical: bool) -> StepView:
    r = step.resource
    return StepView(
        number=step.number,
        anchor=links[step.number].anchor,
        id=step.id,
        title=r.title,
        manual=r.manual,
        site=step.site.name,
        site_title=step.site.title,
        host=step.host.name if step.host else None,
        target=ssh_target(step.host) if step.host else None,
        port=step.host.port if step.host else None,
        run=r.run,
        verify=r.verify,
        instructions=r.instructions,
        description=r.description,
        rollback=r.rollback,
        owner=r.owner,
        estimate=_duration(r.estimate),
        timeout=_duration(r.timeout),
        verify_timeout=_duration(r.verify_timeout),
        requires=tuple([links[n] for n in step.requires]),
        # A step named in both lists is a hard dependency; list it once, as such.
        after=tuple([links[n] for n in step.after if n not in step.requires]),
        critical=critical,
        line=r.line,
    )


def _timing(plan: Plan, links: dict[int, StepLink]) -> Timing:
    estimates = [s.resource.estimate for s in plan.steps if s.resource.estimate is not None]
    rto = plan.info.rto
    critical = plan.critical_path_seconds if estimates else None
    sequential = sum(estimates) if estimates else None
    return Timing(
        critical_path=_duration(critical),
        critical_steps=tuple(links[n] for n in plan.critical_path) if estimates else (),
        sequential=_duration(sequential),
        rto=_duration(rto),
        critical_over_rto=_overrun(critical, rto),
        sequential_over_rto=_overrun(sequential, rto),
        unestimated=len(plan.steps) - len(estimates),
    )


def _overrun(seconds: int | None, rto: int | None) -> str | None:
    if seconds is None or rto is None or seconds <= rto:
        return None
    return format_duration(seconds - rto)


def _host_rows(plan: Plan) -> tuple[HostRow, ...]:
    rows: list[HostRow] = []
    for site in plan.sites:
        role = _ROLES.get(site.role, site.role)
        if not site.hosts:
            rows.append(HostRow(site.name, site.title, role, None, None, None))
        for host in site.hosts:
            rows.append(HostRow(site.name, site.title, role, host.name, ssh_target(host), host.port))
    return tuple(rows)


def _diagram_sites(plan: Plan, node_ids: list[str]) -> tuple[DiagramSite, ...]:
    by_site: dict[str, list[DiagramNode]] = {site.name: [] for site in plan.sites}
    for s in plan.steps:
        by_site[s.site.name].append(DiagramNode(id=node_ids[s.number], label=f"{s.number}. {s.resource.title}"))
    boxes = []
    for index, site in enumerate(plan.sites, start=1):
        nodes = tuple(by_site[site.name])
        if nodes:
            label = f"{site.name}: {site.title}" if site.title else site.name
            boxes.append(DiagramSite(id=f"site{index}", label=label, nodes=nodes))
    return tuple(boxes)


def _diagram_edges(plan: Plan, node_ids: list[str]) -> tuple[DiagramEdge, ...]:
    edges = []
    for step in plan.steps:
        for number in step.waits_for:
            edges.append(DiagramEdge(
                source=node_ids[number],
                target=node_ids[step.number],
                hard=number in step.requires,
            ))
    return tuple(edges)


def _node_ids(plan: Plan) -> list[str]:
    """The diagram id of every step, by number (one string each, shared by all its edges)."""
    return ["", *(_node_id(s.number) for s in plan.steps)]


def _node_id(number: int) -> str:
    return f"s{number}"


def _duration(seconds: int | None) -> str | None:
    return format_duration(seconds) if seconds is not None else None
