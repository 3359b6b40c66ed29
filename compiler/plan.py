"""The plan: the definition's resources as numbered steps in a stable order, in waves.

The plan is the one value every renderer reads. Its order is the stable topological
order: repeatedly take the earliest-declared resource whose `requires` and `after` are
all placed. A step's wave is 1 + the highest wave of what it waits for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from compiler import __version__
from compiler.graph import stable_order
from compiler.model import Definition, Host, PlanInfo, Resource, Site

#: Bump when the fingerprint's canonical form changes (a new field that changes what is done).
FINGERPRINT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Step:
    """A resource at its place in the plan."""

    number: int
    wave: int
    resource: Resource
    site: Site
    host: Host | None
    requires: tuple[int, ...]
    after: tuple[int, ...]
    #: Numbers of every step this one waits for (requires and after), ascending.
    waits_for: tuple[int, ...]

    @property
    def id(self) -> str:
        return self.resource.id


@dataclass(frozen=True, slots=True)
class Plan:
    """A complete, immutable plan: numbered steps, waves, critical path, fingerprint."""

    source: str
    info: PlanInfo
    sites: tuple[Site, ...]
    steps: tuple[Step, ...]
    fingerprint: str
    critical_path: tuple[int, ...]
    critical_path_seconds: int
    compiler_version: str = __version__

    @property
    def waves(self) -> tuple[tuple[Step, ...], ...]:
        """Steps grouped by wave, each group in plan order."""
        groups: dict[int, list[Step]] = {}
        for step in self.steps:
            groups.setdefault(step.wave, []).append(step)
        return tuple(tuple(groups[w]) for w in sorted(groups))

    def step(self, key: str | int) -> Step:
        """A step by number or id."""
        if isinstance(key, int):
            return self.steps[key - 1]
        return next(s for s in self.steps if s.id == key)


def make_plan(definition: Definition) -> Plan:
    """Order, number and fingerprint a validated (cycle-free) definition."""
    resources = definition.resources
    index = {r.id: i for i, r in enumerate(resources)}
    deps = [sorted({index[d] for d in (*r.requires, *r.after)}) for r in resources]
    order = stable_order(deps)
    number = [0] * len(resources)  # by node: the step number
    for n, node in enumerate(order, start=1):
        number[node] = n

    sites = {s.name: s for s in definition.sites}
    hosts = {(h.site, h.name): h for s in definition.sites for h in s.hosts}
    waves = [0] * len(resources)  # by node
    steps = []
    for node in order:
        resource = resources[node]
        waits_for = deps[node]
        wave = 1 + max([waves[d] for d in waits_for]) if waits_for else 1
        waves[node] = wave
        steps.append(Step(
            number=number[node],
            wave=wave,
            resource=resource,
            site=sites[resource.site],
            host=hosts[(resource.site, resource.host)] if resource.host else None,
            requires=tuple(sorted([number[index[d]] for d in resource.requires])),
            after=tuple(sorted([number[index[d]] for d in resource.after])),
            waits_for=tuple(sorted([number[d] for d in waits_for])),
        ))
    path, seconds = _critical_path(steps)
    return Plan(
        source=definition.source,
        info=definition.info,
        sites=definition.sites,
        steps=tuple(steps),
        fingerprint=fingerprint(definition.info.name, steps),
        critical_path=path,
        critical_path_seconds=seconds,
    )


def _critical_path(steps: list[Step]) -> tuple[tuple[int, ...], int]:
    """The longest chain of estimates along dependencies (steps without one count 0).

    Of chains that end equally late, the one through the lowest step numbers.
    """
    if not steps:
        return (), 0
    finish = [0] * (len(steps) + 1)  # by step number (numbers are 1..N)
    previous = [0] * (len(steps) + 1)  # the step before on the longest chain; 0 for none
    for step in steps:  # plan order: everything waited for is already computed
        waits = step.waits_for
        start = 0
        if waits:
            start = max([finish[n] for n in waits])
            previous[step.number] = next(n for n in waits if finish[n] == start)  # ascending: the lowest
        finish[step.number] = start + (step.resource.estimate or 0)
    total = max(finish)
    end = finish.index(total, 1)
    chain = []
    while end:
        chain.append(end)
        end = previous[end]
    return tuple(reversed(chain)), total


def canonical(name: str, steps: list[Step] | tuple[Step, ...]) -> dict[str, Any]:
    """What the fingerprint covers: everything that changes what is done, and nothing else.

    Covered: the plan name; the steps in order with their ids, sites, hosts (name,
    address, user, port), commands (run, verify), time limits (timeout, verify_timeout),
    manual instructions, and what each step requires and comes after (as sets: listing
    the same dependencies in another order changes nothing that is done). Not covered:
    titles, descriptions, rollback texts, owners, estimates, contacts and other prose,
    so that fixing a typo in a title neither changes the fingerprint nor voids a journal.
    """
    return {
        "format": FINGERPRINT_FORMAT,
        "plan": name,
        "steps": [
            {
                "id": s.id,
                "site": s.site.name,
                "host": None if s.host is None else {
                    "name": s.host.name,
                    "address": s.host.address,
                    "user": s.host.user,
                    "port": s.host.port,
                },
                "run": s.resource.run,
                "verify": s.resource.verify,
                "verify_timeout": s.resource.verify_timeout,
                "timeout": s.resource.timeout,
                "instructions": s.resource.instructions if s.resource.manual else None,
                "requires": sorted(s.resource.requires),
                "after": sorted(s.resource.after),
            }
            for s in steps
        ],
    }


def fingerprint(name: str, steps: list[Step] | tuple[Step, ...]) -> str:
    """sha256 of the canonical JSON of the plan (see `canonical`).

    The same bytes as the JSON of `canonical` in one piece, hashed a thousand steps at a
    time, without holding a dict per step (a hundred megabytes for 100,000 steps); each
    step's JSON is written by `_step_json`, in half the time json.dumps takes for its dict.
    """
    # The JSON around the steps; a quoted key cannot occur inside a JSON string.
    head, tail = _json({**canonical(name, ()), "steps": [0]}).split('"steps":[0]')
    digest = hashlib.sha256(f'{head}"steps":['.encode("utf-8"))
    for start in range(0, len(steps), _FINGERPRINT_BATCH):
        batch = ",".join([_step_json(s) for s in steps[start:start + _FINGERPRINT_BATCH]])
        digest.update(("," + batch if start else batch).encode("utf-8"))
    digest.update(f"]{tail}".encode("utf-8"))
    return digest.hexdigest()


_FINGERPRINT_BATCH = 1000


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: A text as JSON, exactly as json.dumps(ensure_ascii=False) writes it (the same function).
_text = json.encoder.encode_basestring


def _step_json(step: Step) -> str:
    """`_json` of the step's entry in `canonical`: its keys in sorted order, no spaces.

    tests/test_plan.py checks that both agree, on plans with every kind of value.
    """
    r = step.resource
    host = step.host
    return (
        f'{{"after":{_texts(r.after)},"host":{"null" if host is None else _host_json(host)},"id":{_text(r.id)},'
        f'"instructions":{_maybe_text(r.instructions if r.run is None else None)},"requires":{_texts(r.requires)},'
        f'"run":{_maybe_text(r.run)},"site":{_text(step.site.name)},"timeout":{_number(r.timeout)},'
        f'"verify":{_maybe_text(r.verify)},"verify_timeout":{_number(r.verify_timeout)}}}'
    )


def _host_json(host: Host) -> str:
    return (
        f'{{"address":{_text(host.address)},"name":{_text(host.name)},'
        f'"port":{_number(host.port)},"user":{_maybe_text(host.user)}}}'
    )


def _texts(texts: tuple[str, ...]) -> str:
    return "[" + ",".join([_text(t) for t in sorted(texts)]) + "]"


def _maybe_text(text: str | None) -> str:
    return "null" if text is None else _text(text)


def _number(number: int | None) -> str:
    return "null" if number is None else str(number)
