"""The printable Markdown runbook (`<name>.md`): a view of the plan, presented by a template.

All decisions are made here, in Python: what each section says, which step waits for
which, whether the critical path fits the RTO, how a host is reached. The view holds
one-line values escaped for the place they land, once each, with the functions of
compiler/markdown.py (typed `Markdown`, or `Mermaid` in the diagram): a step's title is
shown in the table, its heading, the diagram and every link to it, and a 10,000-step
runbook would otherwise escape it five times over. Prose and commands stay raw here;
`templates/runbook.md.j2` lays everything out and passes those through their filter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from compiler.durations import format_duration
from compiler.markdown import (
    Markdown,
    Mermaid,
    md_anchor,
    md_cell,
    md_code_span,
    md_href,
    md_inline,
    mermaid_id,
    mermaid_label,
)
from compiler.model import Contact, Host
from compiler.plan import Plan, Step
from compiler.templating import render, render_pieces

TEMPLATE = "runbook.md.j2"

_ROLES = {"primary": "primary", "dr": "DR (takes over)", "other": "other"}


# StepLink and StepView are NamedTuples, not frozen dataclasses like the rest: one of each
# is built per step, and a NamedTuple of 31 fields costs a third of the time to build.


class StepLink(NamedTuple):
    """A reference to a step: its section (number, title, link target) and its diagram node."""

    number: Markdown
    title: Markdown
    href: Markdown
    node: Mermaid


#: Links to steps in the order shown, each with whether it is the first (the template
#: writes the separators between links).
Links = tuple[tuple[bool, StepLink], ...]


class StepView(NamedTuple):
    """One step as the runbook shows it."""

    number: Markdown
    href: Markdown
    anchor: Markdown
    id: Markdown
    title: Markdown
    title_cell: Markdown
    manual: bool
    site: Markdown
    site_cell: Markdown
    site_title: Markdown | None
    host: Markdown | None
    host_cell: Markdown | None
    #: user@address (or the address alone) for ssh; None when the step runs locally.
    target: Markdown | None
    port: Markdown | None
    run: str | None
    verify: str | None
    instructions: str | None
    description: str | None
    rollback: str | None
    owner: Markdown | None
    estimate: Markdown | None
    estimate_cell: Markdown
    timeout: Markdown | None
    verify_timeout: Markdown | None
    requires: Links
    after: Links
    #: The diagram's arrows into this step: where each comes from and whether it is `requires`.
    waits: tuple[tuple[StepLink, bool], ...]
    critical: bool
    line: Markdown
    node: Mermaid
    label: Mermaid


@dataclass(frozen=True, slots=True)
class HostRow:
    """A row of the sites-and-hosts table (a site without hosts has one row, host None)."""

    site: Markdown
    site_title: Markdown | None
    role: Markdown
    host: Markdown | None
    target: Markdown
    port: Markdown | None


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A row of the contacts table."""

    role: Markdown
    name: Markdown
    phone: Markdown
    email: Markdown


@dataclass(frozen=True, slots=True)
class DiagramSite:
    """A site's box in the dependency diagram, with the steps that belong to it."""

    node: Mermaid
    label: Mermaid
    nodes: tuple[StepView, ...]


@dataclass(frozen=True, slots=True)
class Timing:
    """The estimated duration of the plan set against the RTO."""

    #: Longest chain of estimates along dependencies (None when no step has an estimate).
    critical_path: Markdown | None
    critical_steps: Links
    #: Every estimate added up: the script runs steps one after another.
    sequential: Markdown | None
    rto: Markdown | None
    #: How far the critical path exceeds the RTO (None when it fits or either is unknown).
    critical_over_rto: Markdown | None
    sequential_over_rto: Markdown | None
    #: How many steps have no estimate (None for none).
    unestimated: Markdown | None


@dataclass(frozen=True, slots=True)
class RunbookView:
    """Everything the runbook template shows, in presentation-ready values."""

    name: Markdown
    title: Markdown
    description: str | None
    owner: Markdown | None
    fingerprint: Markdown
    source: Markdown
    compiler_version: Markdown
    rpo: Markdown | None
    timing: Timing
    prerequisites: tuple[str, ...]
    abort: str | None
    contacts: tuple[ContactRow, ...]
    hosts: tuple[HostRow, ...]
    script: Markdown
    run_command: Markdown
    dry_run_command: Markdown
    journal: Markdown
    log: Markdown
    steps: tuple[StepView, ...]
    step_count: Markdown
    manual_steps: Markdown
    diagram_sites: tuple[DiagramSite, ...]


def render_markdown(plan: Plan) -> str:
    """The runbook of `plan` as Markdown (pure: no I/O, same plan, same bytes)."""
    return render(TEMPLATE, view=runbook_view(plan))


def markdown_pieces(plan: Plan) -> Iterator[str]:
    """`render_markdown(plan)` in consecutive pieces, rendered as they are read."""
    return render_pieces(TEMPLATE, view=runbook_view(plan))


def runbook_view(plan: Plan) -> RunbookView:
    """The presentation-ready view of `plan` that the template lays out."""
    info = plan.info
    name = info.name
    links = _LinkTable.of(plan)
    critical = set(plan.critical_path)
    places = _places(plan)
    durations = _durations(plan)
    steps = tuple([_step_view(s, links, places, durations, s.number in critical) for s in plan.steps])
    source = md_inline(plan.source)
    return RunbookView(
        name=md_code_span(name),
        title=md_inline(info.title),
        description=info.description,
        owner=_inline(info.owner),
        fingerprint=md_code_span(plan.fingerprint),
        source=source,
        compiler_version=md_inline(plan.compiler_version),
        rpo=_duration(info.rpo),
        timing=_timing(plan, links),
        prerequisites=info.prerequisites,
        abort=info.abort,
        contacts=tuple(_contact_row(c) for c in info.contacts),
        hosts=_host_rows(plan),
        script=md_code_span(f"{name}.sh"),
        run_command=md_code_span(f"./{name}.sh"),
        dry_run_command=md_code_span(f"./{name}.sh --dry-run"),
        journal=md_code_span(f"{name}.journal"),
        log=md_code_span(f"{name}.log"),
        steps=steps,
        step_count=md_inline(len(steps)),
        manual_steps=md_inline(sum(1 for s in plan.steps if s.resource.manual)),
        diagram_sites=_diagram_sites(plan, steps),
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


@dataclass(frozen=True, slots=True)
class _LinkTable:
    """Every step's link, by step number, with the pairs the view's lists are made of.

    Each pair is built once per step and shared by every list naming that step: a new
    pair per reference held about 25 MB more at the peak of a 100,000-step build.
    """

    # Index n - 1 for step n: steps are numbered 1..N in plan order (compiler/plan.py).
    link: list[StepLink]
    first: list[tuple[bool, StepLink]]  # (True, link): the first of a list
    rest: list[tuple[bool, StepLink]]  # (False, link): any later one
    hard: list[tuple[StepLink, bool]]  # (link, True): a `requires` arrow in the diagram
    soft: list[tuple[StepLink, bool]]  # (link, False): an `after` arrow

    @classmethod
    def of(cls, plan: Plan) -> _LinkTable:
        link = [_link(s) for s in plan.steps]
        return cls(
            link,
            [(True, x) for x in link],
            [(False, x) for x in link],
            [(x, True) for x in link],
            [(x, False) for x in link],
        )

    def links(self, numbers: Sequence[int]) -> Links:
        """The links to `numbers`, in that order, each with whether it is the first."""
        first, rest = self.first, self.rest
        return tuple([first[n - 1] if i == 0 else rest[n - 1] for i, n in enumerate(numbers)])


def _link(step: Step) -> StepLink:
    return StepLink(
        number=md_inline(step.number),
        title=md_inline(step.resource.title),
        href=md_href(anchor(step.number)),
        node=mermaid_id(f"s{step.number}"),
    )


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a step runs (a site, and a host or none), escaped once for all its steps."""

    site: Markdown
    site_cell: Markdown
    site_title: Markdown | None
    host: Markdown | None = None
    host_cell: Markdown | None = None
    target: Markdown | None = None
    port: Markdown | None = None


def _places(plan: Plan) -> dict[tuple[str, str | None], _Place]:
    """Every site (host None) and every host, by (site name, host name)."""
    places: dict[tuple[str, str | None], _Place] = {}
    for site in plan.sites:
        local = _Place(md_inline(site.name), md_cell(site.name), _inline(site.title))
        places[site.name, None] = local
        for host in site.hosts:
            places[site.name, host.name] = _Place(
                local.site, local.site_cell, local.site_title,
                host=md_inline(host.name),
                host_cell=md_cell(host.name),
                target=md_code_span(ssh_target(host)),
                port=md_inline(host.port) if host.port else None,
            )
    return places


def _step_view(
    step: Step,
    links: _LinkTable,
    places: dict[tuple[str, str | None], _Place],
    durations: dict[int | None, Markdown],
    critical: bool,
) -> StepView:
    r = step.resource
    link = links.link[step.number - 1]
    place = places[step.site.name, step.host.name if step.host else None]
    requires = step.requires
    estimate = durations.get(r.estimate)
    # Positional: with 31 keywords, building the NamedTuple cost twice as much (they go
    # through a dict). tests/test_render_markdown.py pins every field by name.
    return StepView(
        link.number,  # number
        link.href,  # href
        md_anchor(anchor(step.number)),  # anchor
        md_code_span(r.id),  # id
        link.title,  # title
        _cell(r.title, link.title),  # title_cell
        r.run is None,  # manual
        place.site,  # site
        place.site_cell,  # site_cell
        place.site_title,  # site_title
        place.host,  # host
        place.host_cell,  # host_cell
        place.target,  # target
        place.port,  # port
        r.run,  # run
        r.verify,  # verify
        r.instructions,  # instructions
        r.description,  # description
        r.rollback,  # rollback
        _inline(r.owner),  # owner
        estimate,  # estimate
        estimate if estimate is not None else md_cell(None),  # estimate_cell
        durations.get(r.timeout),  # timeout
        durations.get(r.verify_timeout),  # verify_timeout
        links.links(requires) if requires else (),  # requires
        # A step named in both lists is a hard dependency; list it once, as such.
        links.links([n for n in step.after if n not in requires]) if step.after else (),  # after
        tuple([links.hard[n - 1] if n in requires else links.soft[n - 1] for n in step.waits_for]),  # waits
        critical,  # critical
        md_inline(r.line),  # line
        link.node,  # node
        mermaid_label(f"{step.number}. {r.title}"),  # label
    )


def _durations(plan: Plan) -> dict[int | None, Markdown]:
    """Every duration of a step, shown (a plan has few distinct ones); `.get(None)` is None."""
    seconds: set[int | None] = set()
    for step in plan.steps:
        r = step.resource
        seconds.update((r.estimate, r.timeout, r.verify_timeout))
    return {s: md_inline(format_duration(s)) for s in seconds if s is not None}


def _timing(plan: Plan, links: _LinkTable) -> Timing:
    estimates = [s.resource.estimate for s in plan.steps if s.resource.estimate is not None]
    rto = plan.info.rto
    critical = plan.critical_path_seconds if estimates else None
    sequential = sum(estimates) if estimates else None
    unestimated = len(plan.steps) - len(estimates)
    return Timing(
        critical_path=_duration(critical),
        critical_steps=links.links(plan.critical_path) if estimates else (),
        sequential=_duration(sequential),
        rto=_duration(rto),
        critical_over_rto=_overrun(critical, rto),
        sequential_over_rto=_overrun(sequential, rto),
        unestimated=md_inline(unestimated) if unestimated else None,
    )


def _overrun(seconds: int | None, rto: int | None) -> Markdown | None:
    if seconds is None or rto is None or seconds <= rto:
        return None
    return md_inline(format_duration(seconds - rto))


def _contact_row(contact: Contact) -> ContactRow:
    return ContactRow(md_cell(contact.role), md_cell(contact.name), md_cell(contact.phone), md_cell(contact.email))


def _host_rows(plan: Plan) -> tuple[HostRow, ...]:
    rows: list[HostRow] = []
    for site in plan.sites:
        name, title, role = md_cell(site.name), _cell_or_none(site.title), md_cell(_ROLES.get(site.role, site.role))
        if not site.hosts:
            rows.append(HostRow(name, title, role, None, md_cell(None), None))
        for host in site.hosts:
            rows.append(HostRow(
                name, title, role, md_cell(host.name), md_cell(ssh_target(host)),
                md_cell(host.port) if host.port else None,
            ))
    return tuple(rows)


def _diagram_sites(plan: Plan, steps: tuple[StepView, ...]) -> tuple[DiagramSite, ...]:
    by_site: dict[str, list[StepView]] = {site.name: [] for site in plan.sites}
    for step, view in zip(plan.steps, steps):
        by_site[step.site.name].append(view)
    boxes = []
    for index, site in enumerate(plan.sites, start=1):
        nodes = tuple(by_site[site.name])
        if nodes:
            label = f"{site.name}: {site.title}" if site.title else site.name
            boxes.append(DiagramSite(node=mermaid_id(f"site{index}"), label=mermaid_label(label), nodes=nodes))
    return tuple(boxes)


def _inline(text: str | None) -> Markdown | None:
    """md_inline of a value the template shows only when it is there (None when empty)."""
    return md_inline(text) if text else None


def _cell_or_none(text: str | None) -> Markdown | None:
    return md_cell(text) if text else None


def _cell(text: str, inline: Markdown) -> Markdown:
    """md_cell(text), given inline = md_inline(text)."""
    return inline if text.strip() else md_cell(text)


def _duration(seconds: int | None) -> Markdown | None:
    return md_inline(format_duration(seconds)) if seconds is not None else None
