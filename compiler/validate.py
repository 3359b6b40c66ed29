"""Semantic checks the schema cannot express: unique ids, references, cycles.

They run on the raw data even when the schema found problems (so that a person sees every
error at once), and therefore never assume a value has the right shape.
"""

from __future__ import annotations

from typing import Any

from compiler.errors import Diagnostic
from compiler.graph import CycleError, find_cycles, stable_order
from compiler.load import DECIMAL_INTEGER, Document
from compiler.suggest import Suggestions, did_you_mean, listed, printable, shown

_DEPENDENCY_KEYS = ("requires", "after")


def check_semantics(doc: Document) -> list[Diagnostic]:
    """Every semantic problem of `doc`, located."""
    data = doc.data if isinstance(doc.data, dict) else {}
    # Without a (non-empty) mapping of sites the schema has already said so; checking every
    # resource's site against nothing would only repeat it once per resource.
    sites = data.get("sites") if isinstance(data.get("sites"), dict) and data.get("sites") else None
    raw_resources: list[Any] = data["resources"] if isinstance(data.get("resources"), list) else []
    resources = [(i, r) for i, r in enumerate(raw_resources) if isinstance(r, dict)]

    problems: list[Diagnostic] = []
    ids: dict[str, int] = {}
    for i, resource in resources:
        rid = resource.get("id")
        if not isinstance(rid, str):
            continue
        if rid in ids:
            first = doc.locate(("resources", ids[rid], "id"))
            problems.append(Diagnostic(
                doc.locate(("resources", i, "id")),
                f"duplicate resource id {shown(rid)} (first used on line {first.line}); "
                "ids must be unique: rename one",
            ))
        else:
            ids[rid] = i

    if sites is not None:
        problems.extend(_check_ports(doc, sites))
    known_sites = Suggestions(sites or ())
    known_ids = Suggestions(ids)
    for i, resource in resources:
        if sites is not None:
            problems.extend(_check_placement(doc, i, resource, sites, known_sites))
        problems.extend(_check_references(doc, i, resource, ids, known_ids))
    problems.extend(_check_cycles(doc, resources, ids))
    return problems


def _check_placement(
    doc: Document, i: int, resource: dict[str, Any], sites: dict[str, Any], suggest: Suggestions
) -> list[Diagnostic]:
    site = resource.get("site")
    host = resource.get("host")
    if not isinstance(site, str):
        return []
    if site in sites and (not isinstance(host, str) or host in _hosts(sites[site])):
        return []  # the usual case, decided before any message is worded
    owner = _owner(resource, i)
    if site not in sites:
        return [Diagnostic(
            doc.locate(("resources", i, "site")),
            f"{owner}: unknown site {shown(site)}{suggest(site)} (sites: {listed(sites)})",
        )]
    if not isinstance(host, str):
        return []
    site_hosts = _hosts(sites.get(site))
    if host in site_hosts:
        return []
    elsewhere = [name for name, other in sites.items() if host in _hosts(other)]
    where = doc.locate(("resources", i, "host"))
    if elsewhere:
        return [Diagnostic(
            where,
            f"{owner}: host {shown(host)} belongs to site {shown(elsewhere[0])}, not to site "
            f"{shown(site)}; change 'site' to {shown(elsewhere[0])} or pick a host of {shown(site)}",
        )]
    if not site_hosts:
        return [Diagnostic(
            where,
            f"{owner}: site {shown(site)} has no hosts; declare {shown(host)} under "
            f"sites.{printable(site)}.hosts, or leave 'host' out to run the step where the script runs",
        )]
    return [Diagnostic(
        where,
        f"{owner}: unknown host {shown(host)} in site {shown(site)}"
        f"{did_you_mean(host, site_hosts)} (hosts of {shown(site)}: {listed(site_hosts)})",
    )]


# Plain decimal, in range or not (the schema judges the number); anything else is YAML 1.1.
_DECIMAL = DECIMAL_INTEGER


def _check_ports(doc: Document, sites: dict[str, Any]) -> list[Diagnostic]:
    """A port is written in plain decimal digits: YAML 1.1 reads `022` as 18 and `22:00` as 1320."""
    if doc.decimal_integers:
        return []  # the loader saw every integer as written: no raw text to read again
    problems = []
    for site_name, site in sites.items():
        for host_name, host in _hosts(site).items():
            port = host.get("port") if isinstance(host, dict) else None
            if not isinstance(port, int) or isinstance(port, bool):
                continue  # the schema has said what is wrong
            path = ("sites", site_name, "hosts", host_name, "port")
            raw = doc.raw_text(path) or ""
            if not _DECIMAL.fullmatch(raw):
                problems.append(Diagnostic(
                    doc.locate(path),
                    f"host {shown(host_name)}: 'port' is `{printable(raw)}`, which YAML reads as "
                    f"the number {port}; write the port in plain decimal digits, for example 22",
                ))
    return problems


def _check_references(
    doc: Document, i: int, resource: dict[str, Any], ids: dict[str, int], suggest: Suggestions
) -> list[Diagnostic]:
    problems = []
    for key in _DEPENDENCY_KEYS:
        targets = resource.get(key)
        if not isinstance(targets, list):
            continue
        for j, target in enumerate(targets):
            if isinstance(target, str) and target not in ids:
                problems.append(Diagnostic(
                    doc.locate(("resources", i, key, j)),
                    f"{_owner(resource, i)}: '{key}' names unknown resource {shown(target)}{suggest(target)}",
                ))
    return problems


def _check_cycles(doc: Document, resources: list[tuple[int, dict[str, Any]]], ids: dict[str, int]) -> list[Diagnostic]:
    """Report one cycle per tangle, as `a -> b -> a`, with the place of every edge."""
    indices = list(ids.values())
    position = {index: n for n, index in enumerate(indices)}
    by_index = dict(resources)
    if _acyclic(indices, position, by_index, ids):
        return []  # the usual case: no edge needs a place in a message
    names = list(ids)
    deps: list[list[int]] = [[] for _ in names]
    edge_key: dict[tuple[int, int], tuple[str, int]] = {}
    for index in indices:
        resource = by_index[index]
        node = position[index]
        for key in _DEPENDENCY_KEYS:
            targets = resource.get(key)
            if not isinstance(targets, list):
                continue
            for j, target in enumerate(targets):
                if isinstance(target, str) and target in ids:
                    other = position[ids[target]]
                    if (node, other) not in edge_key:  # the first mention locates the edge
                        deps[node].append(other)
                        edge_key[(node, other)] = (key, j)
    problems = []
    for cycle in find_cycles(deps):
        notes = []
        for a, b in zip(cycle, cycle[1:]):
            key, j = edge_key[(a, b)]
            verb = "requires" if key == "requires" else "comes after"
            notes.append(Diagnostic(
                doc.locate(("resources", indices[a], key, j)),
                f"{shown(names[a])} {verb} {shown(names[b])}",
            ))
        if len(cycle) == 2:
            key = edge_key[(cycle[0], cycle[0])][0]
            advice = f"a step cannot wait for itself: remove {shown(names[cycle[0]])} from its own '{key}'"
        else:
            advice = "remove one of these dependencies to break the cycle"
        chain = " -> ".join(printable(names[n]) for n in cycle)
        problems.append(Diagnostic(
            notes[0].location,
            f"dependency cycle: {chain}; {advice}",
            notes=tuple(notes),
        ))
    return problems


def _acyclic(
    indices: list[int], position: dict[int, int], by_index: dict[int, dict[str, Any]], ids: dict[str, int]
) -> bool:
    """Whether the known dependencies form no cycle (a quick order, without the bookkeeping)."""
    deps: list[list[int]] = [[] for _ in indices]
    for node, index in enumerate(indices):
        resource = by_index[index]
        for key in _DEPENDENCY_KEYS:
            targets = resource.get(key)
            if isinstance(targets, list):
                deps[node].extend(position[ids[t]] for t in targets if isinstance(t, str) and t in ids)
    try:
        stable_order(deps)
    except CycleError:
        return False
    return True


def _hosts(site: Any) -> dict[str, Any]:
    hosts = site.get("hosts") if isinstance(site, dict) else None
    return hosts if isinstance(hosts, dict) else {}


def _owner(resource: dict[str, Any], i: int) -> str:
    rid = resource.get("id")
    return f"resource {shown(rid)}" if isinstance(rid, str) else f"resource #{i + 1}"
