"""The definition as typed, immutable values, built only from validated data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from compiler.durations import parse_duration
from compiler.load import Document


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone to call during the recovery."""

    role: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Host:
    """A host reached over ssh."""

    name: str
    site: str
    address: str
    user: str | None = None
    port: int | None = None

    @property
    def target(self) -> str:
        """user@address (or the address alone), as ssh takes it."""
        return f"{self.user}@{self.address}" if self.user else self.address


@dataclass(frozen=True, slots=True)
class Site:
    """A site and its hosts, in the order they were written."""

    name: str
    role: str
    title: str | None = None
    hosts: tuple[Host, ...] = ()


@dataclass(frozen=True, slots=True)
class Resource:
    """One step as written: what to do, where, and what it waits for."""

    id: str
    title: str
    site: str
    line: int
    host: str | None = None
    description: str | None = None
    run: str | None = None
    instructions: str | None = None
    verify: str | None = None
    verify_timeout: int | None = None
    timeout: int | None = None
    rollback: str | None = None
    owner: str | None = None
    estimate: int | None = None
    requires: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    @property
    def manual(self) -> bool:
        """A manual step has no command: a person follows the instructions."""
        return self.run is None


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """What the plan is, who owns it, and when to stop."""

    name: str
    title: str
    description: str | None = None
    owner: str | None = None
    rto: int | None = None
    rpo: int | None = None
    prerequisites: tuple[str, ...] = ()
    abort: str | None = None
    contacts: tuple[Contact, ...] = ()


@dataclass(frozen=True, slots=True)
class Definition:
    """A whole validated definition file."""

    source: str
    info: PlanInfo
    sites: tuple[Site, ...]
    resources: tuple[Resource, ...]


def one_line(text: str) -> str:
    """Titles and names on one line: YAML folded scalars and stray newlines become spaces."""
    return " ".join(text.split())


def build_definition(doc: Document) -> Definition:
    """The model of a document that passed the schema and the semantic checks."""
    data = doc.data
    plan: dict[str, Any] = data["plan"]
    info = PlanInfo(
        name=plan["name"],
        title=one_line(plan["title"]),
        description=plan.get("description"),
        owner=_line(plan.get("owner")),
        rto=_seconds(plan.get("rto")),
        rpo=_seconds(plan.get("rpo")),
        prerequisites=tuple(one_line(p) for p in plan.get("prerequisites", ())),
        abort=plan.get("abort"),
        contacts=tuple(
            Contact(
                role=one_line(c["role"]),
                name=_line(c.get("name")),
                phone=_line(c.get("phone")),
                email=_line(c.get("email")),
            )
            for c in plan.get("contacts", ())
        ),
    )
    sites = tuple(
        Site(
            name=name,
            role=site["role"],
            title=_line(site.get("title")),
            hosts=tuple(
                Host(name=host_name, site=name, address=h["address"], user=h.get("user"), port=h.get("port"))
                for host_name, h in (site.get("hosts") or {}).items()
            ),
        )
        for name, site in data["sites"].items()
    )
    lines = doc.resource_lines
    resources = tuple(
        Resource(
            id=r["id"],
            title=one_line(r["title"]),
            site=r["site"],
            line=lines[i] if i < len(lines) else 0,
            host=r.get("host"),
            description=r.get("description"),
            run=r.get("run"),
            instructions=r.get("instructions"),
            verify=r.get("verify"),
            verify_timeout=_seconds(r.get("verify_timeout")),
            timeout=_seconds(r.get("timeout")),
            rollback=r.get("rollback"),
            owner=_line(r.get("owner")),
            estimate=_seconds(r.get("estimate")),
            requires=tuple(r.get("requires", ())),
            after=tuple(r.get("after", ())),
        )
        for i, r in enumerate(data["resources"])
    )
    return Definition(source=os.path.basename(doc.file), info=info, sites=sites, resources=resources)


def _line(text: str | None) -> str | None:
    return one_line(text) if text is not None else None


def _seconds(text: str | None) -> int | None:
    return parse_duration(text) if text is not None else None
